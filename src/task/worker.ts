/**
 * The body of every pool worker (a piscina handler). It loads the task module once, runs `init()` on
 * the worker's first attempt, then `run()` per attempt, and reports the outcome as data. It must stay
 * free of imports that would need the main thread's module system: node built-ins, and the Azure SDK
 * loaded lazily for file handles.
 */
import { threadId, workerData as rawWorkerData } from 'node:worker_threads';
import { formatWithOptions } from 'node:util';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobServiceClient } from '@azure/storage-blob';
import type {
  FailedItem,
  FileHandle,
  InitContext,
  MiniBatchContext,
  MiniBatchItem,
  TaskLogLevel,
  TaskLogger,
  TabularRecord,
  TaskModule,
} from './contract';
import type {
  AttemptResult,
  DecodedRows,
  AttemptTask,
  BatchData,
  JobContextData,
  PortMessage,
  ShutdownResult,
  ShutdownTask,
  WorkerData,
  WorkerFailureCode,
  WorkerTask,
} from './protocol';
import type { BadRowGroup } from '../plan/parquetRows';
import { parseProgramArguments, workerArgv } from './args';
import { serializeRows } from './results';
import { prepareWorkerFolders, takeAttemptFiles, workerFolders, type WorkerFolders } from './workerFolders';
import { AttemptCodes } from '../failureCodes';

const workerData = rawWorkerData as WorkerData;
const workerId = `${process.pid}-${threadId}`;
const LEVELS: Record<TaskLogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };
const MAX_ERROR_CHARS = 1000;

let loaded: TaskModule | undefined;
/** This worker's output and log folders, made at its first attempt. */
let folders: WorkerFolders | undefined;
let initialized = false;
let shutDown = false;

// ---------------------------------------------------------------------------------------------- loading

// A real import() that no compiler turns into require(), for .mjs task modules.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importEsm = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Accepts `module.exports = {run}`, named exports, and a default export object (ESM or compiled). */
function pickTaskModule(exported: unknown): TaskModule | undefined {
  const candidates = [exported, isRecord(exported) ? exported.default : undefined];
  for (const candidate of candidates) {
    if (isRecord(candidate) && typeof candidate.run === 'function') return candidate as unknown as TaskModule;
  }
  return undefined;
}

async function loadTaskModule(modulePath: string): Promise<TaskModule> {
  if (loaded) return loaded;
  const exported: unknown = modulePath.endsWith('.mjs')
    ? await importEsm(pathToFileURL(modulePath).href)
    : // eslint-disable-next-line @typescript-eslint/no-require-imports -- user code is CommonJS (or tsx-compiled) and must share require.cache
      (require(modulePath) as unknown);
  const module = pickTaskModule(exported);
  if (!module) {
    throw new Error(
      `${path.basename(modulePath)} has no run() export: export a function named run (module.exports.run, export function run, or export default { run })`,
    );
  }
  loaded = module;
  return module;
}

/** After a failed init() the next attempt starts from freshly evaluated task code, as a new process would. */
function forgetTaskCode(modulePath: string): void {
  loaded = undefined;
  const folder = path.dirname(modulePath) + path.sep;
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(folder) && !key.includes(`${path.sep}node_modules${path.sep}`))
      delete require.cache[key];
  }
}

// ---------------------------------------------------------------------------------------------- logging

interface AttemptLog {
  logger: TaskLogger;
  log(...values: unknown[]): void;
  warn(message: string): void;
}

function createAttemptLog(task: AttemptTask, warnings: string[]): AttemptLog {
  const threshold = LEVELS[task.job.loggingLevel];
  let bytes = 0;
  let truncated = false;
  const write = (level: TaskLogLevel, values: unknown[]): void => {
    if (LEVELS[level] < threshold || truncated) return;
    let line = `${new Date().toISOString()} ${level} ${formatWithOptions({ colors: false }, ...values)}`;
    bytes += Buffer.byteLength(line) + 1;
    if (bytes > task.maxLogBytes) {
      truncated = true;
      line = `${new Date().toISOString()} WARNING log truncated: this attempt wrote more than ${task.maxLogBytes} bytes`;
    }
    const message: PortMessage = { type: 'log', line };
    task.port.postMessage(message);
  };
  const logger: TaskLogger = {
    debug: (...values) => write('DEBUG', values),
    info: (...values) => write('INFO', values),
    warn: (...values) => write('WARNING', values),
    error: (...values) => write('ERROR', values),
  };
  return {
    logger,
    log: (...values) => logger.info(...values),
    warn(message) {
      warnings.push(message);
      write('WARNING', [message]);
    },
  };
}

type ConsoleMethod = 'log' | 'info' | 'debug' | 'trace' | 'warn' | 'error';
const CONSOLE_LEVELS: Record<ConsoleMethod, keyof TaskLogger> = {
  log: 'info',
  info: 'info',
  debug: 'debug',
  trace: 'debug',
  warn: 'warn',
  error: 'error',
};

/** Routes console.* into the attempt log while the attempt runs; returns the undo. */
function captureConsole(logger: TaskLogger): () => void {
  const saved = new Map<ConsoleMethod, (...values: unknown[]) => void>();
  for (const method of Object.keys(CONSOLE_LEVELS) as ConsoleMethod[]) {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- restored onto the same object
    saved.set(method, console[method]);
    console[method] = (...values: unknown[]) => logger[CONSOLE_LEVELS[method]](...values);
  }
  return () => {
    for (const [method, original] of saved) console[method] = original;
  };
}

/** Sets the job's environment variables for the attempt; returns the undo. */
function applyEnvironment(variables: Record<string, string>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(variables)) {
    previous.set(name, process.env[name]);
    process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

// ------------------------------------------------------------------------------------------ file handles

const services = new Map<string, Promise<BlobServiceClient>>();

function sameAccount(a: string, b: string): boolean {
  return a.replace(/\/+$/, '').toLowerCase() === b.replace(/\/+$/, '').toLowerCase();
}

function createService(accountUrl: string): BlobServiceClient {
  // Loaded on first use: a warm pool running tabular or no-op tasks never pays for the SDK.
  const { BlobServiceClient: Client } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@azure/storage-blob') as typeof import('@azure/storage-blob');
  const { connectionString, managedIdentityClientId } = workerData.storage;
  if (connectionString) {
    const fromConnection = Client.fromConnectionString(connectionString);
    if (sameAccount(fromConnection.url, accountUrl)) return fromConnection;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
  const credential = new DefaultAzureCredential(managedIdentityClientId ? { managedIdentityClientId } : {});
  return new Client(accountUrl, credential);
}

function serviceFor(accountUrl: string): Promise<BlobServiceClient> {
  let service = services.get(accountUrl);
  if (!service) {
    service = Promise.resolve().then(() => createService(accountUrl));
    services.set(accountUrl, service);
  }
  return service;
}

/** Whether a storage error is the answer to a read pinned to a version that is no longer there. */
function isVersionMismatch(error: unknown): boolean {
  return (error as { statusCode?: unknown } | null)?.statusCode === 412;
}

/**
 * A file of the mini-batch. Reads are pinned to the version the plan listed (`etag`): when the blob has
 * changed since, the read throws and `changed` learns its name, so the attempt fails with INPUT_CHANGED
 * whatever run() does with the error.
 */
function createFileHandle(
  location: { accountUrl: string; container: string },
  file: { name: string; size: number; etag?: string },
  changed: Set<string>,
): FileHandle {
  const blob = async () =>
    (await serviceFor(location.accountUrl)).getContainerClient(location.container).getBlobClient(file.name);
  const conditions = file.etag ? { conditions: { ifMatch: file.etag } } : {};
  const pinned = async <T>(read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      if (!isVersionMismatch(error)) throw error;
      changed.add(file.name);
      throw new Error(
        `INPUT_CHANGED: '${file.name}' changed after the job was planned; the job reads only the version it planned`,
      );
    }
  };
  const encodedName = file.name.split('/').map(encodeURIComponent).join('/');
  const buffer = (): Promise<Buffer> =>
    pinned(async () => (await blob()).downloadToBuffer(0, undefined, conditions));
  return {
    name: file.name,
    url: `${location.accountUrl.replace(/\/+$/, '')}/${location.container}/${encodedName}`,
    size: file.size,
    buffer,
    text: async () => (await buffer()).toString('utf8'),
    stream: () =>
      pinned(async () => {
        const response = await (await blob()).download(0, undefined, conditions);
        return response.readableStreamBody as Readable;
      }),
  };
}

/**
 * Parquet's bytes as Buffers, however deep in lists and structs (the reader gives plain Uint8Arrays). Each
 * Buffer shares its bytes (no copy).
 */
function withBuffers(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) value[i] = withBuffers(value[i]);
  } else if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) object[key] = withBuffers(object[key]);
  }
  return value;
}

function buildItems(batch: BatchData, changed: Set<string>): MiniBatchItem[] {
  if (batch.kind === 'files')
    return batch.files.map((file) => createFileHandle(batch.location, file, changed));
  if (batch.kind === 'records') return batch.records;
  // Local paths and table files are what Python tasks take (src/activities/pythonBatch.ts).
  throw new Error(`A JavaScript task cannot take a '${batch.kind}' mini-batch`);
}

// ---------------------------------------------------------------------------------------------- results

function describeError(error: unknown): string {
  let text: string;
  if (error instanceof Error) text = error.stack ?? `${error.name}: ${error.message}`;
  else if (typeof error === 'string') text = error;
  else {
    try {
      text = JSON.stringify(error) ?? String(error);
    } catch {
      text = String(error);
    }
  }
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

function shortError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return describeError(error);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

// ---------------------------------------------------------------------------------------------- attempt

function post(task: AttemptTask, message: PortMessage): void {
  task.port.postMessage(message);
}

async function runAttempt(task: AttemptTask): Promise<AttemptResult> {
  const result = await attemptOnce(task);
  // Moved aside before this worker can take another attempt; the pool's caller publishes them.
  const files = folders ? takeAttemptFiles(folders, workerData.poolDir, workerId) : undefined;
  post(task, { type: 'end' });
  task.port.close();
  return files ? { ...result, files } : result;
}

async function attemptOnce(task: AttemptTask): Promise<AttemptResult> {
  const warnings: string[] = [];
  const attemptLog = createAttemptLog(task, warnings);
  const restoreConsole = captureConsole(attemptLog.logger);
  const restoreEnvironment = applyEnvironment(task.job.environmentVariables);
  const base = { workerId, initRan: false, initMs: 0, runMs: 0, warnings };
  const fail = (code: WorkerFailureCode, message: string): AttemptResult => ({
    ...base,
    ok: false,
    code,
    message,
  });
  try {
    let module: TaskModule;
    try {
      module = await loadTaskModule(workerData.modulePath);
    } catch (error) {
      attemptLog.logger.error(`could not load the task module: ${describeError(error)}`);
      return fail(AttemptCodes.taskBroken, `The task module could not be loaded: ${shortError(error)}`);
    }
    if (!folders) {
      folders = workerFolders(workerData.poolDir, workerId, task.job);
      prepareWorkerFolders(folders);
    }
    const initContext = buildInitContext(task.job, folders, attemptLog);
    if (!initialized) {
      post(task, { type: 'phase', phase: 'init', workerId });
      const started = performance.now();
      try {
        await module.init?.(initContext);
      } catch (error) {
        base.initMs = performance.now() - started;
        attemptLog.logger.error(`init() failed: ${describeError(error)}`);
        forgetTaskCode(workerData.modulePath);
        return fail(AttemptCodes.initFailed, `init() failed: ${shortError(error)}`);
      }
      base.initMs = performance.now() - started;
      base.initRan = true;
      initialized = true;
    }
    return await runOnce(task, module, initContext, attemptLog, base);
  } finally {
    restoreEnvironment();
    restoreConsole();
  }
}

/** What init() sees: the arguments and paths as this worker has them (its own output folders). */
function buildInitContext(job: JobContextData, own: WorkerFolders, attemptLog: AttemptLog): InitContext {
  const inputs = Object.fromEntries(
    Object.entries(job.inputs).map(([name, input]) => {
      const localPath = job.localInputs[name];
      return [name, typeof input === 'object' && localPath !== undefined ? { ...input, localPath } : input];
    }),
  );
  const outputs = Object.fromEntries(
    Object.entries(job.outputs).map(([name, output]) => {
      const dir = own.outputs[name];
      return [name, dir === undefined ? output : { ...output, dir }];
    }),
  );
  return {
    args: parseProgramArguments(workerArgv(job, job.localInputs, own.outputs)),
    inputs,
    outputs,
    logDir: own.logDir,
    environmentVariables: job.environmentVariables,
    workerId,
    logger: attemptLog.logger,
    log: (...values) => attemptLog.log(...values),
  };
}

type AttemptBase = { workerId: string; initRan: boolean; initMs: number; runMs: number; warnings: string[] };

/**
 * A Parquet batch's rows, decoded here from the bytes the activity read: what it decoded, and the records
 * to run, or none when run() must not be called (no row decoded, or a failed row group under
 * on_bad_record: fail_mini_batch; the activity then decides the outcome, as for CSV).
 */
async function decodeParquetBatch(
  batch: Extract<BatchData, { kind: 'parquet' }>,
): Promise<{ decoded: DecodedRows; records?: TabularRecord[] }> {
  // Required by the first Parquet batch, not imported: the workers of other tasks start without the
  // reader (about 80 ms). A require, since workers run from src through tsx's CommonJS hook in tests.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { decodeParquetPart } = require('../plan/parquetRows') as typeof import('../plan/parquetRows');
  const records: TabularRecord[] = [];
  const badRowGroups: BadRowGroup[] = [];
  const binary = new Set<string>();
  for (const part of batch.parts) {
    const read = await decodeParquetPart(part);
    // One push per record: spreading a large file's records into push() overflows the call stack.
    for (const record of read.records) records.push(record);
    for (const bad of read.badRowGroups) badRowGroups.push(bad);
    for (const column of read.columns) if (column.binary) binary.add(column.name);
  }
  const ran = records.length > 0 && !(badRowGroups.length > 0 && batch.failOnBadRowGroup);
  const decoded = { items: records.length, badRowGroups, ran };
  if (!ran) return { decoded };
  for (const column of binary) for (const record of records) record[column] = withBuffers(record[column]);
  return { decoded, records };
}

async function runOnce(
  task: AttemptTask,
  module: TaskModule,
  initContext: InitContext,
  attemptLog: AttemptLog,
  base: AttemptBase,
): Promise<AttemptResult> {
  post(task, { type: 'phase', phase: 'run', workerId });
  if (task.batch.kind !== 'parquet') {
    const changed = new Set<string>();
    return runItems(task, module, initContext, attemptLog, base, buildItems(task.batch, changed), changed);
  }
  // Decoding is part of the attempt: its run deadline covers it, its run time does not.
  const { decoded, records } = await decodeParquetBatch(task.batch);
  if (!records) return { ...base, ok: true, resultLength: 0, rows: '', failedItems: [], decoded };
  const result = await runItems(task, module, initContext, attemptLog, base, records, new Set());
  return { ...result, decoded };
}

async function runItems(
  task: AttemptTask,
  module: TaskModule,
  initContext: InitContext,
  attemptLog: AttemptLog,
  base: AttemptBase,
  items: MiniBatchItem[],
  changed: Set<string>,
): Promise<AttemptResult> {
  const positions = itemPositions(task.batch, items);
  const failed = new Map<number, FailedItem>();
  const controller = new AbortController();
  const context: MiniBatchContext = {
    ...initContext,
    jobId: task.job.jobId,
    miniBatchIndex: task.miniBatchIndex,
    attempt: task.attempt,
    ...(task.batch.partitionKeyValue ? { partitionKeyValue: task.batch.partitionKeyValue } : {}),
    signal: controller.signal,
    fail(item, error) {
      const position = positions.get(item);
      if (position === undefined) {
        attemptLog.warn(`ctx.fail() named something that is not an item of this mini-batch; it was ignored`);
        return;
      }
      if (failed.has(position)) return;
      const named = items[position]!;
      failed.set(position, {
        item: task.batch.kind === 'files' ? (named as FileHandle).name : (named as Record<string, unknown>),
        position,
        error: shortError(error),
      });
    },
  };
  const timer = setTimeout(
    () => controller.abort(new Error('the attempt reached its timeout')),
    task.timeoutMs,
  );
  const started = performance.now();
  let result: unknown;
  try {
    result = await module.run(items, context);
  } catch (error) {
    base.runMs = performance.now() - started;
    if (controller.signal.aborted) return timedOut(task, base);
    if (changed.size > 0) return inputChanged(base, changed, attemptLog);
    attemptLog.logger.error(`run() failed: ${describeError(error)}`);
    return {
      ...base,
      ok: false,
      code: AttemptCodes.runFailed,
      message: `run() failed: ${shortError(error)}`,
    };
  } finally {
    clearTimeout(timer);
  }
  base.runMs = performance.now() - started;
  if (controller.signal.aborted) return timedOut(task, base);
  // Even if run() caught the error, what it computed mixed in nothing it should have read.
  if (changed.size > 0) return inputChanged(base, changed, attemptLog);
  return returnedResult(task, result, items.length, failed, attemptLog, base);
}

/** The position of each item of the mini-batch, by the item and, for files, by its name: what ctx.fail() takes. */
function itemPositions(batch: BatchData, items: unknown[]): Map<unknown, number> {
  const positions = new Map<unknown, number>();
  items.forEach((item, position) => {
    positions.set(item, position);
    if (batch.kind === 'files' && !positions.has((item as FileHandle).name)) {
      positions.set((item as FileHandle).name, position);
    }
  });
  return positions;
}

/** The result of a run() that returned: its value checked (an array) and serialized as rows if asked. */
function returnedResult(
  task: AttemptTask,
  result: unknown,
  itemCount: number,
  failed: Map<number, FailedItem>,
  attemptLog: AttemptLog,
  base: { workerId: string; initRan: boolean; initMs: number; runMs: number; warnings: string[] },
): AttemptResult {
  if (!Array.isArray(result)) {
    const message = `run() returned ${typeName(result)}: it must return an array with one element per succeeded item`;
    attemptLog.logger.error(message);
    return { ...base, ok: false, code: AttemptCodes.badResult, message };
  }
  const values = result as unknown[];
  if (values.length > itemCount) {
    attemptLog.warn(
      `run() returned ${values.length} results for ${itemCount} items: succeeded items are capped at ${itemCount}; every result is still written`,
    );
  }
  let rows = '';
  if (task.serializeRows) {
    try {
      rows = serializeRows(values);
    } catch (error) {
      const message = `run() returned rows that cannot be written: ${shortError(error)}`;
      attemptLog.logger.error(message);
      return { ...base, ok: false, code: AttemptCodes.badResult, message };
    }
  }
  return {
    ...base,
    ok: true,
    resultLength: values.length,
    rows,
    failedItems: [...failed.values()].sort((a, b) => a.position - b.position),
  };
}

function inputChanged(
  base: { workerId: string; initRan: boolean; initMs: number; runMs: number; warnings: string[] },
  changed: Set<string>,
  attemptLog: AttemptLog,
): AttemptResult {
  const names = [...changed].map((name) => `'${name}'`).join(', ');
  const message = `The input ${changed.size === 1 ? 'blob' : 'blobs'} ${names} changed after the job was planned, so this mini-batch did not read ${changed.size === 1 ? 'it' : 'them'}: a job reads only the versions it planned. A re-run reads those same versions; start a new job to process the new data.`;
  attemptLog.logger.error(message);
  return { ...base, ok: false, code: AttemptCodes.inputChanged, message };
}

function timedOut(
  task: AttemptTask,
  base: { workerId: string; initRan: boolean; initMs: number; runMs: number; warnings: string[] },
): AttemptResult {
  const message = `run() did not finish within the timeout of ${task.timeoutMs / 1000} s (retry_settings.timeout)`;
  return { ...base, ok: false, code: AttemptCodes.timeout, message };
}

// --------------------------------------------------------------------------------------------- shutdown

// Atomics.waitAsync is in Node 16+ but not in the ES2023 lib typings.
const waitAsync = (
  Atomics as unknown as {
    waitAsync: (...args: [Int32Array, number, number, number]) => { value: Promise<unknown> | string };
  }
).waitAsync;

async function runShutdown(task: ShutdownTask): Promise<ShutdownResult> {
  const counter = new Int32Array(task.barrier);
  Atomics.add(counter, 0, 1);
  const deadline = Date.now() + task.waitMs;
  // Hold this worker until every shutdown task has one, so that no worker takes two.
  while (Atomics.load(counter, 0) < task.participants && Date.now() < deadline) {
    const seen = Atomics.load(counter, 0);
    await waitAsync(counter, 0, seen, Math.max(1, deadline - Date.now())).value;
  }
  Atomics.notify(counter, 0);
  if (!initialized || shutDown || !loaded?.shutdown) return { workerId, ranShutdown: false };
  shutDown = true;
  try {
    await loaded.shutdown();
    return { workerId, ranShutdown: true };
  } catch (error) {
    return { workerId, ranShutdown: true, error: shortError(error) };
  }
}

export default async function handleTask(task: WorkerTask): Promise<AttemptResult | ShutdownResult> {
  return task.type === 'attempt' ? runAttempt(task) : runShutdown(task);
}
