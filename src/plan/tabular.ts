import { parse as parseCsv } from 'csv-parse/sync';
import type { BlobStore } from '../storage/blobStore';
import { TabularParseError } from '../errors';
import type { InputLocation, MiniBatchDescriptor } from './descriptor';
import type { BadRowGroup } from './parquetRows';
import {
  DEFAULT_MAX_RECORD_BYTES,
  HeaderTooLargeError,
  TabularAligner,
  endOfCsvRecord,
  type AlignOptions,
  type ByteRangeReader,
  type AlignedRecords,
  type RawRecord,
  type TabularFormat,
} from './tabularAlign';

export type TabularDescriptor = Extract<MiniBatchDescriptor, { kind: 'tabular' }>;
export type TabularRecord = Record<string, unknown>;
export {
  DEFAULT_MAX_RECORD_BYTES,
  TabularAligner,
  type AlignOptions,
  type ByteRangeReader,
  type TabularFormat,
} from './tabularAlign';

const BOM = '\ufeff';
/** Characters of a bad record's text kept in its report. */
export const BAD_RECORD_TEXT_CHARS = 200;

/** A record that does not parse: where it is in its file, its first characters, and why. */
export interface BadRecord {
  blob: string;
  /** Physical line of the record's first byte, 1-based from the start of the file (as an editor counts). */
  line: number;
  /** Byte offset of the record's first byte in the file. */
  offset: number;
  /** The record's first characters, without its line ending. */
  text: string;
  error: string;
}

/** The records of a range: those that parsed, and those that did not. */
export interface TabularRead {
  records: TabularRecord[];
  badRecords: BadRecord[];
  /**
   * With `keepText`: the good records' bytes as the file has them (line endings included), and the CSV
   * header line, so that another reader (pandas) can parse them with its own types. Then a CSV range's
   * `records` stay empty: `tableRecord` makes the one a task names as failed.
   */
  text?: TableText;
}

/** A table range's good records as the file has them: the CSV header, and pieces of whole records in order. */
export interface TableText {
  header: Buffer | undefined;
  pieces: { bytes: Buffer; records: number }[];
}

/** How a range is read: its alignment, and whether the good records' own bytes are kept. */
export interface ScanOptions extends AlignOptions {
  keepText?: boolean;
}

/** Column names from a CSV header line (quoted names allowed); a leading BOM is dropped. */
export function parseCsvHeader(line: Buffer, blob: string): string[] {
  if (line.length === 0) throw new TabularParseError(blob, 'the CSV file has no header line');
  try {
    const rows: string[][] = parseCsv(line.toString('utf8'), { bom: true, relax_column_count: true });
    const columns = rows[0];
    if (!columns || columns.length === 0) throw new Error('empty header');
    return columns;
  } catch (error) {
    throw new TabularParseError(blob, `the header line cannot be parsed (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/** The record's text without its line ending (LF, or CR LF). */
function recordText(bytes: Buffer, atFileStart: boolean): string {
  let text = bytes.toString('utf8');
  if (atFileStart && text.startsWith(BOM)) text = text.slice(1);
  if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text.endsWith('\r')) text = text.slice(0, -1);
  return text;
}

/** Why a record cannot be a value: thrown by the record parsers, turned into a BadRecord. */
class RecordError extends Error {}

/**
 * The fields of one CSV record (RFC 4180: `"` quotes a whole field, `""` is a quote inside it). A quote
 * inside an unquoted field, or anything but a comma after a closing quote, makes the record bad.
 */
export function parseCsvFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      let at = i + 1;
      for (;;) {
        const close = text.indexOf('"', at);
        if (close < 0) throw new RecordError(`the quoted field ${fields.length + 1} is not closed`);
        value += text.slice(at, close);
        if (text[close + 1] === '"') {
          value += '"';
          at = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== ',') {
        throw new RecordError(
          `field ${fields.length} has ${JSON.stringify(text[i])} after its closing quote (a quote inside a field is written "")`,
        );
      }
      i += 1;
      continue;
    }
    const comma = text.indexOf(',', i);
    const value = comma < 0 ? text.slice(i) : text.slice(i, comma);
    if (value.includes('"')) {
      throw new RecordError(
        `field ${fields.length + 1} has a quote but does not start with one (quote the whole field and write a quote inside it as "")`,
      );
    }
    fields.push(value);
    if (comma < 0) return fields;
    i = comma + 1;
  }
}

function parseCsvRecord(text: string, columns: readonly string[]): TabularRecord {
  const fields = parseCsvFields(text);
  if (fields.length !== columns.length) {
    throw new RecordError(
      `${fields.length} field${fields.length === 1 ? '' : 's'} where the header has ${columns.length}`,
    );
  }
  const record: TabularRecord = {};
  for (let i = 0; i < columns.length; i += 1) record[columns[i]!] = fields[i];
  return record;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function parseJsonRecord(text: string): TabularRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RecordError(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordError(`not a JSON object (it is ${kindOf(value)})`);
  }
  return value as TabularRecord;
}

/**
 * The `position`-th good record of a table mini-batch's text (its parts in order), as a JavaScript task
 * would have had it: made only when a Python task names that row as failed.
 */
export function tableRecordAt(
  format: TabularFormat,
  parts: readonly TableText[],
  position: number,
): TabularRecord | undefined {
  let left = position;
  for (const part of parts) {
    for (const piece of part.pieces) {
      if (left >= piece.records) {
        left -= piece.records;
        continue;
      }
      // A piece of several records (a run of plain CSV ones): find the record by their ends.
      let from = 0;
      for (; left > 0; left -= 1) from = endOfCsvRecord(piece.bytes, from) + 1;
      const to = piece.records === 1 ? piece.bytes.length : endOfCsvRecord(piece.bytes, from) + 1;
      const text = recordText(piece.bytes.subarray(from, to), false);
      return format === 'jsonl'
        ? parseJsonRecord(text)
        : parseCsvRecord(text, parseCsvHeader(part.header ?? Buffer.alloc(0), ''));
    }
  }
  return undefined;
}

/** Bad records found at range-relative lines; their file lines need the newlines before the range. */
interface PendingBad {
  raw: RawRecord;
  text: string;
  error: string;
}

/**
 * Parses a range's raw records: blank lines are skipped, a record that does not parse (or is oversized)
 * becomes a BadRecord and the others are kept. The newline count of the file before the range is read
 * only when the range has a bad record, so good data pays nothing for file line numbers.
 */
async function parseRecords(
  aligner: TabularAligner,
  aligned: AlignedRecords,
  format: TabularFormat,
  blob: string,
  maxRecordBytes: number,
  keepText: boolean,
): Promise<TabularRead> {
  const { records: raws, header, plainRuns } = aligned;
  const records: TabularRecord[] = [];
  const pieces: TableText['pieces'] = [];
  const pending: PendingBad[] = [];
  const columns = format === 'csv' && raws.length > 0 ? parseCsvHeader(header ?? Buffer.alloc(0), blob) : [];
  // With keepText, a CSV range's good records are wanted as text only (see ScanOptions).
  const textOnly = keepText && format === 'csv';
  let run = 0;
  const runsBefore = (position: number): void => {
    for (; run < plainRuns.length && plainRuns[run]!.before <= position; run += 1) {
      pieces.push({ bytes: plainRuns[run]!.bytes, records: plainRuns[run]!.records });
    }
  };
  for (const [position, raw] of raws.entries()) {
    runsBefore(position);
    const text = recordText(raw.bytes, raw.offset === 0);
    if (raw.oversized !== undefined) {
      pending.push({
        raw,
        text,
        error: `record larger than ${maxRecordBytes.toLocaleString('en-US')} bytes (PARALLEL_JOB_MAX_RECORD_BYTES)`,
      });
      continue;
    }
    if (text.trim() === '' && (format === 'jsonl' || text === '')) continue;
    try {
      const record = format === 'jsonl' ? parseJsonRecord(text) : parseCsvRecord(text, columns);
      if (!textOnly) records.push(record);
      if (keepText) pieces.push({ bytes: withoutBom(raw), records: 1 });
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      pending.push({ raw, text, error: error.message });
    }
  }
  runsBefore(Infinity);
  const kept = keepText
    ? { text: { header: header && withoutBom({ offset: 0, bytes: header }), pieces } }
    : {};
  if (pending.length === 0) return { records, badRecords: [], ...kept };
  // Line breaks are counted from the range's first record (its first byte, or the byte order mark's end).
  const before = await aligner.newlinesBefore(aligned.dataStart);
  const badRecords = pending.map(({ raw, text, error }) => ({
    blob,
    line: 1 + before + raw.linesBefore,
    offset: raw.offset,
    text: text.slice(0, BAD_RECORD_TEXT_CHARS),
    error,
  }));
  return { records, badRecords, ...kept };
}

const BOM_BYTES = Buffer.from(BOM, 'utf8');

/** The bytes of a record (or header) without the byte order mark a file may start with. */
function withoutBom(raw: { offset: number; bytes: Buffer }): Buffer {
  return raw.offset === 0 && raw.bytes.subarray(0, 3).equals(BOM_BYTES) ? raw.bytes.subarray(3) : raw.bytes;
}

/**
 * Table data that could not be read, isolated from the rest: a CSV or JSON Lines record, or a Parquet row
 * group (whose rows fail together).
 */
export type BadData = BadRecord | BadRowGroup;

/** The items bad data fails: a record is one, a row group every row it holds. */
export function failedRowsOf(bad: BadData): number {
  return 'rowGroup' in bad ? bad.rows : 1;
}

/** Where bad data is, as failed_items.jsonl and the bad-records log name it. */
export function badDataItem(bad: BadData): Record<string, unknown> {
  return 'rowGroup' in bad
    ? { blob: bad.blob, rowGroup: bad.rowGroup, firstRow: bad.firstRow, rows: bad.rows }
    : { blob: bad.blob, line: bad.line, offset: bad.offset, text: bad.text };
}

/**
 * How bad data is named in messages: `line 7 (byte 120) of 'a.csv': why`, or
 * `row group 2 (rows 200-299) of 'a.parquet': why`.
 */
export function describeBadRecord(bad: BadData): string {
  if ('rowGroup' in bad) {
    return `row group ${bad.rowGroup} (rows ${bad.firstRow}-${bad.firstRow + bad.rows - 1}) of '${bad.blob}': ${bad.error}`;
  }
  return `line ${bad.line} (byte ${bad.offset}) of '${bad.blob}': ${bad.error}`;
}

/**
 * The records of one byte range of a file over any reader: exactly those whose first byte lies in
 * [start, end) (see tabularAlign.ts), split into those that parse and the bad ones. The unit the
 * property tests drive with in-memory bytes.
 */
export async function scanRecordsInRange(
  read: ByteRangeReader,
  fileSize: number,
  format: TabularFormat,
  start: number,
  end: number,
  blob: string,
  options?: ScanOptions,
): Promise<TabularRead> {
  const aligner = new TabularAligner(read, fileSize, format, options);
  let aligned;
  try {
    // A Python task's CSV needs only the good records' bytes: the plain ones are taken as they are.
    const plainColumns =
      options?.keepText && format === 'csv' ? parseCsvHeader(await aligner.header(), blob).length : undefined;
    aligned = await aligner.records(start, end, plainColumns);
  } catch (error) {
    if (error instanceof HeaderTooLargeError) throw new TabularParseError(blob, error.message);
    throw error;
  }
  const max = options?.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  return parseRecords(aligner, aligned, format, blob, max, options?.keepText ?? false);
}

/** The good records of a range; the first bad record throws a TabularParseError naming its file line. */
export async function readRecordsInRange(
  read: ByteRangeReader,
  fileSize: number,
  format: TabularFormat,
  start: number,
  end: number,
  blob: string,
  options?: AlignOptions,
): Promise<TabularRecord[]> {
  return strict(await scanRecordsInRange(read, fileSize, format, start, end, blob, options));
}

function strict(result: TabularRead): TabularRecord[] {
  const bad = result.badRecords[0];
  if (bad) throw new TabularParseError(bad.blob, `line ${bad.line} (byte ${bad.offset}): ${bad.error}`);
  return result.records;
}

/** What the task runtime calls for a tabular mini-batch: its records, read from blob storage. */
export async function scanTabularRange(
  store: BlobStore,
  location: InputLocation,
  descriptor: TabularDescriptor,
  options?: ScanOptions,
): Promise<TabularRead> {
  const source = store.forAccount(location.accountUrl);
  const pinned = descriptor.etag ? { ifMatch: descriptor.etag } : undefined;
  const read: ByteRangeReader = (start, end) =>
    source.read(location.container, descriptor.blob, { start, end }, pinned);
  return scanRecordsInRange(
    read,
    descriptor.fileSize,
    descriptor.format,
    descriptor.start,
    descriptor.end,
    descriptor.blob,
    options,
  );
}

/** The records of a tabular mini-batch; the first bad record throws (see scanTabularRange). */
export async function readTabularRange(
  store: BlobStore,
  location: InputLocation,
  descriptor: TabularDescriptor,
  options?: AlignOptions,
): Promise<TabularRecord[]> {
  return strict(await scanTabularRange(store, location, descriptor, options));
}

/** Every record of one file (used for partitioned tables, whose mini-batches are whole files). */
export async function scanTabularFile(
  store: BlobStore,
  location: InputLocation,
  name: string,
  format: TabularFormat,
  etag?: string,
  options?: ScanOptions,
): Promise<TabularRead> {
  const data = await store
    .forAccount(location.accountUrl)
    .read(location.container, name, undefined, etag ? { ifMatch: etag } : undefined);
  if (data.length === 0) return { records: [], badRecords: [] };
  const read: ByteRangeReader = (start, end) => Promise.resolve(data.subarray(start, end));
  return scanRecordsInRange(read, data.length, format, 0, data.length, name, {
    ...options,
    chunkBytes: Math.max(1, data.length),
  });
}

/** Every record of one file; the first bad record throws (see scanTabularFile). */
export async function readTabularFile(
  store: BlobStore,
  location: InputLocation,
  name: string,
  format: TabularFormat,
  etag?: string,
  options?: AlignOptions,
): Promise<TabularRecord[]> {
  return strict(await scanTabularFile(store, location, name, format, etag, options));
}
