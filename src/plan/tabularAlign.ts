/**
 * Record alignment for tabular byte ranges, over any `(start, end) => bytes` reader.
 *
 * A mini-batch [start, end) owns exactly the records whose first byte lies in [start, end). With B(x) =
 * the first record start at or after x (the file size when there is none), it reads the bytes
 * [B(start), B(end)). Consecutive ranges [a, b), [b, c) therefore read [B(a), B(b)), [B(b), B(c)): every
 * record exactly once, in order, whatever the cut. For CSV, record 0 starts after the header line.
 *
 * Record starts are the byte after a newline (JSON Lines), or after a newline outside quotes (CSV).
 * '\n' and '"' never occur inside a multi-byte UTF-8 sequence, so scanning bytes is safe.
 *
 * CSV quote state at a cut cannot be known from the range alone. Counting quotes from the file start is
 * exact but costs O(start) bytes per mini-batch (quadratic over a file). Instead two speculative scans
 * start at the cut, one assuming "outside quotes", one "inside"; each dies on something RFC 4180 forbids
 * (a quote opening mid-field, a closing quote followed by anything but `,` `"` CR LF or the end, a file
 * ending inside quotes) or on staying inside one quoted field for more than `maxQuotedFieldBytes`.
 * The true scan never dies on valid input within that bound, so when exactly one survives it is the
 * truth, usually within a few bytes of the cut (at the first quote character) and at most
 * `maxQuotedFieldBytes` past it for quote-free data. When both survive `speculationBytes`, or both die
 * (invalid CSV, or a longer quoted field), quotes are counted from the file start: exact, and the cost
 * only for those rare cuts. Exactness assumption: no quoted field spanning a cut is longer than
 * `maxQuotedFieldBytes` (128 KiB by default, Python's csv field limit); set it to Infinity to drop the
 * assumption and count from the start whenever speculation cannot decide.
 */

export type ByteRangeReader = (start: number, end: number) => Promise<Buffer>;
export type TabularFormat = 'csv' | 'jsonl';

export interface AlignOptions {
  /** Bytes per read request. */
  chunkBytes?: number;
  /** A quoted CSV field longer than this, crossing a cut, falls back to counting (see above). */
  maxQuotedFieldBytes?: number;
  /** How far both speculative scans may run before quotes are counted from the file start. */
  speculationBytes?: number;
}

export interface AlignedRecords {
  /** CSV header line bytes (without its line ending); undefined for JSON Lines. */
  header: Buffer | undefined;
  /** [dataStart, dataEnd): the bytes of exactly the records this range owns. */
  dataStart: number;
  dataEnd: number;
  data: Buffer;
}

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

const FIRST_CHUNK_BYTES = 8 * 1024;
const DEFAULTS = {
  chunkBytes: 256 * 1024,
  maxQuotedFieldBytes: 128 * 1024,
  speculationBytes: 4 * 1024 * 1024,
};

/** Reads a file forward in chunks from a position, keeping only the current chunk. */
class ForwardReader {
  constructor(
    private readonly read: ByteRangeReader,
    private readonly fileSize: number,
    private readonly chunkBytes: number,
  ) {}

  /** Chunks start small and double: a header line or a boundary is usually found in the first few KiB. */
  async *chunks(from: number): AsyncIterable<{ offset: number; bytes: Buffer }> {
    let size = Math.min(this.chunkBytes, FIRST_CHUNK_BYTES);
    for (let offset = from; offset < this.fileSize; size = Math.min(this.chunkBytes, size * 2)) {
      const end = Math.min(this.fileSize, offset + size);
      const bytes = await this.read(offset, end);
      if (bytes.length === 0) return;
      yield { offset, bytes };
      offset += bytes.length;
    }
  }
}

/** One speculative CSV scan from a cut, tracking quote parity and validating each quote. */
class QuoteScan {
  dead = false;
  /** First record start found (the byte after an unquoted LF), or -1. */
  boundary = -1;
  private pendingClose = false;
  private insideBytes = 0;

  constructor(
    private inside: boolean,
    private prev: number,
    private readonly validate: boolean,
    private readonly maxQuotedFieldBytes: number,
  ) {}

  /** Feeds one byte at absolute position `pos`. */
  step(byte: number, pos: number): void {
    if (this.pendingClose) {
      this.pendingClose = false;
      if (this.validate && byte !== QUOTE && byte !== COMMA && byte !== CR && byte !== NL) this.dead = true;
    }
    if (this.inside) {
      if (byte === QUOTE) {
        this.inside = false;
        this.pendingClose = true;
      } else if (this.validate && ++this.insideBytes > this.maxQuotedFieldBytes) {
        this.dead = true;
      }
    } else if (byte === QUOTE) {
      const atFieldStart = pos === 0 || this.prev === COMMA || this.prev === NL || this.prev === QUOTE;
      if (this.validate && !atFieldStart) this.dead = true;
      this.inside = true;
      this.insideBytes = 0;
    } else if (byte === NL && this.boundary < 0) {
      this.boundary = pos + 1;
    }
    this.prev = byte;
  }

  /** The file ended: ending inside quotes is invalid CSV. */
  finish(): void {
    if (this.validate && this.inside) this.dead = true;
  }

  /** Stops validating: used once this scan is known to be the true one. */
  trusted(): QuoteScan {
    const scan = new QuoteScan(this.inside, this.prev, false, Infinity);
    scan.pendingClose = false;
    scan.boundary = this.boundary;
    return scan;
  }
}

export class TabularAligner {
  private readonly options: Required<AlignOptions>;
  private readonly reader: ForwardReader;
  private headerEnd: number | undefined;

  constructor(
    private readonly read: ByteRangeReader,
    private readonly fileSize: number,
    private readonly format: TabularFormat,
    options?: AlignOptions,
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.reader = new ForwardReader(read, fileSize, this.options.chunkBytes);
  }

  /** The records of [start, end): their bytes, plus the CSV header line. */
  async records(start: number, end: number): Promise<AlignedRecords> {
    const header = this.format === 'csv' ? await this.header() : undefined;
    const dataStart = await this.recordStartAtOrAfter(start);
    if (dataStart >= this.fileSize || end <= dataStart) {
      return { header, dataStart, dataEnd: dataStart, data: Buffer.alloc(0) };
    }
    // Read forward from a known record start (outside quotes) to the first record start >= end.
    const parts: Buffer[] = [];
    let inside = false;
    let dataEnd = this.fileSize;
    scan: for await (const { offset, bytes } of this.reader.chunks(dataStart)) {
      for (let i = 0; i < bytes.length; i += 1) {
        const byte = bytes[i]!;
        if (this.format === 'csv' && byte === QUOTE) inside = !inside;
        else if (byte === NL && !inside && offset + i + 1 >= end) {
          dataEnd = offset + i + 1;
          parts.push(bytes.subarray(0, i + 1));
          break scan;
        }
      }
      parts.push(bytes);
    }
    return { header, dataStart, dataEnd, data: Buffer.concat(parts) };
  }

  /** CSV: the header line's bytes without the line ending; sets `headerEnd` (where record 0 starts). */
  private async header(): Promise<Buffer> {
    const parts: Buffer[] = [];
    let inside = false;
    let end = this.fileSize;
    scan: for await (const { offset, bytes } of this.reader.chunks(0)) {
      for (let i = 0; i < bytes.length; i += 1) {
        const byte = bytes[i]!;
        if (byte === QUOTE) inside = !inside;
        else if (byte === NL && !inside) {
          end = offset + i + 1;
          parts.push(bytes.subarray(0, i + 1));
          break scan;
        }
      }
      parts.push(bytes);
    }
    this.headerEnd = end;
    let line = Buffer.concat(parts);
    if (line.length > 0 && line[line.length - 1] === NL) line = line.subarray(0, line.length - 1);
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    return line;
  }

  /** B(x): the first record start at or after x, or the file size. */
  async recordStartAtOrAfter(x: number): Promise<number> {
    if (this.format === 'csv') {
      const headerEnd = this.headerEnd ?? (await this.header(), this.headerEnd!);
      if (x <= headerEnd) return headerEnd;
    } else if (x <= 0) {
      return 0;
    }
    if (x >= this.fileSize) return this.fileSize;
    // A record starts at s when byte s-1 ends a line, so the scan starts at x-1.
    return this.format === 'csv' ? this.csvBoundaryFrom(x - 1) : this.lineBoundaryFrom(x - 1);
  }

  private async lineBoundaryFrom(from: number): Promise<number> {
    for await (const { offset, bytes } of this.reader.chunks(from)) {
      const at = bytes.indexOf(NL);
      if (at >= 0) return offset + at + 1;
    }
    return this.fileSize;
  }

  private async csvBoundaryFrom(from: number): Promise<number> {
    const prev = from > 0 ? ((await this.read(from - 1, from))[0] ?? NL) : NL;
    const { maxQuotedFieldBytes, speculationBytes } = this.options;
    let outside = new QuoteScan(false, prev, true, maxQuotedFieldBytes);
    let insideScan = new QuoteScan(true, prev, true, maxQuotedFieldBytes);
    let truth: QuoteScan | undefined;
    let pos = from;

    for await (const { offset, bytes } of this.reader.chunks(from)) {
      for (let i = 0; i < bytes.length; i += 1) {
        pos = offset + i;
        const byte = bytes[i]!;
        if (truth) {
          truth.step(byte, pos);
          if (truth.boundary >= 0) return truth.boundary;
          continue;
        }
        outside.step(byte, pos);
        insideScan.step(byte, pos);
        truth = this.decide(outside, insideScan);
        if (truth) {
          if (truth.boundary >= 0) return truth.boundary;
          truth = truth.trusted();
        } else if (pos - from >= speculationBytes || (outside.dead && insideScan.dead)) {
          truth = (await this.insideQuotesAt(from)) ? insideScan.trusted() : outside.trusted();
          if (truth.boundary >= 0) return truth.boundary;
        }
      }
    }
    if (!truth) {
      outside.finish();
      insideScan.finish();
      truth = this.decide(outside, insideScan);
      if (!truth) {
        outside = outside.trusted();
        insideScan = insideScan.trusted();
        truth = (await this.insideQuotesAt(from)) ? insideScan : outside;
      }
    }
    return truth.boundary >= 0 ? truth.boundary : this.fileSize;
  }

  private decide(outside: QuoteScan, inside: QuoteScan): QuoteScan | undefined {
    if (outside.dead && !inside.dead) return inside;
    if (inside.dead && !outside.dead) return outside;
    return undefined;
  }

  /** Exact quote state at `x`: the parity of quote characters in [0, x). Costs O(x) bytes read. */
  private async insideQuotesAt(x: number): Promise<boolean> {
    let quotes = 0;
    for await (const { offset, bytes } of this.reader.chunks(0)) {
      const stop = Math.min(bytes.length, x - offset);
      for (let i = 0; i < stop; i += 1) if (bytes[i] === QUOTE) quotes += 1;
      if (offset + bytes.length >= x) break;
    }
    return quotes % 2 === 1;
  }
}
