import { parse as parseCsv } from 'csv-parse/sync';
import type { BlobStore } from '../storage/blobStore';
import { TabularParseError } from '../errors';
import type { InputLocation, MiniBatchDescriptor } from './descriptor';
import { TabularAligner, type AlignOptions, type ByteRangeReader, type TabularFormat } from './tabularAlign';

export type TabularDescriptor = Extract<MiniBatchDescriptor, { kind: 'tabular' }>;
export type TabularRecord = Record<string, unknown>;
export { TabularAligner, type AlignOptions, type ByteRangeReader, type TabularFormat } from './tabularAlign';

const BOM = '\ufeff';

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

/** CSV records (values as strings) keyed by the header's columns. */
export function parseCsvRecords(data: Buffer, columns: string[], blob: string): TabularRecord[] {
  if (data.length === 0) return [];
  try {
    return parseCsv<TabularRecord>(data.toString('utf8'), { columns, skip_empty_lines: true });
  } catch (error) {
    throw new TabularParseError(blob, (error as Error).message, { cause: error });
  }
}

/** One JSON object per non-blank line; a CR before the LF is ignored. */
export function parseJsonLines(data: Buffer, blob: string, firstByte = 0): TabularRecord[] {
  let text = data.toString('utf8');
  if (firstByte === 0 && text.startsWith(BOM)) text = text.slice(1);
  const records: TabularRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new TabularParseError(
        blob,
        `line ${i + 1} of the range starting at byte ${firstByte} is not JSON`,
        {
          cause: error,
        },
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TabularParseError(
        blob,
        `line ${i + 1} of the range starting at byte ${firstByte} is not a JSON object`,
      );
    }
    records.push(value as TabularRecord);
  }
  return records;
}

/**
 * The records of one byte range of a file over any reader: exactly those whose first byte lies in
 * [start, end) (see tabularAlign.ts). The unit the property tests drive with in-memory bytes.
 */
export async function readRecordsInRange(
  read: ByteRangeReader,
  fileSize: number,
  format: TabularFormat,
  start: number,
  end: number,
  blob: string,
  options?: AlignOptions,
): Promise<TabularRecord[]> {
  const aligned = await new TabularAligner(read, fileSize, format, options).records(start, end);
  if (aligned.data.length === 0) return [];
  if (format === 'jsonl') return parseJsonLines(aligned.data, blob, aligned.dataStart);
  return parseCsvRecords(aligned.data, parseCsvHeader(aligned.header ?? Buffer.alloc(0), blob), blob);
}

/** What the task runtime calls for a tabular mini-batch: its records, read from blob storage. */
export async function readTabularRange(
  store: BlobStore,
  location: InputLocation,
  descriptor: TabularDescriptor,
  options?: AlignOptions,
): Promise<TabularRecord[]> {
  const source = store.forAccount(location.accountUrl);
  const pinned = descriptor.etag ? { ifMatch: descriptor.etag } : undefined;
  const read: ByteRangeReader = (start, end) =>
    source.read(location.container, descriptor.blob, { start, end }, pinned);
  return readRecordsInRange(
    read,
    descriptor.fileSize,
    descriptor.format,
    descriptor.start,
    descriptor.end,
    descriptor.blob,
    options,
  );
}

/** Every record of one file (used for partitioned tables, whose mini-batches are whole files). */
export async function readTabularFile(
  store: BlobStore,
  location: InputLocation,
  name: string,
  format: TabularFormat,
  etag?: string,
): Promise<TabularRecord[]> {
  const data = await store
    .forAccount(location.accountUrl)
    .read(location.container, name, undefined, etag ? { ifMatch: etag } : undefined);
  if (data.length === 0) return [];
  if (format === 'jsonl') return parseJsonLines(data, name);
  const aligner = new TabularAligner(
    (start, end) => Promise.resolve(data.subarray(start, end)),
    data.length,
    'csv',
    {
      chunkBytes: Math.max(1, data.length),
    },
  );
  const aligned = await aligner.records(0, data.length);
  return parseCsvRecords(aligned.data, parseCsvHeader(aligned.header ?? Buffer.alloc(0), name), name);
}
