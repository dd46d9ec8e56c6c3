/**
 * Python tasks open paths, as Azure ML scripts do: the mini-batch's data is put on disk before the attempt,
 * in a folder of its own that is removed after it. Files are downloaded at their planned version (a changed
 * blob fails the attempt with INPUT_CHANGED); a table's good records are written back in their own format,
 * so that pandas reads them with the types `read_csv` would give.
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InputLocation } from '../plan/descriptor';
import { jsonSafeValue, type ParquetColumn, type ParquetRowsRead } from '../plan/parquetRows';
import { tableRecordAt, type TableText, type TabularFormat } from '../plan/tabular';
import type { BlobStore } from '../storage/blobStore';
import { forEachConcurrently } from '../storage/concurrent';
import type { BatchData } from '../task/protocol';

const DOWNLOAD_CONCURRENCY = 4;
const NEWLINE = Buffer.from('\n');

/** The file's name inside its input folder, as a mounted folder shows it. */
function relativeName(prefix: string, name: string): string {
  const folder = prefix === '' ? '' : `${prefix.replace(/\/+$/, '')}/`;
  return folder && name.startsWith(folder) ? name.slice(folder.length) : name;
}

/** Writes the header and the records' bytes, each record ending with a newline (a file's last may have none). */
async function writeTable(file: string, text: TableText): Promise<void> {
  const parts: Buffer[] = [];
  if (text.header) parts.push(text.header, NEWLINE);
  for (const { bytes } of text.pieces) {
    parts.push(bytes);
    if (bytes[bytes.length - 1] !== 0x0a) parts.push(NEWLINE);
  }
  // Gathered by the kernel: the pieces are never copied into one buffer.
  const handle = await open(file, 'w');
  try {
    await handle.writev(parts);
  } finally {
    await handle.close();
  }
}

/** What a table mini-batch read: text records' own bytes, or Parquet rows. */
export type TableParts =
  { format: TabularFormat; parts: TableText[] } | { format: 'parquet'; reads: ParquetRowsRead[] };

/**
 * Parquet rows for pandas without pyarrow: a JSON line per row (int64 beyond 2^53 as digits, bytes as
 * base64, timestamps as ISO text) and each column's kind, from which the runner gives the columns their
 * types back (see read_table in parallel_job_runner.py).
 */
async function parquetTable(
  reads: ParquetRowsRead[],
  folder: string,
  partition: { partitionKeyValue?: Record<string, string> },
): Promise<BatchData> {
  const files = reads.map((_, index) => path.join(folder, `table-${index}.jsonl`));
  await Promise.all(
    reads.map((read, index) => {
      const lines = read.records.map((record) => `${JSON.stringify(record, jsonSafeValue)}\n`);
      return writeFile(files[index]!, lines.join(''));
    }),
  );
  const columns = new Map<string, ParquetColumn>();
  for (const read of reads)
    for (const column of read.columns) if (!columns.has(column.name)) columns.set(column.name, column);
  const records = reads.flatMap((read) => read.records);
  return {
    kind: 'table',
    format: 'parquet',
    files,
    count: records.length,
    recordAt: (position) => records[position],
    columns: [...columns.values()].map(({ name, python }) => ({ name, python })),
    ...partition,
  };
}

/** The batch a Python task takes, its data written under `folder`. */
export async function pythonBatch(
  store: BlobStore,
  location: InputLocation,
  batch: BatchData,
  tables: TableParts | undefined,
  folder: string,
): Promise<BatchData> {
  const partition =
    'partitionKeyValue' in batch && batch.partitionKeyValue
      ? { partitionKeyValue: batch.partitionKeyValue }
      : {};
  if (batch.kind === 'files') {
    const source = store.forAccount(batch.location.accountUrl);
    const paths = batch.files.map((file) =>
      path.join(folder, 'inputs', ...relativeName(location.prefix, file.name).split('/')),
    );
    await forEachConcurrently(batch.files, DOWNLOAD_CONCURRENCY, async (file, index) => {
      await mkdir(path.dirname(paths[index]!), { recursive: true });
      await source.downloadToFile(batch.location.container, file.name, paths[index]!, {
        ...(file.etag ? { ifMatch: file.etag } : {}),
      });
    });
    return { kind: 'paths', paths, names: batch.files.map((file) => file.name), ...partition };
  }
  if (batch.kind === 'records' && tables && 'reads' in tables) {
    await mkdir(folder, { recursive: true });
    return parquetTable(tables.reads, folder, partition);
  }
  if (batch.kind === 'records' && tables && 'parts' in tables) {
    await mkdir(folder, { recursive: true });
    const files = tables.parts.map((_, index) => path.join(folder, `table-${index}.${tables.format}`));
    await Promise.all(tables.parts.map((part, index) => writeTable(files[index]!, part)));
    const count = tables.parts.reduce(
      (sum, part) => sum + part.pieces.reduce((n, piece) => n + piece.records, 0),
      0,
    );
    // Positions run through the parts in order, as the DataFrame's rows do.
    const recordAt = (position: number) => tableRecordAt(tables.format, tables.parts, position);
    return { kind: 'table', format: tables.format, files, count, recordAt, ...partition };
  }
  return batch;
}
