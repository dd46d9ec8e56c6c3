import type { BlobInfo, BlobStore } from '../storage/blobStore';
import type { FileRef, InputLocation, MiniBatchDescriptor } from './descriptor';
import type { PlanRequest } from './request';
import { LIMITS } from '../job/limits';
import { InputLayoutError, InputNotFoundError, ParquetFileError, StorageNotFoundError } from '../errors';
import { mapInOrder } from '../storage/concurrent';
import { PARQUET_FOOTER_CONCURRENCY, readParquetFooter, rowGroupRuns, rowGroupSpans } from './parquet';

/** A listed blob as the plan keeps it: name, size and the version that reads are pinned to. */
function fileRef(blob: BlobInfo): FileRef {
  return blob.etag
    ? { name: blob.name, size: blob.size, etag: blob.etag }
    : { name: blob.name, size: blob.size };
}

export type PlanKind = 'files' | 'tabular' | 'partition';
export type TableFormat = 'csv' | 'jsonl' | 'parquet';

/** The mini-batches of an input, produced one at a time in plan order; nothing else is kept. */
export interface InputCut {
  kind: PlanKind;
  /** Mini-batches in index order. Throws project errors (input not found, bad layout) while iterating. */
  miniBatches: AsyncIterable<MiniBatchDescriptor>;
  /** Input blobs listed so far (folder markers excluded); grows while `miniBatches` is iterated. */
  listed: ListedCount;
}

/** A running count that the cut increments and a progress reader samples. */
export interface ListedCount {
  value: number;
}

/** The user-facing name of an input location, for messages. */
export function describeLocation(input: InputLocation): string {
  return `${input.accountUrl}/${input.container}/${input.prefix}`;
}

/** `prefix` as a folder: `a/b` lists `a/b/...`, never `a/bc`. The container root stays ''. */
export function folderPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** Files a table reader skips: the MLTable spec, and hidden or marker files (`.crc`, `_SUCCESS`). */
export function isTableMetadata(name: string): boolean {
  const base = baseName(name);
  return base === '' || base === 'MLTable' || base.startsWith('.') || base.startsWith('_');
}

/** The table format of a data file from its extension, or undefined when it is not CSV, JSON Lines nor Parquet. */
export function tableFormatOf(name: string): TableFormat | undefined {
  const lower = baseName(name).toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson') || lower.endsWith('.jsonlines')) return 'jsonl';
  return undefined;
}

/** Checks every data file of a table has one format; the first file decides. */
class FormatTracker {
  private format: TableFormat | undefined;
  private firstName = '';
  constructor(private readonly input: InputLocation) {}

  accept(name: string): TableFormat {
    const format = tableFormatOf(name);
    if (!format) {
      throw new InputLayoutError(
        describeLocation(this.input),
        `'${name}' is not CSV (.csv), JSON Lines (.jsonl, .ndjson) nor Parquet (.parquet); an mltable input must hold only one of them (besides the MLTable file). Move other files out of the folder.`,
      );
    }
    if (this.format === undefined) {
      this.format = format;
      this.firstName = name;
    } else if (format !== this.format) {
      throw new InputLayoutError(
        describeLocation(this.input),
        `it mixes formats: '${this.firstName}' is ${this.format} but '${name}' is ${format}. A table must be all CSV, all JSON Lines or all Parquet; split it into two inputs.`,
      );
    }
    return format;
  }

  get current(): TableFormat | undefined {
    return this.format;
  }
}

export function planKindOf(request: PlanRequest): PlanKind {
  if (request.partitionKeys?.length) return 'partition';
  if (request.miniBatchSizeUnit === 'files') return 'files';
  if (request.inputType === 'uri_folder') {
    throw new InputLayoutError(
      describeLocation(request.input),
      'a byte mini_batch_size applies to tables (type: mltable, or a CSV, JSON Lines or Parquet uri_file); for a uri_folder give a number of files, e.g. mini_batch_size: 10.',
    );
  }
  return 'tabular';
}

/**
 * Lists the input's blobs (streaming). A folder with nothing under it, or a missing container, is
 * reported as InputNotFoundError saying what was listed; the container root may be empty.
 */
async function* listInput(
  store: BlobStore,
  request: PlanRequest,
  listed: ListedCount,
): AsyncIterable<BlobInfo> {
  const { input } = request;
  const prefix = folderPrefix(input.prefix);
  let seen = 0;
  try {
    for await (const blob of store.list(input.container, prefix, {
      pageSize: request.listPageSize ?? 5000,
    })) {
      seen += 1;
      // Zero-length `folder/` markers (hierarchical namespace accounts) are not files.
      if (blob.name.endsWith('/')) continue;
      listed.value += 1;
      yield blob;
    }
  } catch (error) {
    throw translateNotFound(error, request);
  }
  if (seen === 0 && prefix !== '') {
    const asBlob = await store.stat(input.container, input.prefix.replace(/\/$/, ''));
    const hint = asBlob
      ? ` '${asBlob.name}' is a single blob: declare the input as type: uri_file.`
      : ' Check the path: blob names are case-sensitive, and the path is <container>/<folder>.';
    throw new InputNotFoundError(
      describeLocation(input),
      `listing container '${input.container}' with prefix '${prefix}' returned no blobs.${hint}`,
    );
  }
}

function translateNotFound(error: unknown, request: PlanRequest): unknown {
  if (error instanceof StorageNotFoundError && error.blob === undefined) {
    return new InputNotFoundError(
      describeLocation(request.input),
      `the container '${error.container}' does not exist on ${request.input.accountUrl}. Create it and upload the data, or fix the path.`,
    );
  }
  return error;
}

async function* cutFiles(
  store: BlobStore,
  request: PlanRequest,
  listed: ListedCount,
): AsyncIterable<MiniBatchDescriptor> {
  const perBatch = request.miniBatchSize;
  let index = 0;
  let files: FileRef[] = [];
  for await (const blob of fileBlobs(store, request, listed)) {
    files.push(fileRef(blob));
    if (files.length === perBatch) {
      yield { kind: 'files', index: index++, files };
      files = [];
    }
  }
  if (files.length > 0) yield { kind: 'files', index, files };
}

/** The files of an input: one blob for uri_file, every blob for uri_folder, data files for mltable. */
async function* fileBlobs(
  store: BlobStore,
  request: PlanRequest,
  listed: ListedCount,
): AsyncIterable<BlobInfo> {
  if (request.inputType === 'uri_file') {
    const blob = await statInputFile(store, request);
    listed.value += 1;
    yield blob;
    return;
  }
  for await (const blob of listInput(store, request, listed)) {
    if (request.inputType === 'mltable' && isTableMetadata(blob.name)) continue;
    yield blob;
  }
}

async function statInputFile(store: BlobStore, request: PlanRequest): Promise<BlobInfo> {
  const { input } = request;
  let blob: BlobInfo | undefined;
  try {
    blob = await store.stat(input.container, input.prefix);
  } catch (error) {
    throw translateNotFound(error, request);
  }
  if (blob) return blob;
  let folderHint = '';
  for await (const _ of store.list(input.container, folderPrefix(input.prefix), { pageSize: 1 })) {
    folderHint = ' It is a folder: declare the input as type: uri_folder (or mltable for a table).';
    break;
  }
  throw new InputNotFoundError(
    describeLocation(input),
    `no blob named '${input.prefix}' in container '${input.container}'.${folderHint || ' Check the name (blob names are case-sensitive).'}`,
  );
}

/** Splits [0, size) into ceil(size / target) near-equal ranges, so no tail range is tiny. */
export function byteRanges(size: number, target: number): Array<[number, number]> {
  if (size <= 0) return [];
  const count = Math.max(1, Math.ceil(size / target));
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < count; i += 1) {
    ranges.push([Math.floor((i * size) / count), Math.floor(((i + 1) * size) / count)]);
  }
  return ranges;
}

/** What planning made of one table file: a CSV or JSON Lines file cut by bytes later, or Parquet row-group runs. */
type PlannedTable =
  | { kind: 'text'; blob: BlobInfo; format: TextFormat }
  | { kind: 'parquet'; runs: Omit<ParquetDescriptor, 'index'>[] };
type TextFormat = Exclude<TableFormat, 'parquet'>;
type ParquetDescriptor = Extract<MiniBatchDescriptor, { kind: 'parquet' }>;

/**
 * The row-group runs of a Parquet file, from its footer read by range reads pinned to the listed version.
 * A file whose footer cannot be read is one mini-batch that fails with the reason when it runs, so the
 * other files still plan and this one is reported.
 */
async function plannedRowGroups(
  store: BlobStore,
  request: PlanRequest,
  blob: BlobInfo,
): Promise<Omit<ParquetDescriptor, 'index'>[]> {
  const file = {
    blob: blob.name,
    fileSize: blob.size,
    ...(blob.etag ? { etag: blob.etag } : {}),
  };
  const pinned = blob.etag ? { ifMatch: blob.etag } : undefined;
  const read = (start: number, end: number) =>
    store.read(request.input.container, blob.name, { start, end }, pinned);
  try {
    const footer = await readParquetFooter(read, blob.size, blob.name);
    const spans = rowGroupSpans(footer.metadata, blob.size - footer.bytes.length, blob.name);
    return rowGroupRuns(spans, request.miniBatchSize).map((run) => ({
      kind: 'parquet',
      ...file,
      firstRowGroup: run.first,
      rowGroups: run.count,
      firstRow: run.firstRow,
      rows: run.rows,
      bytes: run.bytes,
    }));
  } catch (error) {
    if (!(error instanceof ParquetFileError)) throw error;
    const reason = error.detail.slice(0, MAX_UNREADABLE_REASON_CHARS);
    return [
      {
        kind: 'parquet',
        ...file,
        firstRowGroup: 0,
        rowGroups: 0,
        firstRow: 0,
        rows: 0,
        bytes: 0,
        unreadable: reason,
      },
    ];
  }
}

/** Characters of an unreadable file's reason kept in its descriptor (descriptors stay small). */
const MAX_UNREADABLE_REASON_CHARS = 300;

async function* cutTabular(
  store: BlobStore,
  request: PlanRequest,
  listed: ListedCount,
): AsyncIterable<MiniBatchDescriptor> {
  const formats = new FormatTracker(request.input);
  const tables = async function* (): AsyncIterable<BlobInfo> {
    for await (const blob of fileBlobs(store, request, listed)) {
      if (request.inputType !== 'uri_file' && isTableMetadata(blob.name)) continue;
      yield blob;
    }
  };
  // Parquet footers are read ahead, several at a time, and taken in listing order.
  const planned = mapInOrder(tables(), PARQUET_FOOTER_CONCURRENCY, async (blob): Promise<PlannedTable> => {
    const format = formats.accept(blob.name);
    return format === 'parquet'
      ? { kind: 'parquet', runs: await plannedRowGroups(store, request, blob) }
      : { kind: 'text', blob, format };
  });
  let index = 0;
  for await (const table of planned) {
    if (table.kind === 'parquet') {
      for (const run of table.runs) yield { ...run, index: index++ };
      continue;
    }
    const { blob, format } = table;
    for (const [start, end] of byteRanges(blob.size, request.miniBatchSize)) {
      yield {
        kind: 'tabular',
        index: index++,
        blob: blob.name,
        format,
        start,
        end,
        fileSize: blob.size,
        ...(blob.etag ? { etag: blob.etag } : {}),
      };
    }
  }
}

interface PartitionLeaf {
  /** Folder prefix whose files belong to this partition. */
  prefix: string;
  keys: Record<string, string>;
  /** Set when the folder also has `key=value/` sub-folders, whose files belong to deeper leaves. */
  skipKeyFolders: boolean;
}

const KEY_FOLDER = /^([^=/]+)=([^/]*)\/$/;

/** Walks `key=value/` folder levels (one listing per folder, never every file) to the partition leaves. */
async function collectLeaves(
  store: BlobStore,
  request: PlanRequest,
  prefix: string,
  keys: Record<string, string>,
  leaves: PartitionLeaf[],
  keysFound: Set<string>,
): Promise<void> {
  const keyFolders: Array<{ prefix: string; key: string; value: string }> = [];
  let hasData = false;
  for await (const entry of store.listFolder(request.input.container, prefix, {
    pageSize: request.listPageSize ?? 5000,
  })) {
    if ('folder' in entry) {
      const match = KEY_FOLDER.exec(entry.folder.slice(prefix.length));
      if (match) keyFolders.push({ prefix: entry.folder, key: match[1]!, value: match[2]! });
      else hasData = true;
    } else if (!isTableMetadata(entry.blob.name) && !entry.blob.name.endsWith('/')) {
      hasData = true;
    }
  }
  if (hasData) leaves.push({ prefix, keys, skipKeyFolders: keyFolders.length > 0 });
  if (leaves.length + keyFolders.length > LIMITS.partitions.max) {
    throw new InputLayoutError(
      describeLocation(request.input),
      `it has more than ${LIMITS.partitions.max.toLocaleString('en-US')} partition folders (${LIMITS.partitions.why}); partition by fewer keys or coarser values.`,
    );
  }
  for (const folder of keyFolders) {
    keysFound.add(folder.key);
    await collectLeaves(
      store,
      request,
      folder.prefix,
      { ...keys, [folder.key]: folder.value },
      leaves,
      keysFound,
    );
  }
}

/** Every requested partition key must be a folder level of the input, with a value above every file. */
function checkPartitionKeys(
  wanted: string[],
  keysFound: Set<string>,
  leaves: PartitionLeaf[],
  where: string,
): void {
  const found = [...keysFound].sort();
  const missingEverywhere = wanted.filter((key) => !keysFound.has(key));
  if (missingEverywhere.length > 0) {
    throw new InputLayoutError(
      where,
      `partition_keys ${JSON.stringify(missingEverywhere)} are not folder levels of the input. ` +
        (found.length
          ? `The keys found are: ${found.join(', ')}.`
          : 'No Hive-style folders (key=value/) were found.') +
        ' Partitioned data is laid out as <prefix>/<key>=<value>/.../files.',
    );
  }
  for (const leaf of leaves) {
    const missing = wanted.filter((key) => leaf.keys[key] === undefined);
    if (missing.length > 0) {
      throw new InputLayoutError(
        where,
        `the files directly under '${leaf.prefix || '(container root)'}' have no value for ${missing.join(', ')}; ` +
          `every file must sit inside the folders of all partition_keys (keys found: ${found.join(', ')}).`,
      );
    }
  }
}

/** Leaves grouped by the requested key tuple, in the order groups first appear in the listing. */
function groupLeaves(
  leaves: PartitionLeaf[],
  wanted: string[],
): Map<string, { keys: Record<string, string>; leaves: PartitionLeaf[] }> {
  const groups = new Map<string, { keys: Record<string, string>; leaves: PartitionLeaf[] }>();
  for (const leaf of leaves) {
    const keys = Object.fromEntries(wanted.map((key) => [key, leaf.keys[key]!]));
    const id = JSON.stringify(wanted.map((key) => keys[key]));
    const group = groups.get(id) ?? { keys, leaves: [] };
    group.leaves.push(leaf);
    groups.set(id, group);
  }
  return groups;
}

async function* cutPartitions(
  store: BlobStore,
  request: PlanRequest,
  listed: ListedCount,
): AsyncIterable<MiniBatchDescriptor> {
  const wanted = request.partitionKeys ?? [];
  const where = describeLocation(request.input);
  const root = folderPrefix(request.input.prefix);
  const leaves: PartitionLeaf[] = [];
  const keysFound = new Set<string>();
  try {
    await collectLeaves(store, request, root, {}, leaves, keysFound);
  } catch (error) {
    throw translateNotFound(error, request);
  }
  if (leaves.length === 0 && keysFound.size === 0) {
    if (root === '') return; // an empty container: empty input
    throw new InputNotFoundError(
      where,
      `listing container '${request.input.container}' with prefix '${root}' returned no blobs.`,
    );
  }
  checkPartitionKeys(wanted, keysFound, leaves, where);
  const groups = groupLeaves(leaves, wanted);

  const formats = request.inputType === 'mltable' ? new FormatTracker(request.input) : undefined;
  const split = request.splitPartitionsBySize === true;
  let index = 0;
  for (const group of groups.values()) {
    let files: FileRef[] = [];
    let bytes = 0;
    const emit = (): MiniBatchDescriptor => {
      const descriptor: MiniBatchDescriptor = { kind: 'partition', index: index++, keys: group.keys, files };
      if (formats?.current) descriptor.format = formats.current;
      files = [];
      bytes = 0;
      return descriptor;
    };
    for (const leaf of group.leaves) {
      for await (const blob of store.list(request.input.container, leaf.prefix, {
        pageSize: request.listPageSize ?? 5000,
      })) {
        if (blob.name.endsWith('/') || isTableMetadata(blob.name)) continue;
        if (
          leaf.skipKeyFolders &&
          KEY_FOLDER.test(blob.name.slice(leaf.prefix.length).replace(/(\/).*$/, '$1'))
        )
          continue;
        formats?.accept(blob.name);
        listed.value += 1;
        files.push(fileRef(blob));
        bytes += blob.size;
        const full =
          request.miniBatchSizeUnit === 'files'
            ? files.length >= request.miniBatchSize
            : bytes >= request.miniBatchSize;
        if (split && full) yield emit();
      }
    }
    if (files.length > 0) yield emit();
  }
}

/** The mini-batches of `request.input`, produced lazily in a deterministic order (the listing's). */
export function cutInput(store: BlobStore, request: PlanRequest): InputCut {
  const kind = planKindOf(request);
  const inputStore = store.forAccount(request.input.accountUrl);
  const listed: ListedCount = { value: 0 };
  const source =
    kind === 'files'
      ? cutFiles(inputStore, request, listed)
      : kind === 'tabular'
        ? cutTabular(inputStore, request, listed)
        : cutPartitions(inputStore, request, listed);
  return { kind, miniBatches: source, listed };
}
