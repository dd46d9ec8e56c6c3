/**
 * The rows of a Parquet mini-batch as records: its footer and row groups fetched with range reads (one for
 * the run of row groups, pinned to the planned version by the caller's reader), then each row group decoded
 * on its own so that a corrupt one fails only its rows, and values mapped to JavaScript as docs/parquet.md's
 * table says. The fetch happens in the activity; the decoding where the rows are wanted (a worker thread
 * for a JavaScript task).
 */
import zlib from 'node:zlib';
import {
  parquetMetadata,
  parquetRead,
  parquetSchema,
  snappyUncompress,
  type AsyncBuffer,
  type Compressors,
  type FileMetaData,
  type SchemaElement,
  type SchemaTree,
} from 'hyparquet';
import { compressors as moreCodecs } from 'hyparquet-compressors';
import { ParquetFileError } from '../errors';
import { LIMITS } from '../job/limits';
import type { BlobStore } from '../storage/blobStore';
import type { InputLocation, MiniBatchDescriptor } from './descriptor';
import { readParquetFooter, rowGroupSpans, type ParquetFooter } from './parquet';
import type { ByteRangeReader } from './tabularAlign';

export type ParquetRecord = Record<string, unknown>;

/** A row group that could not be decoded: its rows are failed items of the mini-batch. */
export interface BadRowGroup {
  blob: string;
  /** The row group's position in its file (0-based). */
  rowGroup: number;
  /** The file row of its first row (0-based), and how many rows it holds. */
  firstRow: number;
  rows: number;
  error: string;
}

/** How a top-level column's values travel to a Python task without pyarrow (see parallel_job_runner.py). */
export type PythonColumnKind =
  'int' | 'timestamp' | 'timestamp_utc' | 'date' | 'decimal' | 'binary' | 'other';

export interface ParquetColumn {
  name: string;
  python: PythonColumnKind;
  /** Its values hold bytes (Uint8Array), at the top or nested: a JavaScript task gets them as Buffers. */
  binary: boolean;
}

/** The good rows of some row groups of one file, the row groups that failed, and the file's columns. */
export interface ParquetRowsRead {
  records: ParquetRecord[];
  badRowGroups: BadRowGroup[];
  columns: ParquetColumn[];
  /** The row groups whose rows are in `records`, in order. */
  goodRowGroups: number[];
  footer: ParquetFooter;
}

/**
 * The most bytes one page may decompress to. Pages are usually about a megabyte; a page header that claims
 * more is corrupt, and is refused before anything is allocated for it.
 */
const MAX_PAGE_BYTES = LIMITS.bytesPerMiniBatch.max;

/**
 * Decompressors for every codec Parquet writers use, each refusing a page larger than MAX_PAGE_BYTES:
 * Node's zlib for GZIP and BROTLI (native), hyparquet's snappy, and hyparquet-compressors for ZSTD and LZ4.
 */
const CODECS: Compressors = (() => {
  const capped =
    (decompress: (input: Uint8Array, length: number) => Uint8Array) =>
    (input: Uint8Array, length: number): Uint8Array => {
      if (length > MAX_PAGE_BYTES) {
        throw new Error(
          `a page claims ${length.toLocaleString('en-US')} bytes uncompressed, more than the ${MAX_PAGE_BYTES.toLocaleString('en-US')} a page may hold`,
        );
      }
      return decompress(input, length);
    };
  const unpacked = (bytes: Buffer): Uint8Array =>
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    SNAPPY: capped((input, length) => {
      const output = new Uint8Array(length);
      snappyUncompress(input, output);
      return output;
    }),
    GZIP: capped((input, length) =>
      unpacked(zlib.gunzipSync(input, { maxOutputLength: Math.max(1, length) })),
    ),
    BROTLI: capped((input, length) =>
      unpacked(zlib.brotliDecompressSync(input, { maxOutputLength: Math.max(1, length) })),
    ),
    ZSTD: capped(moreCodecs.ZSTD!),
    LZ4: capped(moreCodecs.LZ4!),
    LZ4_RAW: capped(moreCodecs.LZ4_RAW!),
  };
})();

/**
 * Decimals are numbers up to this precision: every decimal of at most 15 significant digits survives the
 * trip through a double and prints back the same. Wider ones are strings of their exact digits.
 */
export const MAX_NUMBER_DECIMAL_PRECISION = 15;

function isDecimal(element: SchemaElement): boolean {
  return element.converted_type === 'DECIMAL' || element.logical_type?.type === 'DECIMAL';
}

function decimalScale(element: SchemaElement): number {
  const logical = element.logical_type;
  return logical?.type === 'DECIMAL' ? logical.scale : (element.scale ?? 0);
}

function decimalPrecision(element: SchemaElement): number {
  const logical = element.logical_type;
  return logical?.type === 'DECIMAL' ? logical.precision : (element.precision ?? 0);
}

/** Decimals read as strings: hyparquet would make numbers of them, so they are read as raw unscaled values. */
function withExactDecimals(metadata: FileMetaData): { metadata: FileMetaData; scales: Map<string, number> } {
  const scales = new Map<string, number>();
  const tree = parquetSchema(metadata);
  const exact = new Map<SchemaElement, SchemaElement>();
  const walk = (node: SchemaTree): void => {
    if (
      node.children.length === 0 &&
      isDecimal(node.element) &&
      decimalPrecision(node.element) > MAX_NUMBER_DECIMAL_PRECISION
    ) {
      scales.set(node.path.join('.'), decimalScale(node.element));
      const { converted_type: _c, logical_type: _l, ...raw } = node.element;
      exact.set(node.element, raw);
    }
    node.children.forEach(walk);
  };
  walk(tree);
  if (exact.size === 0) return { metadata, scales };
  return {
    metadata: { ...metadata, schema: metadata.schema.map((element) => exact.get(element) ?? element) },
    scales,
  };
}

/** An unscaled decimal (an integer, or big-endian two's complement bytes) as the exact text of its value. */
export function decimalText(unscaled: unknown, scale: number): string {
  let value: bigint;
  if (typeof unscaled === 'bigint') value = unscaled;
  else if (typeof unscaled === 'number') value = BigInt(unscaled);
  else if (unscaled instanceof Uint8Array) {
    value = 0n;
    for (const byte of unscaled) value = (value << 8n) | BigInt(byte);
    if (unscaled.length > 0 && unscaled[0]! >= 0x80) value -= 1n << BigInt(8 * unscaled.length);
  } else {
    throw new Error(`a decimal value is ${typeof unscaled}, not an integer or bytes`);
  }
  const negative = value < 0n;
  let digits = (negative ? -value : value).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  } else if (scale < 0) {
    digits = `${digits}${'0'.repeat(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

/** An int64 as a number when it is one exactly, else the bigint. */
function int64Value(value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value;
}

type Convert = (value: unknown) => unknown;

const STRING_ANNOTATIONS = new Set(['UTF8', 'ENUM', 'JSON', 'BSON', 'INTERVAL']);
const STRING_LOGICAL = new Set([
  'STRING',
  'ENUM',
  'JSON',
  'BSON',
  'UUID',
  'GEOMETRY',
  'GEOGRAPHY',
  'FLOAT16',
  'INTERVAL',
]);

function isBinaryLeaf(element: SchemaElement): boolean {
  if (element.type !== 'BYTE_ARRAY' && element.type !== 'FIXED_LEN_BYTE_ARRAY') return false;
  if (isDecimal(element)) return false;
  if (element.converted_type && STRING_ANNOTATIONS.has(element.converted_type)) return false;
  return !(element.logical_type && STRING_LOGICAL.has(element.logical_type.type));
}

function isListLike(node: SchemaTree): boolean {
  const group = node.children[0];
  return (
    node.element.converted_type === 'LIST' &&
    node.children.length === 1 &&
    group !== undefined &&
    group.children.length <= 1 &&
    group.element.repetition_type === 'REPEATED'
  );
}

function isMapLike(node: SchemaTree): boolean {
  const group = node.children[0];
  return (
    (node.element.converted_type === 'MAP' || node.element.converted_type === 'MAP_KEY_VALUE') &&
    node.children.length === 1 &&
    group !== undefined &&
    group.children.length === 2 &&
    group.element.repetition_type === 'REPEATED'
  );
}

/** What maps a column's values from hyparquet's to ours, or undefined when they are ours already. */
function converterFor(node: SchemaTree, scales: Map<string, number>): Convert | undefined {
  if (node.children.length === 0) {
    const scale = scales.get(node.path.join('.'));
    const leaf: Convert | undefined =
      scale !== undefined
        ? (value) => (value === null || value === undefined ? value : decimalText(value, scale))
        : node.element.type === 'INT64'
          ? int64Value
          : undefined;
    return node.element.repetition_type === 'REPEATED' && leaf ? eachOf(leaf) : leaf;
  }
  if (isListLike(node)) {
    const group = node.children[0]!;
    const element = group.children.length === 1 ? group.children[0]! : group;
    const inner = element === group ? converterOfFields(group, scales) : converterFor(element, scales);
    return inner && eachOf(inner);
  }
  if (isMapLike(node)) {
    const value = node.children[0]!.children.find((child) => child.element.name === 'value');
    const inner = value && converterFor(value, scales);
    return (
      inner &&
      ((map) => {
        if (map === null || map === undefined || typeof map !== 'object') return map;
        const object = map as Record<string, unknown>;
        for (const key of Object.keys(object)) object[key] = inner(object[key]);
        return object;
      })
    );
  }
  const struct = converterOfFields(node, scales);
  return node.element.repetition_type === 'REPEATED' && struct ? eachOf(struct) : struct;
}

function converterOfFields(node: SchemaTree, scales: Map<string, number>): Convert | undefined {
  const fields = node.children.flatMap((child) => {
    const convert = converterFor(child, scales);
    return convert ? [{ name: child.element.name, convert }] : [];
  });
  if (fields.length === 0) return undefined;
  return (value) => {
    if (value === null || value === undefined || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    for (const { name, convert } of fields) object[name] = convert(object[name]);
    return object;
  };
}

function eachOf(convert: Convert): Convert {
  return (value) => {
    if (!Array.isArray(value)) return value;
    const list: unknown[] = value;
    for (let i = 0; i < list.length; i += 1) list[i] = convert(list[i]);
    return list;
  };
}

function hasBinary(node: SchemaTree): boolean {
  return node.children.length === 0 ? isBinaryLeaf(node.element) : node.children.some(hasBinary);
}

function pythonKind(node: SchemaTree, scales: Map<string, number>): PythonColumnKind {
  if (node.children.length > 0 || node.element.repetition_type === 'REPEATED') return 'other';
  const { element } = node;
  if (isDecimal(element) || scales.has(node.path.join('.'))) return 'decimal';
  const logical = element.logical_type;
  if (logical?.type === 'TIMESTAMP') return logical.isAdjustedToUTC ? 'timestamp_utc' : 'timestamp';
  if (element.converted_type === 'TIMESTAMP_MILLIS' || element.converted_type === 'TIMESTAMP_MICROS')
    return 'timestamp_utc';
  if (element.type === 'INT96') return 'timestamp';
  if (element.converted_type === 'DATE' || logical?.type === 'DATE') return 'date';
  if (isBinaryLeaf(element)) return 'binary';
  if (element.type === 'INT64') return 'int';
  return 'other';
}

/** The file's top-level columns, with how their values travel (see ParquetColumn). */
export function parquetColumns(metadata: FileMetaData): ParquetColumn[] {
  const { scales } = withExactDecimals(metadata);
  return parquetSchema(metadata).children.map((node) => ({
    name: node.element.name,
    python: pythonKind(node, scales),
    binary: hasBinary(node),
  }));
}

/** The reason a row group failed, for people: hyparquet's message, without its "parquet" prefix. */
function rowGroupReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^parquet\s+/i, '');
}

/**
 * What a Parquet mini-batch needs of one file, read and not yet decoded: the footer, and one range of bytes
 * that holds the column chunks of row groups [first, first + count). Plain data, so that it crosses to a
 * worker thread as it is and the rows are decoded there (cloning decoded rows costs as much as decoding).
 */
export interface ParquetPart {
  blob: string;
  fileSize: number;
  /** The footer's bytes: the metadata, its length and the closing magic. */
  footer: Uint8Array;
  /** `data` is the file's bytes [start, start + data.length). */
  start: number;
  data: Uint8Array;
  first: number;
  count: number;
  /** The rows the row groups hold, from the footer. */
  rows: number;
}

/**
 * Reads what row groups [first, first + count) (default: all) of a Parquet file of `fileSize` bytes need:
 * the footer by two range reads from the end, then the row groups' column chunks in one read. A footer
 * that cannot be read, or that lacks the row groups, is a ParquetFileError; a read of a changed blob fails
 * as the reader fails (INPUT_CHANGED with a pinned reader).
 */
export async function fetchParquetPart(
  read: ByteRangeReader,
  fileSize: number,
  blob: string,
  rowGroups?: { first: number; count: number },
): Promise<ParquetPart> {
  const footer = await readParquetFooter(read, fileSize, blob);
  const spans = rowGroupSpans(footer.metadata, fileSize - footer.bytes.length, blob);
  const { first, count } = rowGroups ?? { first: 0, count: spans.length };
  if (first + count > spans.length) {
    throw new ParquetFileError(
      blob,
      `the plan names row groups ${first}-${first + count - 1} but the file has ${spans.length}`,
    );
  }
  const run = spans.slice(first, first + count);
  const start = count > 0 ? Math.min(...run.map((span) => span.start)) : 0;
  const end = count > 0 ? Math.max(...run.map((span) => span.end)) : 0;
  const data = end > start ? await read(start, end) : Buffer.alloc(0);
  const rows = run.reduce((sum, span) => sum + span.rows, 0);
  return { blob, fileSize, footer: footer.bytes, start, data, first, count, rows };
}

/** The part's bytes as hyparquet reads them; a slice outside them means the footer lied about the file. */
function partFile(part: ParquetPart): AsyncBuffer {
  const footerStart = part.fileSize - part.footer.length;
  const view = (bytes: Uint8Array, from: number, to: number): ArrayBuffer =>
    bytes.buffer.slice(bytes.byteOffset + from, bytes.byteOffset + to) as ArrayBuffer;
  return {
    byteLength: part.fileSize,
    slice(from: number, to = part.fileSize): ArrayBuffer {
      if (from >= part.start && to <= part.start + part.data.length) {
        return view(part.data, from - part.start, to - part.start);
      }
      if (from >= footerStart && to <= part.fileSize)
        return view(part.footer, from - footerStart, to - footerStart);
      throw new Error(`a read of bytes ${from}-${to} falls outside the row groups' column chunks`);
    },
  };
}

/**
 * The rows of a part: each row group decoded on its own, so that one that fails to decode is a BadRowGroup
 * (its rows failed items) while the others' rows are kept, in file order; values mapped as documented.
 */
export async function decodeParquetPart(part: ParquetPart): Promise<ParquetRowsRead> {
  const { blob, first, count } = part;
  const footerBytes = Buffer.from(part.footer.buffer, part.footer.byteOffset, part.footer.length);
  const footer: ParquetFooter = { metadata: parquetMetadata(footerBytes), bytes: footerBytes };
  const spans = rowGroupSpans(footer.metadata, part.fileSize - footerBytes.length, blob);
  const { metadata, scales } = withExactDecimals(footer.metadata);
  const columns = parquetColumns(footer.metadata);
  const convert = parquetSchema(metadata).children.flatMap((node) => {
    const one = converterFor(node, scales);
    return one ? [{ name: node.element.name, convert: one }] : [];
  });
  const file = partFile(part);

  let firstRow = 0;
  for (let index = 0; index < first; index += 1) firstRow += spans[index]!.rows;
  const records: ParquetRecord[] = [];
  const badRowGroups: BadRowGroup[] = [];
  const goodRowGroups: number[] = [];
  for (let index = first; index < first + count; index += 1) {
    const rows = spans[index]!.rows;
    const rowStart = firstRow;
    firstRow += rows;
    if (rows === 0) continue;
    let decoded: ParquetRecord[] = [];
    try {
      await parquetRead({
        file,
        metadata,
        rowStart,
        rowEnd: rowStart + rows,
        rowFormat: 'object',
        compressors: CODECS,
        // Byte arrays without a string annotation are binary: they stay bytes.
        utf8: false,
        onComplete: (rowsRead) => (decoded = rowsRead),
      });
      if (decoded.length !== rows) {
        throw new Error(`it decoded to ${decoded.length} rows where the footer says ${rows}`);
      }
    } catch (error) {
      if (error instanceof RangeError && /allocation failed/i.test(error.message)) throw error;
      badRowGroups.push({ blob, rowGroup: index, firstRow: rowStart, rows, error: rowGroupReason(error) });
      continue;
    }
    for (const record of decoded) {
      for (const { name, convert: one } of convert) record[name] = one(record[name]);
      records.push(record);
    }
    goodRowGroups.push(index);
  }
  return { records, badRowGroups, columns, goodRowGroups, footer };
}

/** The rows of row groups [first, first + count) (default: all) of a file: fetched, then decoded. */
export async function readParquetRowGroups(
  read: ByteRangeReader,
  fileSize: number,
  blob: string,
  rowGroups?: { first: number; count: number },
): Promise<ParquetRowsRead> {
  return decodeParquetPart(await fetchParquetPart(read, fileSize, blob, rowGroups));
}

type ParquetDescriptor = Extract<MiniBatchDescriptor, { kind: 'parquet' }>;

/** A reader of one blob of the input, pinned to `etag` when given (a changed blob is INPUT_CHANGED). */
function blobReader(store: BlobStore, location: InputLocation, name: string, etag?: string): ByteRangeReader {
  const source = store.forAccount(location.accountUrl);
  const pinned = etag ? { ifMatch: etag } : undefined;
  return (start, end) => source.read(location.container, name, { start, end }, pinned);
}

/** What the task runtime reads for a Parquet mini-batch: its footer and row groups, pinned, not decoded. */
export async function fetchParquetMiniBatch(
  store: BlobStore,
  location: InputLocation,
  descriptor: ParquetDescriptor,
): Promise<ParquetPart> {
  // Planning found no footer: nothing is read, the reason it found is the mini-batch's failure.
  if (descriptor.unreadable !== undefined) throw new ParquetFileError(descriptor.blob, descriptor.unreadable);
  const read = blobReader(store, location, descriptor.blob, descriptor.etag);
  return fetchParquetPart(read, descriptor.fileSize, descriptor.blob, {
    first: descriptor.firstRowGroup,
    count: descriptor.rowGroups,
  });
}

/** Every row group of one file (partitioned tables, whose mini-batches are whole files). */
export async function fetchParquetFile(
  store: BlobStore,
  location: InputLocation,
  file: { name: string; size: number; etag?: string },
): Promise<ParquetPart> {
  return fetchParquetPart(blobReader(store, location, file.name, file.etag), file.size, file.name);
}

/**
 * A value of a record as JSON can hold it, for failed_items.jsonl and Python: an int64 beyond 2^53 as its
 * digits, bytes as base64; a Date becomes its ISO text through its own toJSON.
 */
export function jsonSafeValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64');
  return value;
}
