/**
 * Record alignment for tabular byte ranges, over any `(start, end) => bytes` reader.
 *
 * A mini-batch [start, end) owns exactly the records whose first byte lies in [start, end). With B(x) =
 * the first record start at or after x (the file size when there is none), it reads the bytes
 * [B(start), B(end)). Consecutive ranges [a, b), [b, c) therefore read [B(a), B(b)), [B(b), B(c)): every
 * record exactly once, in order, whatever the cut. For CSV, record 0 starts after the header line.
 *
 * Record starts are the byte after a newline (JSON Lines), or after a newline outside a quoted field
 * (CSV, by the scanner states below: on valid CSV, outside quotes by parity). '\n' and '"' never occur
 * inside a multi-byte UTF-8 sequence, so scanning bytes is safe.
 *
 * CSV quote state at a cut cannot be known from the range alone. Scanning from the file start is exact
 * but costs O(start) bytes per mini-batch (quadratic over a file). Instead speculative scans start at
 * the cut, one per state possible there (outside or inside a quoted field); each dies on something
 * RFC 4180 forbids (a quote opening mid-field, a closing quote followed by anything but `,` `"` CR LF
 * or the end, a file ending inside quotes) or on staying inside one quoted field for more than
 * `maxQuotedFieldBytes`. The true scan never dies on valid input within that bound, so when the survivors agree they are the
 * truth (and when all scans reach the same state with the same boundaries, whichever is true does not
 * matter), usually within a few bytes of the cut (at the first quote character) and at most
 * `maxQuotedFieldBytes` past it for quote-free data. When they disagree for `speculationBytes`, or all
 * die (invalid CSV, or a longer quoted field), the state is scanned from the file start: exact, and the
 * cost only for those rare cuts. Exactness assumption: no quoted field spanning a cut is longer than
 * `maxQuotedFieldBytes` (128 KiB by default, Python's csv field limit); set it to Infinity to drop the
 * assumption and count from the start whenever speculation cannot decide.
 *
 * Reads are bounded. Finding B(start) stops at `end` (no record start before `end` means the range owns
 * nothing, wherever B(start) really is), and a record longer than `maxRecordBytes` is kept only as a
 * prefix, and not followed past `end` (no record of this range can start after it). So a JSON Lines
 * range reads about twice its own bytes plus `maxRecordBytes` plus a chunk, whatever the data (a line of
 * 50 MB); a CSV range adds at most the speculation window (or, for the rare undecided cut, the count from
 * the file start above), also when an unclosed quote would make the rest of the file one quoted field.
 * Such a record is reported as oversized; the parser turns it into a bad record.
 *
 * Invalid CSV: a quote inside an unquoted field, or data after a closing quote, is a literal for the
 * scanner, so such a record still ends at its line end and is one bad record (a ragged row too). An
 * unclosed quote at the start of a field opens a quoted field up to the next quote, as in any CSV
 * reader. Near a cut, a quote ending an unquoted field (`ab",`) or doubled in one (`a""b`) reads like
 * the end or an escaped quote of a valid quoted field, and the scans prefer the valid reading: exactness
 * is promised for valid quoting, ragged rows and misplaced quotes followed by more of their field (see
 * test/unit/plan/badRecords.property.test.ts).
 */

/** The CSV header line is longer than the record cap (a stray quote in it, or not a CSV file). */
export class HeaderTooLargeError extends Error {
  constructor(readonly maxRecordBytes: number) {
    super(`the header line is longer than ${maxRecordBytes.toLocaleString('en-US')} bytes`);
  }
}

export type ByteRangeReader = (start: number, end: number) => Promise<Buffer>;
export type TabularFormat = 'csv' | 'jsonl';

export interface AlignOptions {
  /** Bytes per read request. */
  chunkBytes?: number;
  /** A quoted CSV field longer than this, crossing a cut, falls back to counting (see above). */
  maxQuotedFieldBytes?: number;
  /** How far both speculative scans may run before quotes are counted from the file start. */
  speculationBytes?: number;
  /** A record longer than this (line ending included) is not read whole: it comes back oversized. */
  maxRecordBytes?: number;
}

/** One record of a range, as bytes, before parsing. */
export interface RawRecord {
  /** Byte offset of the record's first byte in the file. */
  offset: number;
  /** Line breaks between the range's first record and this one (add the file's lines before it). */
  linesBefore: number;
  /** The record's bytes with its line ending; for an oversized record, only its first bytes. */
  bytes: Buffer;
  /** Set when the record is longer than maxRecordBytes: the bytes seen (its size, or a lower bound). */
  oversized?: number;
}

export interface AlignedRecords {
  /** CSV header line bytes (without its line ending); undefined for JSON Lines. */
  header: Buffer | undefined;
  /** Offset of the range's first record (when it has one). */
  dataStart: number;
  /** The records whose first byte lies in [start, end), in file order (but the plain ones taken as runs). */
  records: RawRecord[];
  /** With `plainColumns`: the plain CSV records, as runs of consecutive bytes, in file order. */
  plainRuns: PlainRun[];
}

/**
 * Consecutive plain CSV records (see takePlainCsvRecords): their bytes (line endings included), how many,
 * and how many of `AlignedRecords.records` come before them.
 */
export interface PlainRun {
  bytes: Buffer;
  records: number;
  before: number;
}

/** Bytes kept of an oversized record: enough to show the user which one it is. */
export const OVERSIZED_PREFIX_BYTES = 1024;
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const FIRST_CHUNK_BYTES = 8 * 1024;
const DEFAULTS = {
  chunkBytes: 256 * 1024,
  maxQuotedFieldBytes: 128 * 1024,
  speculationBytes: 4 * 1024 * 1024,
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
};

/** The first `n` bytes of the concatenation of `parts`, copying no more than that. */
function prefixOf(parts: Buffer[], n: number): Buffer {
  const taken: Buffer[] = [];
  let left = n;
  for (const part of parts) {
    if (left <= 0) break;
    taken.push(part.subarray(0, left));
    left -= Math.min(left, part.length);
  }
  return Buffer.concat(taken);
}

/** Reads a file forward in chunks from a position, keeping only the current chunk. */
class ForwardReader {
  constructor(
    private readonly read: ByteRangeReader,
    private readonly fileSize: number,
    private readonly chunkBytes: number,
  ) {}

  /** Chunks start small and double: a header line or a boundary is usually found in the first few KiB. */
  async *chunks(from: number, until = this.fileSize): AsyncIterable<{ offset: number; bytes: Buffer }> {
    const stop = Math.min(until, this.fileSize);
    let size = Math.min(this.chunkBytes, FIRST_CHUNK_BYTES);
    for (let offset = from; offset < stop; size = Math.min(this.chunkBytes, size * 2)) {
      const end = Math.min(stop, offset + size);
      const bytes = await this.read(offset, end);
      if (bytes.length === 0) return;
      yield { offset, bytes };
      offset += bytes.length;
    }
  }
}

/**
 * CSV scanner states: where the next byte falls. RFC 4180 with recovery, so that a bad record ends where
 * a reader of the line would expect: a quote inside an unquoted field is a literal (the record is bad,
 * but it still ends at its line end), and so is anything after a closing quote but a comma or line end.
 * On valid CSV this is exactly quote parity.
 */
const START = 0; // at the start of a field
const UNQUOTED = 1; // inside an unquoted field
const QUOTED = 2; // inside a quoted field: commas and newlines are data
const CLOSING = 3; // just after a quote in a quoted field: `"` escapes it, anything else closes the field
type CsvState = typeof START | typeof UNQUOTED | typeof QUOTED | typeof CLOSING;

/** The state after `byte`. A newline in any state but QUOTED ends the record (and gives START). */
function csvStep(state: CsvState, byte: number): CsvState {
  if (state === QUOTED) return byte === QUOTE ? CLOSING : QUOTED;
  if (byte === COMMA || byte === NL) return START;
  if (byte === QUOTE) return state === UNQUOTED ? UNQUOTED : QUOTED;
  return UNQUOTED;
}

/**
 * Scans `bytes` from `from` in `state` to the end of the record: the index of its terminating LF (or -1
 * when the record goes on past the chunk), the state there, and the line breaks passed (those inside
 * quoted fields included). The same as stepping csvStep over every byte, at the speed of indexOf: between
 * quotes only the next newline or quote matters, because outside quotes every other byte leads to START
 * (a comma) or UNQUOTED (anything else), whatever the state before it.
 */
function csvRecordEnd(
  bytes: Buffer,
  from: number,
  state: CsvState,
): { stop: number; state: CsvState; lines: number } {
  let lines = 0;
  let at = from;
  while (at < bytes.length) {
    if (state === QUOTED) {
      const quote = bytes.indexOf(QUOTE, at);
      const until = quote < 0 ? bytes.length : quote;
      for (let nl = bytes.indexOf(NL, at); nl >= 0 && nl < until; nl = bytes.indexOf(NL, nl + 1)) lines += 1;
      if (quote < 0) return { stop: -1, state, lines };
      state = CLOSING;
      at = quote + 1;
      continue;
    }
    const nl = bytes.indexOf(NL, at);
    const quote = bytes.indexOf(QUOTE, at);
    if (quote < 0 || (nl >= 0 && nl < quote)) {
      if (nl >= 0) return { stop: nl, state: START, lines: lines + 1 };
      // The record goes on past the chunk: the state after its last byte.
      if (bytes.length > at) state = bytes[bytes.length - 1] === COMMA ? START : UNQUOTED;
      return { stop: -1, state, lines };
    }
    // The bytes before the quote hold no quote and no newline: only the last of them decides the state.
    if (quote > at) state = bytes[quote - 1] === COMMA ? START : UNQUOTED;
    state = csvStep(state, QUOTE);
    at = quote + 1;
  }
  return { stop: -1, state, lines };
}

/**
 * From the record start `from`, the plain CSV records of `bytes` one after another, checked in one pass
 * over their bytes: `columns` fields, each unquoted without a quote, or quoted with `""` for a quote inside
 * and followed by a comma or the line end. Stops before a record that is not plain (a blank line, a stray
 * quote, another field count: parseCsvFields decides those), one that runs past the chunk or past
 * `maxBytes`, and one that starts at or after `stopAt`. Plain records are exactly valid ones, so taking
 * them here or parsing them there gives the same good records.
 */
function takePlainCsvRecords(
  bytes: Buffer,
  from: number,
  stopAt: number,
  columns: number,
  maxBytes: number,
): { to: number; records: number; lines: number } {
  let at = from;
  let records = 0;
  let lines = 0;
  while (at < stopAt) {
    let fields = 1;
    let fieldStart = true;
    let quoted = false;
    let closed = false;
    let inner = 0;
    let i = at;
    let plain = true;
    for (; i < bytes.length; i += 1) {
      const byte = bytes[i];
      if (quoted) {
        if (byte === QUOTE) {
          if (bytes[i + 1] === QUOTE) i += 1;
          else {
            quoted = false;
            closed = true;
          }
        } else if (byte === NL) inner += 1;
        continue;
      }
      if (byte === NL) break;
      if (byte === COMMA) {
        fields += 1;
        fieldStart = true;
        closed = false;
      } else if (byte === CR && bytes[i + 1] === NL) {
        continue;
      } else if (closed || (byte === QUOTE && !fieldStart)) {
        plain = false; // data after a closing quote, or a quote inside an unquoted field
        break;
      } else {
        quoted = byte === QUOTE;
        fieldStart = false;
      }
    }
    const length = i + 1 - at;
    const blank = i === at || (i === at + 1 && bytes[at] === CR);
    if (!plain || i >= bytes.length || blank || fields !== columns || length > maxBytes) break;
    records += 1;
    lines += 1 + inner;
    at = i + 1;
  }
  return { to: at, records, lines };
}

/** The index of the line feed that ends the CSV record starting at `from` (its last byte when none does). */
export function endOfCsvRecord(bytes: Buffer, from: number): number {
  const { stop } = csvRecordEnd(bytes, from, START);
  return stop < 0 ? bytes.length - 1 : stop;
}

/**
 * The states possible at a cut, from the byte before it: after a comma or newline a field starts (or a
 * quoted field goes on); after a quote anything may be the case; after other bytes a field goes on.
 */
function statesAfter(prev: number): CsvState[] {
  if (prev === COMMA || prev === NL) return [START, QUOTED];
  if (prev === QUOTE) return [UNQUOTED, QUOTED, CLOSING];
  return [UNQUOTED, QUOTED];
}

/** One speculative CSV scan from a cut: a hypothesis about the state there, checked against RFC 4180. */
class QuoteScan {
  dead = false;
  /** First record start found (the byte after a newline outside quotes), or -1. */
  boundary = -1;
  private quotedBytes = 0;

  constructor(
    readonly initial: CsvState,
    private state: CsvState,
    private readonly validate: boolean,
    private readonly maxQuotedFieldBytes: number,
  ) {}

  get current(): CsvState {
    return this.state;
  }

  /** Feeds one byte at absolute position `pos`. */
  step(byte: number, pos: number): void {
    const state = this.state;
    if (this.validate && !this.dead) {
      // What valid CSV never holds: a quote opening mid-field, a closing quote followed by other data,
      // or (by assumption) a quoted field longer than maxQuotedFieldBytes.
      if (state === UNQUOTED && byte === QUOTE) this.dead = true;
      else if (state === CLOSING && byte !== QUOTE && byte !== COMMA && byte !== CR && byte !== NL)
        this.dead = true;
      else if (state === QUOTED && ++this.quotedBytes > this.maxQuotedFieldBytes) this.dead = true;
    }
    if (byte === NL && state !== QUOTED && this.boundary < 0) this.boundary = pos + 1;
    this.state = csvStep(state, byte);
    if (state === START && this.state === QUOTED) this.quotedBytes = 0;
  }

  /** The file ended: ending inside quotes is invalid CSV. */
  finish(): void {
    if (this.validate && this.state === QUOTED) this.dead = true;
  }

  /** Stops validating: used once this scan is known to be the true one. */
  trusted(): QuoteScan {
    const scan = new QuoteScan(this.initial, this.state, false, Infinity);
    scan.boundary = this.boundary;
    return scan;
  }
}

/** Scans agree when their futures and their first boundaries are the same. */
function agree(scans: readonly QuoteScan[]): boolean {
  const first = scans[0]!;
  return scans.every((scan) => scan.current === first.current && scan.boundary === first.boundary);
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
  /**
   * The records of [start, end): their bytes, plus the CSV header line. With `plainColumns` (CSV), records
   * that are plainly valid with that many fields are not made into objects: they come back as runs of
   * bytes (`plainRuns`), for a reader that needs only the good records' text (a Python task's pandas).
   */
  async records(start: number, end: number, plainColumns?: number): Promise<AlignedRecords> {
    const header = this.format === 'csv' ? await this.header() : undefined;
    const dataStart = await this.recordStartAtOrAfter(start, end);
    const records: RawRecord[] = [];
    const plainRuns: PlainRun[] = [];
    if (dataStart >= this.fileSize || end <= dataStart) return { header, dataStart, records, plainRuns };
    const done = (): AlignedRecords => ({ header, dataStart, records, plainRuns });
    const max = this.options.maxRecordBytes;
    const csv = this.format === 'csv';
    // Read forward from a known record start (outside quotes) to the first record start >= end.
    let state: CsvState = START;
    // A UTF-8 byte order mark is not part of the first JSON line (CSV: it is in the header line).
    let recordStart = dataStart === 0 && !csv && (await this.startsWithBom()) ? UTF8_BOM.length : dataStart;
    let parts: Buffer[] = [];
    let oversized = false;
    let lines = 0;
    let recordLines = 0;
    const close = (recordEnd: number): void => {
      const size = recordEnd - recordStart;
      records.push({
        offset: recordStart,
        linesBefore: lines,
        bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts),
        ...(oversized ? { oversized: size } : {}),
      });
      lines += recordLines;
      recordStart = recordEnd;
      parts = [];
      oversized = false;
      recordLines = 0;
    };
    for await (const { offset, bytes } of this.reader.chunks(recordStart)) {
      let i = 0;
      while (i < bytes.length) {
        if (plainColumns !== undefined && offset + i === recordStart) {
          // Plain records, taken at the speed of one pass over their bytes.
          const taken = takePlainCsvRecords(
            bytes,
            i,
            Math.min(bytes.length, end - offset),
            plainColumns,
            max,
          );
          if (taken.records > 0) {
            plainRuns.push({
              bytes: bytes.subarray(i, taken.to),
              records: taken.records,
              before: records.length,
            });
            lines += taken.lines;
            recordStart = offset + taken.to;
            if (recordStart >= end) return done();
            i = taken.to;
            continue;
          }
        }
        // The record's terminating LF in this chunk, or -1 when the record goes on.
        let stop = -1;
        if (csv) {
          const scanned = csvRecordEnd(bytes, i, state);
          state = scanned.state;
          recordLines += scanned.lines;
          stop = scanned.stop;
        } else {
          stop = bytes.indexOf(NL, i);
          if (stop >= 0) recordLines = 1;
        }
        const next = stop < 0 ? bytes.length : stop + 1;
        const size = offset + next - recordStart;
        if (!oversized && size > max) {
          oversized = true;
          // Keep a copy of the first bytes only: the rest is skipped, however long it is.
          parts.push(bytes.subarray(i, Math.min(next, i + OVERSIZED_PREFIX_BYTES)));
          parts = [Buffer.from(prefixOf(parts, OVERSIZED_PREFIX_BYTES))];
        } else if (!oversized) {
          parts.push(bytes.subarray(i, next));
        }
        if (stop >= 0) {
          close(offset + next);
          if (recordStart >= end) return done();
        } else if (oversized && offset + next >= end) {
          // Whatever follows this record starts at or after `end`: it belongs to the next range.
          close(offset + next);
          return done();
        }
        i = next;
      }
    }
    if (recordStart < this.fileSize) close(this.fileSize);
    return done();
  }

  private async startsWithBom(): Promise<boolean> {
    if (this.fileSize < UTF8_BOM.length) return false;
    return (await this.read(0, UTF8_BOM.length)).equals(UTF8_BOM);
  }

  /** Line breaks in [0, x): the file line of the byte at x is this + 1. Read only when needed. */
  async newlinesBefore(x: number): Promise<number> {
    let count = 0;
    for await (const { bytes } of this.reader.chunks(0, x)) {
      for (let at = bytes.indexOf(NL); at >= 0; at = bytes.indexOf(NL, at + 1)) count += 1;
    }
    return count;
  }

  /** CSV: the header line's bytes without the line ending; sets `headerEnd` (where record 0 starts). */
  async header(): Promise<Buffer> {
    this.headerLine ??= this.readHeader();
    return this.headerLine;
  }

  private headerLine: Promise<Buffer> | undefined;

  private async readHeader(): Promise<Buffer> {
    const parts: Buffer[] = [];
    let state: CsvState = START;
    let end = this.fileSize;
    // A byte order mark is not data: the header's first field starts after it.
    const from = (await this.startsWithBom()) ? UTF8_BOM.length : 0;
    scan: for await (const { offset, bytes } of this.reader.chunks(0)) {
      for (let i = Math.max(0, from - offset); i < bytes.length; i += 1) {
        const byte = bytes[i]!;
        if (byte === NL && state !== QUOTED) {
          end = offset + i + 1;
          parts.push(bytes.subarray(0, i + 1));
          break scan;
        }
        state = csvStep(state, byte);
      }
      parts.push(bytes);
      if (offset + bytes.length > this.options.maxRecordBytes) {
        throw new HeaderTooLargeError(this.options.maxRecordBytes);
      }
    }
    this.headerEnd = end;
    let line = Buffer.concat(parts);
    if (line.length > 0 && line[line.length - 1] === NL) line = line.subarray(0, line.length - 1);
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    return line;
  }

  /**
   * B(x): the first record start at or after x, or the file size. The scan stops at `limit`: when no
   * record starts before it, the answer is `limit` (or more), not B(x).
   */
  async recordStartAtOrAfter(x: number, limit = this.fileSize): Promise<number> {
    if (this.format === 'csv') {
      const headerEnd = this.headerEnd ?? (await this.header(), this.headerEnd!);
      if (x <= headerEnd) return headerEnd;
    } else if (x <= 0) {
      return 0;
    }
    if (x >= this.fileSize) return this.fileSize;
    // A record starts at s when byte s-1 ends a line, so the scan starts at x-1.
    return this.format === 'csv' ? this.csvBoundaryFrom(x - 1, limit) : this.lineBoundaryFrom(x - 1, limit);
  }

  private async lineBoundaryFrom(from: number, limit: number): Promise<number> {
    // A record starting before `limit` ends a line at or before limit - 1.
    for await (const { offset, bytes } of this.reader.chunks(from, limit)) {
      const at = bytes.indexOf(NL);
      if (at >= 0) return offset + at + 1;
    }
    return Math.min(limit, this.fileSize);
  }

  private async csvBoundaryFrom(from: number, limit: number): Promise<number> {
    const prev = (await this.read(from - 1, from))[0] ?? NL;
    const { maxQuotedFieldBytes, speculationBytes } = this.options;
    const scans = statesAfter(prev).map((state) => new QuoteScan(state, state, true, maxQuotedFieldBytes));
    let truth: QuoteScan | undefined;
    const exact = async (): Promise<QuoteScan> => {
      const state = await this.stateAt(from);
      return scans.find((scan) => scan.initial === state)!.trusted();
    };

    for await (const { offset, bytes } of this.reader.chunks(from)) {
      for (let i = 0; i < bytes.length; i += 1) {
        const pos = offset + i;
        const byte = bytes[i]!;
        if (truth) {
          truth.step(byte, pos);
        } else {
          for (const scan of scans) scan.step(byte, pos);
          truth = this.decide(scans);
          if (!truth && pos + 1 >= limit && scans.every((scan) => scan.boundary < 0)) {
            // No hypothesis starts a record before the limit: whichever is true, the range owns none.
            return limit;
          }
          if (!truth && (pos - from >= speculationBytes || scans.every((scan) => scan.dead))) {
            truth = await exact();
          }
        }
        if (truth) {
          if (truth.boundary >= 0) return truth.boundary;
          if (pos + 1 >= limit) return limit;
        }
      }
    }
    if (!truth) {
      for (const scan of scans) scan.finish();
      truth = this.decide(scans) ?? (await exact());
    }
    return truth.boundary >= 0 ? truth.boundary : this.fileSize;
  }

  /**
   * The true scan when it is known: all hypotheses agree (then it does not matter which is true), or
   * the ones that valid CSV allows do.
   */
  private decide(scans: readonly QuoteScan[]): QuoteScan | undefined {
    if (agree(scans)) return scans[0]!.trusted();
    const alive = scans.filter((scan) => !scan.dead);
    // Just after a quote, a scan's verdict waits for the next byte: a stray quote kills the true scan at
    // once but a false one only there.
    if (alive.length > 0 && agree(alive) && alive[0]!.current !== CLOSING) return alive[0]!.trusted();
    return undefined;
  }

  /** Exact scanner state at `x`, scanning records from the header's end. Costs O(x) bytes read. */
  private async stateAt(x: number): Promise<CsvState> {
    let state: CsvState = START;
    for await (const { offset, bytes } of this.reader.chunks(this.headerEnd!, x)) {
      const stop = Math.min(bytes.length, x - offset);
      for (let i = 0; i < stop; i += 1) state = csvStep(state, bytes[i]!);
    }
    return state;
  }
}
