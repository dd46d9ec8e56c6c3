import { randomBytes } from 'node:crypto';
import { AttemptCodes } from '../failureCodes';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  InputChangedError,
  ParallelJobError,
  ParquetFileError,
  TabularParseError,
  TaskPathError,
} from '../errors';
import { blobsOf, planPageSchema, type MiniBatchDescriptor, type PlanPage } from '../plan/descriptor';
import {
  badDataItem,
  describeBadRecord,
  failedRowsOf,
  scanTabularFile,
  scanTabularRange,
  type BadData,
  type TableText,
  type TabularFormat,
} from '../plan/tabular';
import {
  decodeParquetPart,
  fetchParquetFile,
  fetchParquetMiniBatch,
  jsonSafeValue,
  type ParquetPart,
  type ParquetRowsRead,
} from '../plan/parquetRows';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder, outputBlockId } from '../storage/layout';
import type { TabularRecord } from '../task/contract';
import {
  failedOutcome,
  type TaskPools,
  type AttemptOutcome,
  type BatchData,
  type JobContextData,
} from '../task/pool';
import { isPythonModule, resolveTaskModule } from '../task/resolve';
import type { SideInputCache } from '../storage/sideInputs';
import { capMessage } from '../task/results';
import type { AttemptRecord, FailedItem, PublishedFiles } from './attemptRecord';
import { miniBatchReceiptSchema, runMiniBatchInputSchema, type MiniBatchReceipt } from './contracts';
import { BoundedCache } from './cache';
import type { ActivityDeps } from './deps';
import { appendRowBlobFor, readJobRecord, type JobRecord } from '../storage/jobRecord';
import type { Manifest } from './manifest';
import { publishAttemptFiles } from './attemptFiles';
import { pythonBatch } from './pythonBatch';

/** Job records, plan pages and manifests an app's activities read, by job: each is read once. */
export interface JobFiles {
  records: BoundedCache<JobRecord>;
  pages: BoundedCache<PlanPage>;
  manifests: BoundedCache<Manifest>;
}

export function jobFilesCache(): JobFiles {
  return { records: new BoundedCache(16), pages: new BoundedCache(64), manifests: new BoundedCache(4) };
}

/** What an attempt uses, given by the composition root (src/composition.ts). */
export interface RunMiniBatchDeps extends ActivityDeps {
  /** The app's warm task pools. */
  pools: TaskPools;
  /** The host's side-input cache. */
  sideInputCache: SideInputCache;
  /** Where Python attempts get their data on disk (PARALLEL_JOB_WORK_DIR). */
  workDir: string;
  jobFiles: JobFiles;
  /** Largest table record read (PARALLEL_JOB_MAX_RECORD_BYTES). */
  maxRecordBytes: number;
  /** The most bytes an attempt may publish into output folders (PARALLEL_JOB_MAX_OUTPUT_BYTES_PER_ATTEMPT). */
  maxOutputBytesPerAttempt: number;
  /** host.json's functionTimeout: a group call starts no attempt that could outlive it. */
  functionTimeout: string | undefined;
}

/** Bad records listed per attempt (in its bad_records log and failed items); the rest are counted. */
export const MAX_BAD_RECORDS_LISTED = 1000;

/** The job record, read once per app and job. */
export function cachedJobRecord(
  deps: Pick<RunMiniBatchDeps, 'store' | 'logsContainer' | 'jobFiles'>,
  jobId: string,
): Promise<JobRecord> {
  return deps.jobFiles.records.get(jobId, () => readJobRecord(deps.store, deps.logsContainer, jobId));
}

export async function descriptorFor(
  deps: Pick<RunMiniBatchDeps, 'store' | 'logsContainer' | 'jobFiles'>,
  record: JobRecord,
  index: number,
): Promise<MiniBatchDescriptor> {
  const { store, logsContainer } = deps;
  if (index >= record.plan.miniBatches) {
    throw new Error(
      `Mini-batch ${index} is outside the plan of job ${record.jobId} (${record.plan.miniBatches} mini-batches).`,
    );
  }
  const page = Math.floor(index / record.plan.pageSize);
  const name = jobFolder(record.jobId).planPage(page);
  const content = await deps.jobFiles.pages.get(`${record.jobId}/${page}`, () =>
    store.readJson(logsContainer, name, planPageSchema),
  );
  const descriptor = content.miniBatches[index - content.first];
  if (!descriptor || descriptor.index !== index) {
    throw new Error(`Plan page ${name} does not hold mini-batch ${index}; the job folder is damaged.`);
  }
  return descriptor;
}

interface ReadBatch {
  batch: BatchData;
  /** Table records (or Parquet row groups) that could not be read: failed items of this mini-batch. */
  badRecords: BadData[];
  /** With `keepText`, the good records' own bytes per file (what a Python task's DataFrame is read from). */
  tables?: { format: TabularFormat; parts: TableText[] };
  /** For a Parquet mini-batch, what was read of each file (a Python task's DataFrame is built from it). */
  parquet?: ParquetRowsRead[];
}

/**
 * A Parquet mini-batch's bytes as a JavaScript task's worker decodes them, or for a Python task (`keepText`)
 * its rows decoded here, where the DataFrame's file is written.
 */
async function parquetBatch(
  parts: ParquetPart[],
  options: { keepText: boolean; failOnBadRowGroup: boolean },
  partitionKeyValue?: Record<string, string>,
): Promise<ReadBatch> {
  const partition = partitionKeyValue ? { partitionKeyValue } : {};
  if (!options.keepText) {
    return {
      batch: { kind: 'parquet', parts, failOnBadRowGroup: options.failOnBadRowGroup, ...partition },
      badRecords: [],
    };
  }
  const reads: ParquetRowsRead[] = [];
  for (const part of parts) reads.push(await decodeParquetPart(part));
  const records: TabularRecord[] = [];
  const badRecords: BadData[] = [];
  // One push per record: spreading a large file's records into push() overflows the call stack.
  for (const read of reads) {
    for (const one of read.records) records.push(one);
    for (const bad of read.badRowGroups) badRecords.push(bad);
  }
  return { batch: { kind: 'records', records, ...partition }, badRecords, parquet: reads };
}

/** Reads what the task needs: records for tables (here), file references for files (read lazily in the worker). */
async function buildBatch(
  store: BlobStore,
  record: JobRecord,
  descriptor: MiniBatchDescriptor,
  options: { maxRecordBytes: number; keepText: boolean; failOnBadRowGroup: boolean },
): Promise<ReadBatch> {
  const location = record.plan.input;
  switch (descriptor.kind) {
    case 'files':
      return { batch: { kind: 'files', location, files: descriptor.files }, badRecords: [] };
    case 'tabular': {
      const read = await scanTabularRange(store, location, descriptor, options);
      return {
        batch: { kind: 'records', records: read.records },
        badRecords: read.badRecords,
        ...(read.text ? { tables: { format: descriptor.format, parts: [read.text] } } : {}),
      };
    }
    case 'parquet':
      return parquetBatch([await fetchParquetMiniBatch(store, location, descriptor)], options);
    case 'partition': {
      const partitionKeyValue = descriptor.keys;
      const format = descriptor.format;
      if (!format) {
        return {
          batch: { kind: 'files', location, files: descriptor.files, partitionKeyValue },
          badRecords: [],
        };
      }
      if (format === 'parquet') {
        const parts: ParquetPart[] = [];
        for (const file of descriptor.files) parts.push(await fetchParquetFile(store, location, file));
        return parquetBatch(parts, options, partitionKeyValue);
      }
      const records: TabularRecord[] = [];
      const badRecords: BadData[] = [];
      const parts: TableText[] = [];
      // One push per record: spreading a large file's records into push() overflows the call stack.
      for (const file of descriptor.files) {
        const read = await scanTabularFile(store, location, file.name, format, file.etag, options);
        for (const one of read.records) records.push(one);
        for (const bad of read.badRecords) badRecords.push(bad);
        if (read.text && read.text.pieces.length > 0) parts.push(read.text);
      }
      return {
        batch: { kind: 'records', records, partitionKeyValue },
        badRecords,
        ...(options.keepText ? { tables: { format, parts } } : {}),
      };
    }
  }
}

/**
 * The attempt's outcome with its bad records counted: each is a failed item (so error_threshold counts
 * it). A mini-batch with bad records never fully succeeds.
 */
function withBadRecords(outcome: AttemptOutcome, badRecords: readonly BadData[]): AttemptOutcome {
  const bad = badRecords.reduce((sum, entry) => sum + failedRowsOf(entry), 0);
  if (badRecords.length === 0) return outcome;
  const items = outcome.items + bad;
  const failed = outcome.failed + bad;
  const rowGroups = badRecords.filter((entry) => 'rowGroup' in entry).length;
  const badText =
    rowGroups > 0
      ? `${bad} row${bad === 1 ? '' : 's'} of ${rowGroups} row group${rowGroups === 1 ? '' : 's'} that could not be read`
      : `${bad} bad record${bad === 1 ? '' : 's'} that did not parse`;
  if (outcome.status === 'failed') {
    return { ...outcome, items, failed };
  }
  return {
    ...outcome,
    status: 'partial',
    items,
    failed,
    message: capMessage(
      outcome.failed > 0 && outcome.message
        ? `${outcome.message}; and ${badText}`
        : `${failed} of ${items} items failed: ${badText} (first: ${describeBadRecord(badRecords[0]!)})`,
    ),
  };
}

/** The outcome of a mini-batch whose records all failed to parse: run() is not called (withBadRecords counts them). */
function noRecordsOutcome(): AttemptOutcome {
  const none = failedOutcome({ items: 0, code: 'NONE', message: '', retryable: false });
  const { code: _code, message: _message, ...rest } = none;
  return { ...rest, status: 'succeeded' };
}

/** Bad records as failed items (the shape ctx.fail items have in failed_items.jsonl), capped. */
function badRecordItems(badRecords: readonly BadData[]): FailedItem[] {
  return badRecords
    .slice(0, MAX_BAD_RECORDS_LISTED)
    .map((entry) => ({ item: badDataItem(entry), error: entry.error }));
}

/** The bad_records log of an attempt: one JSON line per bad record, capped, then the count of the rest. */
function badRecordsLog(badRecords: readonly BadData[]): string {
  const lines = badRecords.slice(0, MAX_BAD_RECORDS_LISTED).map((entry) => JSON.stringify(entry));
  const omitted = badRecords.length - lines.length;
  if (omitted > 0) lines.push(JSON.stringify({ omitted }));
  return `${lines.join('\n')}\n`;
}

/**
 * Why this attempt may not touch what its job record names, or undefined. The record and plan pages are
 * read back from storage, so their places are checked against today's settings before each attempt.
 */
function refusedPlace(
  deps: RunMiniBatchDeps,
  record: JobRecord,
  descriptor: MiniBatchDescriptor,
): string | undefined {
  const location = record.plan.input;
  for (const name of [location.prefix, ...blobsOf(descriptor)]) {
    const problem = deps.access.problem({ ...location, prefix: name }, 'read');
    if (problem) return `The input cannot be read: ${problem}.`;
  }
  const target = appendRowBlobFor(record, descriptor.index);
  if (target) {
    const output = { accountUrl: deps.store.accountUrl, container: target.container, prefix: target.blob };
    const problem = deps.access.problem(output, 'write');
    if (problem) return `The output cannot be written: ${problem}.`;
  }
  return undefined;
}

/** The items a mini-batch holds as planned: its files, a Parquet run's rows, or 0 for a byte range (unknown until read). */
export function itemCount(descriptor: MiniBatchDescriptor): number {
  if (descriptor.kind === 'tabular') return 0;
  if (descriptor.kind === 'parquet') return descriptor.rows;
  return descriptor.files.length;
}

function jobContext(record: JobRecord, localInputs: Record<string, string>): JobContextData {
  const { job } = record;
  const folderOutputs = Object.entries(job.outputs)
    .filter(([, output]) => output.type === 'uri_folder')
    .map(([name]) => name);
  const appendTo = job.appendRowTo?.output;
  const outputDirOf =
    appendTo !== undefined && folderOutputs.includes(appendTo) ? appendTo : folderOutputs[0];
  return {
    jobId: record.jobId,
    argv: job.task.argv,
    ...(job.task.argvParts ? { argvParts: job.task.argvParts } : {}),
    inputs: job.inputs,
    outputs: job.outputs,
    localInputs,
    folderOutputs,
    ...(outputDirOf !== undefined ? { outputDirOf } : {}),
    environmentVariables: job.environmentVariables,
    loggingLevel: job.loggingLevel,
  };
}

function jsonSafe(item: unknown): unknown {
  return typeof item === 'string'
    ? item
    : (JSON.parse(JSON.stringify(item, jsonSafeValue) ?? 'null') as unknown);
}

function numericThreadId(worker: string | undefined): number | undefined {
  const thread = worker?.split('-')[1];
  return thread === undefined ? undefined : Number(thread);
}

/** What running the task gave: its outcome, the table records that did not parse, and where it ran. */
interface TaskRun {
  outcome: AttemptOutcome;
  badRecords: BadData[];
  modulePath?: string;
  readMs: number;
  /** Why the job's places refused this attempt, if they did: then nothing is read or written. */
  refused?: string;
  /** The output folder files this attempt published. */
  published?: PublishedFiles;
}

/** A failure found before the task ran, with the attempt log line that says why. */
function failedBeforeRun(code: string, message: string, retryable: boolean, items: number): AttemptOutcome {
  return failedOutcome({
    items,
    code,
    message,
    retryable,
    log: `${new Date().toISOString()} ERROR ${message}\n`,
  });
}

/**
 * Runs one attempt of one mini-batch: reads its descriptor and data, runs the task in a warm worker,
 * stages the append_row rows as a block of the output blob, writes the attempt's log, and returns its
 * record (the receipt with failed items, warnings and timings) for the group to keep. Task failures
 * (threw, timed out, crashed, bad or short result, unreadable input) come back as data; storage faults on
 * the job's own blobs are thrown so that the caller retries.
 */
export async function runMiniBatch(deps: RunMiniBatchDeps, raw: unknown): Promise<AttemptRecord> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const input = runMiniBatchInputSchema.parse(raw);
  const record = await cachedJobRecord(deps, input.jobId);
  const descriptor = await descriptorFor(deps, record, input.index);

  const run = await runTask(deps, record, descriptor, input);
  const writeStarted = performance.now();
  const rows = run.refused ? 0 : await stageRows(deps.store, record, input, run.outcome);
  const receipt = miniBatchReceiptSchema.parse({
    index: input.index,
    attempt: input.attempt,
    status: run.outcome.status,
    items: run.outcome.items,
    succeeded: run.outcome.succeeded,
    failed: run.outcome.failed,
    rows,
    ...(run.outcome.code ? { code: run.outcome.code } : {}),
    ...(run.outcome.message ? { message: capMessage(run.outcome.message) } : {}),
    retryable: run.outcome.retryable,
    durationMs: performance.now() - started,
  } satisfies MiniBatchReceipt);
  await writeAttemptLogs(deps, input, startedAt, run, receipt);

  const { outcome } = run;
  const threadId = numericThreadId(outcome.workerId);
  return {
    receipt,
    // An attempt that failed as a whole is reported as its mini-batch; its bad records stay in their log.
    failedItems: [
      ...(outcome.status === 'failed' ? [] : badRecordItems(run.badRecords)),
      // A record may hold values JSON cannot write as they are (Parquet's int64 beyond 2^53, bytes).
      ...outcome.failedItems.map(({ item, error }) => ({ item: jsonSafe(item), error })),
    ],
    warnings: outcome.warnings,
    ...(run.published ? { outputFiles: run.published } : {}),
    startedAt,
    ...(threadId !== undefined && Number.isInteger(threadId) ? { workerId: threadId } : {}),
    ...(outcome.workerId ? { worker: outcome.workerId } : {}),
    ...(run.modulePath ? { modulePath: run.modulePath } : {}),
    unattributedFailures: outcome.unattributedFailures,
    timings: {
      readMs: run.readMs,
      queuedMs: outcome.timings.queuedMs,
      initMs: outcome.timings.initMs,
      runMs: outcome.timings.runMs,
      writeMs: performance.now() - writeStarted,
      totalMs: performance.now() - started,
    },
  };
}

/** Checks the places and the task module, reads the data, and runs the task on it when there is any. */
async function runTask(
  deps: RunMiniBatchDeps,
  record: JobRecord,
  descriptor: MiniBatchDescriptor,
  input: { index: number; attempt: number },
): Promise<TaskRun> {
  const refused = refusedPlace(deps, record, descriptor);
  if (refused) {
    const outcome = failedBeforeRun(AttemptCodes.dataPlaceRefused, refused, false, itemCount(descriptor));
    return { outcome, badRecords: [], readMs: 0, refused };
  }
  let modulePath: string;
  try {
    modulePath = resolveTaskModule(record.tasksRoot, record.job.task.code, record.job.task.entryScript);
  } catch (error) {
    if (!(error instanceof TaskPathError)) throw error;
    const outcome = failedBeforeRun(error.code, error.message, false, itemCount(descriptor));
    return { outcome, badRecords: [], readMs: 0 };
  }
  const python = isPythonModule(modulePath);
  // A Python attempt's data goes on disk, in a folder of its own (removed below, whatever happens).
  const attemptDir = python
    ? path.join(
        deps.workDir,
        'attempts',
        `${record.jobId}-${input.index}-${input.attempt}-${randomBytes(4).toString('hex')}`,
      )
    : undefined;
  try {
    const readStarted = performance.now();
    const read = await readForAttempt(deps, record, descriptor, attemptDir);
    const readMs = performance.now() - readStarted;
    let outcome = read.outcome;
    let badRecords = read.badRecords;
    if (read.batch && read.localInputs) {
      const { settings } = record.job;
      const job = jobContext(record, read.localInputs);
      // Decoding Parquet row groups in the worker keeps every row alive until run() ends: the capped young
      // generation would copy them over and over (1.32x against the reader alone, 1.16x with V8's own;
      // bench/parquet-read.js, bench/RESULTS.md), so those workers get V8's.
      const heap = read.batch.kind === 'parquet' ? { maxYoungGenerationSizeMb: 0 } : {};
      const pool = deps.pools.poolFor(modulePath, settings.maxConcurrencyPerInstance, job, heap);
      outcome = await pool.runAttempt({
        job,
        batch: read.batch,
        miniBatchIndex: input.index,
        attempt: input.attempt,
        timeoutSeconds: settings.timeoutSeconds,
        appendRows: record.appendRow !== undefined,
      });
      // A Parquet batch decoded in the worker: its failed row groups are known now.
      if (outcome.decoded) {
        badRecords = outcome.decoded.badRowGroups;
        if (!outcome.decoded.ran) {
          outcome = badDataOutcome(record, badRecords, outcome.decoded.items) ?? noRecordsOutcome();
        }
      }
    }
    const published = await publishAttemptFiles(
      deps,
      record,
      input,
      outcome!,
      () => deps.maxOutputBytesPerAttempt,
    );
    const warned = published.warnings.length
      ? {
          ...published.outcome,
          warnings: [...published.outcome.warnings, ...published.warnings],
          log:
            published.outcome.log +
            published.warnings.map((warning) => `${new Date().toISOString()} WARNING ${warning}\n`).join(''),
        }
      : published.outcome;
    return {
      outcome: withBadRecords(warned, badRecords),
      badRecords,
      modulePath,
      readMs,
      ...(published.published ? { published: published.published } : {}),
    };
  } finally {
    if (attemptDir) await rm(attemptDir, { recursive: true, force: true });
  }
}

/** The side inputs on this host's disk, by name (downloaded into the cache the first time). */
async function localSideInputs(deps: RunMiniBatchDeps, record: JobRecord): Promise<Record<string, string>> {
  const local: Record<string, string> = {};
  const cache = deps.sideInputCache;
  for (const input of record.sideInputs ?? []) {
    // The record is read back from storage: its places are checked again under today's settings.
    deps.access.assert(input.location, 'read', `inputs.${input.name}.path`);
    local[input.name] = await cache.localPath(deps.store, input);
  }
  return local;
}

interface AttemptData {
  batch?: BatchData;
  localInputs?: Record<string, string>;
  outcome?: AttemptOutcome;
  badRecords: BadData[];
}

/**
 * The attempt's data, or the outcome that replaces running the task: an input that cannot be read, a
 * table whose bad records fail the mini-batch (on_bad_record: fail_mini_batch), or one with no good record.
 * With `attemptDir` (a Python task), the data is put on disk there.
 */
async function readForAttempt(
  deps: RunMiniBatchDeps,
  record: JobRecord,
  descriptor: MiniBatchDescriptor,
  attemptDir: string | undefined,
): Promise<AttemptData> {
  let read: ReadBatch;
  let localInputs: Record<string, string>;
  try {
    localInputs = await localSideInputs(deps, record);
    read = await buildBatch(deps.store, record, descriptor, {
      maxRecordBytes: deps.maxRecordBytes,
      keepText: attemptDir !== undefined,
      failOnBadRowGroup: record.job.settings.onBadRecord === 'fail_mini_batch',
    });
    if (attemptDir !== undefined) {
      read = {
        ...read,
        batch: await pythonBatch(
          deps.store,
          record.plan.input,
          read.batch,
          read.parquet ? { format: 'parquet', reads: read.parquet } : read.tables,
          attemptDir,
        ),
      };
    }
  } catch (error) {
    // Transient faults are retried by the caller; a missing or malformed input is this attempt's failure.
    if (!(error instanceof ParallelJobError) || error.retryable) throw error;
    // A missing input may appear before the retry; a changed one stays changed, and a table (or a
    // Parquet footer) that cannot be parsed fails the same way again.
    const outcome = failedBeforeRun(
      error.code,
      `The mini-batch's input could not be read: ${error.message}`,
      !(
        error instanceof InputChangedError ||
        error instanceof TabularParseError ||
        error instanceof ParquetFileError
      ),
      itemCount(descriptor),
    );
    return { outcome, badRecords: [] };
  }
  const { batch, badRecords } = read;
  const goodRecords =
    batch.kind === 'records' ? batch.records.length : batch.kind === 'table' ? batch.count : 0;
  const outcome = badDataOutcome(record, badRecords, goodRecords);
  return outcome ? { outcome, badRecords } : { batch, localInputs, badRecords };
}

/**
 * The outcome that replaces running the task when a table's bad data decides it, or undefined: bad data
 * under on_bad_record: fail_mini_batch, or no good record at all. (For CSV and JSON Lines the activity
 * decides before the run; for Parquet decoded in the worker, after it, with the worker's findings.)
 */
function badDataOutcome(
  record: JobRecord,
  badRecords: readonly BadData[],
  goodRecords: number,
): AttemptOutcome | undefined {
  if (badRecords.length === 0) return undefined;
  if (record.job.settings.onBadRecord === 'fail_mini_batch') {
    const first = badRecords[0]!;
    const error = new TabularParseError(
      first.blob,
      describeBadRecord(first).replace(` of '${first.blob}'`, '') +
        (badRecords.length > 1
          ? `, and ${badRecords.length - 1} more bad ${'rowGroup' in first ? 'row groups' : 'records'}`
          : ''),
    );
    // Not retried: the same bytes fail the same way.
    return failedBeforeRun(
      error.code,
      `${error.message} (on_bad_record: fail_mini_batch; fail_item would run the other records)`,
      false,
      goodRecords,
    );
  }
  // Nothing parsed: there is nothing to run.
  return goodRecords === 0 ? noRecordsOutcome() : undefined;
}

/** Stages the attempt's append_row rows as its block of the output blob; returns how many. */
async function stageRows(
  store: BlobStore,
  record: JobRecord,
  input: { index: number; attempt: number },
  outcome: AttemptOutcome,
): Promise<number> {
  const target = appendRowBlobFor(record, input.index);
  if (!target || outcome.status === 'failed' || outcome.rows === 0) return 0;
  const blockId = outputBlockId(record.generation, input.index, input.attempt);
  await store.ensureContainer(target.container);
  await store.stageBlock(target.container, target.blob, blockId, Buffer.from(outcome.rowsText, 'utf8'));
  return outcome.rows;
}

/** The attempt's bad-records log and its log, which a silent attempt that succeeded goes without. */
async function writeAttemptLogs(
  deps: RunMiniBatchDeps,
  input: { jobId: string; index: number; attempt: number },
  startedAt: string,
  run: TaskRun,
  receipt: MiniBatchReceipt,
): Promise<void> {
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const { outcome, badRecords } = run;
  let badNote = '';
  if (badRecords.length > 0) {
    const badLog = folder.badRecords(input.index, input.attempt);
    await store.write(logsContainer, badLog, badRecordsLog(badRecords), {
      contentType: 'application/x-ndjson; charset=utf-8',
    });
    const listed = Math.min(badRecords.length, MAX_BAD_RECORDS_LISTED);
    const n = badRecords.length;
    const rows = badRecords.reduce((sum, entry) => sum + failedRowsOf(entry), 0);
    const what =
      'rowGroup' in badRecords[0]!
        ? `${n} row group${n === 1 ? '' : 's'} could not be read and ${n === 1 ? 'its' : 'their'} ${rows} row${rows === 1 ? ' is a failed item' : 's are failed items'}`
        : `${n} bad record${n === 1 ? '' : 's'} did not parse and ${n === 1 ? 'is a failed item' : 'are failed items'}`;
    badNote =
      `${startedAt} WARNING ${what}; ${listed === n ? 'all' : `the first ${listed}`} ` +
      `listed in ${badLog.slice(folder.root.length)} (first: ${describeBadRecord(badRecords[0]!)})\n`;
  }
  // A silent attempt that succeeded has nothing to read beyond its record (processed_mini_batches.csv):
  // no log, so that such a mini-batch costs one write (its rows) and not two.
  if (outcome.log === '' && receipt.status === 'succeeded' && badNote === '') return;
  const header =
    `${startedAt} INFO mini-batch ${input.index} attempt ${input.attempt} of job ${input.jobId}` +
    `${outcome.workerId ? ` on worker ${outcome.workerId}` : ''}: ${outcome.items} items\n` +
    badNote;
  const footer =
    `${new Date().toISOString()} INFO ${receipt.status}: ${receipt.succeeded} succeeded, ${receipt.failed} failed, ${receipt.rows} rows` +
    `${receipt.code ? ` (${receipt.code})` : ''}\n`;
  await store.write(
    logsContainer,
    folder.attemptLog(input.index, input.attempt),
    header + outcome.log + footer,
    {
      contentType: 'text/plain; charset=utf-8',
    },
  );
}
