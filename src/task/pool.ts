/**
 * Warm task pools: one per task module (and per job configuration that `init()` sees), with
 * `max_concurrency_per_instance` warm workers reused across mini-batches and jobs in this process. The
 * attempt's lifecycle lives here, once for every language: the pool arms the init and run deadlines and
 * stops a worker past them, counts init failures until the task is broken, and turns what the worker
 * answered (or how it died) into the attempt's outcome. The workers themselves are threads.ts (JavaScript,
 * TypeScript) or python/pythonWorkers.ts (Python).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FailedItem } from './contract';
import type {
  DecodedRows,
  AttemptResult,
  BatchData,
  JobContextData,
  ShutdownResult,
  WorkerStorageAccess,
} from './protocol';
import { PythonWorkers } from './python/pythonWorkers';
import { isPythonModule } from './resolve';
import { capMessage, countResults } from './results';
import { ThreadWorkers } from './threads';
import { WorkerLostError, logLine, type AttemptEvents, type LanguageWorkers } from './workers';
import { AttemptCodes } from '../failureCodes';

export type { BatchData, JobContextData, WorkerStorageAccess } from './protocol';
export { DEFAULT_WORKER_YOUNG_GENERATION_MB } from './threads';

export interface TaskPoolOptions {
  /** Real path of the task module (from resolveTaskModule): `.py` runs on Python processes, the rest on threads. */
  modulePath: string;
  /** Warm workers: `max_concurrency_per_instance`. */
  maxConcurrency: number;
  storage?: WorkerStorageAccess;
  /** The pool's folder for its workers' folders, removed when the pool closes; default a new temporary folder. */
  poolDir?: string;
  /** The interpreter for Python tasks (PARALLEL_JOB_PYTHON). Default `python3`. */
  python?: string;
  /** V8 old-space limit per worker thread; a worker that exceeds it dies and fails only its attempt. */
  maxOldGenerationSizeMb?: number;
  /** V8 young-generation limit per worker thread; 0 leaves V8's own. */
  maxYoungGenerationSizeMb?: number;
  /** Consecutive init() failures after which the task is declared broken (TASK_BROKEN). Default 3. */
  maxInitFailures?: number;
  /** Time a run() that honours ctx.signal gets to settle before its worker is terminated. Default 500 ms. */
  abortGraceMs?: number;
  /** Captured log text per attempt before truncation. Default 8 MiB. */
  maxLogBytes?: number;
}

export interface AttemptRequest {
  job: JobContextData;
  batch: BatchData;
  miniBatchIndex: number;
  attempt: number;
  /** `retry_settings.timeout`: one run() may take this long. init() gets 3 x this + 30 s, as in Azure ML. */
  timeoutSeconds: number;
  /** True with append_row: the returned elements are serialized as rows. */
  appendRows: boolean;
}

export interface AttemptOutcome {
  status: 'succeeded' | 'partial' | 'failed';
  items: number;
  succeeded: number;
  failed: number;
  /** Number of returned elements (rows), also when longer than the mini-batch; 0 when failed. */
  rows: number;
  /** The rows, each newline-terminated (empty unless appendRows). */
  rowsText: string;
  code?: string;
  message?: string;
  retryable: boolean;
  /** `<pid>-<threadId>` of the worker thread, or `<pid>` of the Python process, that ran it. */
  workerId?: string;
  /** Items named by ctx.fail, with their reasons. */
  failedItems: FailedItem[];
  /** Failures counted from a short result that no ctx.fail call named. */
  unattributedFailures: number;
  warnings: string[];
  /** The captured log, newline-terminated lines. */
  log: string;
  /** The files the attempt wrote in its output and log folders; the caller publishes or removes them. */
  files?: string;
  /** For a Parquet batch, what the worker decoded (its items and failed row groups). */
  decoded?: DecodedRows;
  timings: { queuedMs: number; initMs: number; runMs: number; totalMs: number };
}

function batchSize(batch: BatchData): number {
  switch (batch.kind) {
    case 'files':
      return batch.files.length;
    case 'paths':
      return batch.paths.length;
    case 'table':
      return batch.count;
    case 'parquet':
      return batch.parts.reduce((sum, part) => sum + part.rows, 0);
    default:
      return batch.records.length;
  }
}

/** An attempt that produced no result: every item failed. */
export function failedOutcome(fields: {
  items: number;
  code: string;
  message: string;
  retryable: boolean;
  log?: string;
  totalMs?: number;
}): AttemptOutcome {
  return {
    status: 'failed',
    items: fields.items,
    succeeded: 0,
    failed: fields.items,
    rows: 0,
    rowsText: '',
    code: fields.code,
    message: capMessage(fields.message),
    retryable: fields.retryable,
    failedItems: [],
    unattributedFailures: 0,
    warnings: [],
    log: fields.log ?? '',
    timings: { queuedMs: 0, initMs: 0, runMs: 0, totalMs: fields.totalMs ?? 0 },
  };
}

/** The outcome of an attempt whose run() returned: its items counted against the results. */
function succeededOutcome(
  items: number,
  result: Extract<AttemptResult, { ok: true }>,
  timings: AttemptOutcome['timings'],
): AttemptOutcome {
  const counts = countResults(items, result.resultLength, result.failedItems.length);
  const unattributedFailures = counts.failed - Math.min(result.failedItems.length, items);
  return {
    status: counts.status,
    items,
    succeeded: counts.succeeded,
    failed: counts.failed,
    rows: result.resultLength,
    rowsText: result.rows,
    ...(counts.failed > 0
      ? {
          message: capMessage(
            `${counts.failed} of ${items} items failed` +
              (result.failedItems.length ? ` (${result.failedItems.length} named by ctx.fail)` : '') +
              (unattributedFailures ? `; run() returned ${result.resultLength} results` : ''),
          ),
        }
      : {}),
    retryable: true,
    failedItems: result.failedItems,
    unattributedFailures,
    warnings: result.warnings,
    log: '',
    ...(result.files ? { files: result.files } : {}),
    timings,
  };
}

export class TaskPool {
  readonly modulePath: string;
  readonly maxConcurrency: number;
  private readonly workers: LanguageWorkers;
  private readonly poolDir: string;
  private readonly maxInitFailures: number;
  private readonly abortGraceMs: number;
  private readonly maxLogBytes: number;
  private consecutiveInitFailures = 0;
  private brokenMessage: string | undefined;
  private active = 0;
  private closed = false;
  lastUsed = Date.now();

  constructor(options: TaskPoolOptions) {
    this.modulePath = options.modulePath;
    this.maxConcurrency = options.maxConcurrency;
    this.maxInitFailures = options.maxInitFailures ?? 3;
    this.abortGraceMs = options.abortGraceMs ?? 500;
    this.maxLogBytes = options.maxLogBytes ?? 8 * 1024 * 1024;
    this.poolDir = options.poolDir ?? mkdtempSync(path.join(os.tmpdir(), 'parallel-job-pool-'));
    mkdirSync(this.poolDir, { recursive: true });
    const common = {
      modulePath: options.modulePath,
      maxConcurrency: options.maxConcurrency,
      poolDir: this.poolDir,
    };
    this.workers = isPythonModule(options.modulePath)
      ? new PythonWorkers({ ...common, python: options.python ?? 'python3' })
      : new ThreadWorkers({
          ...common,
          ...(options.storage ? { storage: options.storage } : {}),
          ...(options.maxOldGenerationSizeMb
            ? { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb }
            : {}),
          ...(options.maxYoungGenerationSizeMb !== undefined
            ? { maxYoungGenerationSizeMb: options.maxYoungGenerationSizeMb }
            : {}),
        });
  }

  /** Attempts running or queued right now. */
  get busy(): number {
    return this.active;
  }

  /** Runs one attempt. Never throws for task failures: they come back as a failed outcome. */
  async runAttempt(request: AttemptRequest): Promise<AttemptOutcome> {
    this.active += 1;
    this.lastUsed = Date.now();
    try {
      return await this.execute(request);
    } finally {
      this.active -= 1;
      this.lastUsed = Date.now();
    }
  }

  // One attempt's lifecycle stays in one function: the events, the deadline timer, the worker call and the
  // outcome share its state (deadline, expired phase, worker id, log lines).
  private async execute(request: AttemptRequest): Promise<AttemptOutcome> {
    // A Parquet batch's items are the rows that decode, known once the worker has decoded them.
    let items = batchSize(request.batch);
    const started = performance.now();
    const lines: string[] = [];
    const failure = (code: string, message: string, retryable = true): AttemptOutcome =>
      failedOutcome({ items, code, message, retryable, totalMs: performance.now() - started });
    if (this.brokenMessage !== undefined) return failure(AttemptCodes.taskBroken, this.brokenMessage, false);
    if (this.closed) throw new Error('The task pool was closed while an attempt was submitted to it.');

    const timeoutMs = request.timeoutSeconds * 1000;
    const controller = new AbortController();
    let deadline: NodeJS.Timeout | undefined;
    let expired: 'init' | 'run' | undefined;
    let workerId: string | undefined;
    let phaseAt: number | undefined;
    let settled = false;
    const arm = (phase: 'init' | 'run', ms: number): void => {
      clearTimeout(deadline);
      // Events can arrive after the result: a finished attempt needs no deadline.
      if (settled) return;
      deadline = setTimeout(() => {
        expired = phase;
        controller.abort(new Error(`the attempt passed its ${phase} deadline`));
      }, ms);
    };
    const events: AttemptEvents = {
      log: (line) => lines.push(line),
      phase: (phase, id) => {
        workerId = id;
        phaseAt ??= performance.now();
        if (phase === 'init') arm('init', 3 * timeoutMs + 30_000);
        else arm('run', timeoutMs + this.abortGraceMs);
      },
    };

    let result: AttemptResult | undefined;
    let crash: unknown;
    try {
      result = await this.workers.run(
        {
          job: request.job,
          batch: request.batch,
          miniBatchIndex: request.miniBatchIndex,
          attempt: request.attempt,
          timeoutMs,
          serializeRows: request.appendRows,
          maxLogBytes: this.maxLogBytes,
        },
        events,
        controller.signal,
      );
    } catch (error) {
      crash = error;
    } finally {
      settled = true;
      clearTimeout(deadline);
    }

    const queuedMs = (phaseAt ?? performance.now()) - started;
    const timings = (initMs = 0, runMs = 0) => ({
      queuedMs,
      initMs,
      runMs,
      totalMs: performance.now() - started,
    });
    const withLog = (outcome: AttemptOutcome, note?: string): AttemptOutcome => {
      if (note) lines.push(logLine('ERROR', note));
      return {
        ...outcome,
        log: lines.length ? `${lines.join('\n')}\n` : '',
        ...(workerId ? { workerId } : {}),
      };
    };

    if (!result) {
      if (expired === 'run') {
        const message = `run() did not finish within the timeout of ${request.timeoutSeconds} s (retry_settings.timeout); its worker was stopped`;
        return withLog({ ...failure(AttemptCodes.timeout, message), timings: timings() }, message);
      }
      if (expired === 'init') {
        const message = `init() did not finish within ${(3 * timeoutMs + 30_000) / 1000} s (3 x retry_settings.timeout + 30 s); its worker was stopped`;
        return withLog(this.initFailed(failure, message, timings()), message);
      }
      const message =
        crash instanceof WorkerLostError
          ? crash.message
          : `The worker stopped unexpectedly: ${crash instanceof Error ? crash.message : String(crash)}`;
      return withLog({ ...failure(AttemptCodes.workerCrashed, message), timings: timings() }, message);
    }

    workerId = result.workerId;
    const decoded = result.decoded ? { decoded: result.decoded } : {};
    if (result.decoded) items = result.decoded.items;
    const workerTimings = timings(result.initMs, result.runMs);
    if (result.initRan) this.consecutiveInitFailures = 0;
    const files = result.files ? { files: result.files } : {};
    if (!result.ok)
      return withLog({ ...this.failedResultOutcome(result, failure, workerTimings), ...files, ...decoded });
    return withLog({ ...succeededOutcome(items, result, workerTimings), ...decoded });
  }

  /** The outcome of an attempt whose task code failed: init() or run() threw, or run() returned a bad result. */
  private failedResultOutcome(
    result: Extract<AttemptResult, { ok: false }>,
    failure: (code: string, message: string, retryable?: boolean) => AttemptOutcome,
    timings: AttemptOutcome['timings'],
  ): AttemptOutcome {
    if (result.code === AttemptCodes.taskBroken) {
      this.brokenMessage = capMessage(result.message);
      return { ...failure(result.code, result.message, false), warnings: result.warnings, timings };
    }
    // Deterministic: the blob stays changed, so a retry would fail the same way.
    if (result.code === AttemptCodes.inputChanged)
      return { ...failure(result.code, result.message, false), warnings: result.warnings, timings };
    if (result.code === AttemptCodes.initFailed) return this.initFailed(failure, result.message, timings);
    return { ...failure(result.code, result.message), warnings: result.warnings, timings };
  }

  private initFailed(
    failure: (code: string, message: string, retryable?: boolean) => AttemptOutcome,
    message: string,
    timings: AttemptOutcome['timings'],
  ): AttemptOutcome {
    this.consecutiveInitFailures += 1;
    if (this.consecutiveInitFailures >= this.maxInitFailures) {
      this.brokenMessage = capMessage(
        `init() failed ${this.consecutiveInitFailures} times in a row; the task is broken. Last error: ${message}`,
      );
      return { ...failure(AttemptCodes.taskBroken, this.brokenMessage, false), timings };
    }
    return { ...failure(AttemptCodes.initFailed, message), timings };
  }

  /**
   * Calls `shutdown()` once in every warm worker, then stops them. Attempts still running are awaited
   * first.
   */
  async close(waitMs = 5000): Promise<ShutdownResult[]> {
    if (this.closed) return [];
    this.closed = true;
    try {
      return await this.workers.close(waitMs);
    } finally {
      this.removePoolDir();
    }
  }

  /** Stops every worker at once, without shutdown(). */
  async destroy(): Promise<void> {
    this.closed = true;
    try {
      await this.workers.destroy();
    } finally {
      this.removePoolDir();
    }
  }

  private removePoolDir(): void {
    rmSync(this.poolDir, { recursive: true, force: true });
  }
}

export interface TaskPoolsOptions extends Pick<
  TaskPoolOptions,
  | 'storage'
  | 'maxOldGenerationSizeMb'
  | 'maxYoungGenerationSizeMb'
  | 'maxInitFailures'
  | 'abortGraceMs'
  | 'maxLogBytes'
  | 'python'
> {
  /** A pool without attempts for this long is closed (shutdown() runs). Default 10 minutes. */
  idleMs?: number;
  /** Where pools keep their folders; each pool gets its own inside it, removed when it closes. */
  workDir?: string;
}

/**
 * The process's pools, one per (module file and its modification time, concurrency, what init() sees).
 * Editing a task file locally therefore gives fresh workers; two runs of the same job share warm ones.
 */
export class TaskPools {
  private readonly pools = new Map<string, TaskPool>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: TaskPoolsOptions = {}) {
    const idleMs = options.idleMs ?? 10 * 60_000;
    this.sweeper = setInterval(() => void this.closeIdle(idleMs), Math.min(idleMs, 60_000));
    this.sweeper.unref();
  }

  /**
   * The warm pool for this task and job. `heap` overrides the pools' worker heap limits for this job's
   * workers (and makes them a pool of their own).
   */
  poolFor(
    modulePath: string,
    maxConcurrency: number,
    job: JobContextData,
    heap: Pick<TaskPoolOptions, 'maxYoungGenerationSizeMb'> = {},
  ): TaskPool {
    const key = `${TaskPools.keyOf(modulePath, maxConcurrency, job)}|${heap.maxYoungGenerationSizeMb ?? ''}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const { workDir, idleMs: _idleMs, ...options } = this.options;
      const poolDir = workDir ? TaskPools.newPoolDir(workDir) : undefined;
      pool = new TaskPool({
        ...options,
        ...heap,
        modulePath,
        maxConcurrency,
        ...(poolDir ? { poolDir } : {}),
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  get size(): number {
    return this.pools.size;
  }

  private static newPoolDir(workDir: string): string {
    mkdirSync(workDir, { recursive: true });
    return mkdtempSync(path.join(workDir, 'pool-'));
  }

  private static keyOf(modulePath: string, maxConcurrency: number, job: JobContextData): string {
    // Everything init() sees: a changed side input (a new cache folder) or argument gives fresh workers.
    const { jobId: _jobId, ...initView } = job;
    const initHash = createHash('sha256').update(JSON.stringify(initView)).digest('hex');
    return `${modulePath}|${statSync(modulePath).mtimeMs}|${maxConcurrency}|${initHash}`;
  }

  async closeIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    for (const [key, pool] of this.pools) {
      if (pool.busy === 0 && now - pool.lastUsed >= idleMs) {
        this.pools.delete(key);
        await pool.close();
      }
    }
  }

  /** Drains every pool (shutdown() in each warm worker) and stops the sweeper. */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}
