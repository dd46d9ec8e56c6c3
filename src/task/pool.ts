/**
 * Warm worker pools for task modules. One piscina pool per task module (and per job configuration that
 * `init()` sees), `max_concurrency_per_instance` threads, reused across mini-batches and jobs in this
 * process. The pool enforces the timeouts itself: a worker past its deadline is terminated.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { FailedItem } from './contract';
import type {
  AttemptResult,
  AttemptTask,
  BatchData,
  JobContextData,
  PortMessage,
  ShutdownResult,
  ShutdownTask,
  WorkerData,
  WorkerStorageAccess,
  WorkerTask,
} from './protocol';
import { capMessage, countResults } from './results';

export type { BatchData, JobContextData, WorkerStorageAccess } from './protocol';

/** Receipt codes the runtime produces for failed attempts. */
export const TaskFailureCodes = {
  broken: 'TASK_BROKEN',
  initFailed: 'TASK_INIT_FAILED',
  runFailed: 'TASK_RUN_FAILED',
  badResult: 'TASK_BAD_RESULT',
  timeout: 'TASK_TIMEOUT',
  workerCrashed: 'TASK_WORKER_CRASHED',
} as const;

/**
 * Each warm worker has its own V8 heap, and V8 lets an idle worker's young generation stay at the size
 * its busiest moment reached (up to 48 MiB on a 64-bit machine). With 16 workers that alone was about
 * 130 MiB of the host's RSS at 100,000 no-op mini-batches; 16 MiB keeps allocation-heavy tasks within a
 * few percent of the default (bench/worker-heap.js, bench/RESULTS.md).
 */
export const DEFAULT_WORKER_YOUNG_GENERATION_MB = 16;

export interface TaskPoolOptions {
  /** Real path of the task module (from resolveTaskModule). */
  modulePath: string;
  /** Worker threads: `max_concurrency_per_instance`. */
  maxConcurrency: number;
  storage?: WorkerStorageAccess;
  /** V8 old-space limit per worker; a worker that exceeds it dies and fails only its attempt. */
  maxOldGenerationSizeMb?: number;
  /** V8 young-generation limit per worker; 0 leaves V8's own. Default {@link DEFAULT_WORKER_YOUNG_GENERATION_MB}. */
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
  /** `<pid>-<threadId>` of the worker that ran it, when it started. */
  workerId?: string;
  /** Items named by ctx.fail, with their reasons. */
  failedItems: FailedItem[];
  /** Failures counted from a short result that no ctx.fail call named. */
  unattributedFailures: number;
  warnings: string[];
  /** The captured log, newline-terminated lines. */
  log: string;
  timings: { queuedMs: number; initMs: number; runMs: number; totalMs: number };
}

interface Entry {
  filename: string;
  execArgv?: string[];
}

const TYPESCRIPT = /\.(c?ts)$/;

/** From dist the compiled worker runs as is; from src (tests, tsx) it is loaded through tsx. */
function workerEntry(modulePath: string): Entry {
  const compiled = path.join(__dirname, 'worker.js');
  const needsTsx = !existsSync(compiled) || TYPESCRIPT.test(modulePath);
  const filename = existsSync(compiled) ? compiled : path.join(__dirname, 'worker.ts');
  return needsTsx ? { filename, execArgv: ['--require', require.resolve('tsx/cjs')] } : { filename };
}

function batchSize(batch: BatchData): number {
  return batch.kind === 'files' ? batch.files.length : batch.records.length;
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

/** Waits for the worker's end message, at most `ms`. */
async function endOrTimeout(endReceived: Promise<void>, ms: number): Promise<void> {
  let settle: NodeJS.Timeout | undefined;
  await Promise.race([endReceived, new Promise((resolve) => (settle = setTimeout(resolve, ms)))]);
  clearTimeout(settle);
}

/** The message that runs one attempt on a worker; its log lines and phases come back on `port`. */
function attemptTask(
  request: AttemptRequest,
  port: MessagePort,
  timeoutMs: number,
  maxLogBytes: number,
): AttemptTask {
  return {
    type: 'attempt',
    port,
    job: request.job,
    batch: request.batch,
    miniBatchIndex: request.miniBatchIndex,
    attempt: request.attempt,
    timeoutMs,
    serializeRows: request.appendRows,
    maxLogBytes,
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
    timings,
  };
}

export class TaskPool {
  readonly modulePath: string;
  readonly maxConcurrency: number;
  private readonly piscina: Piscina<WorkerTask, AttemptResult | ShutdownResult>;
  private readonly maxInitFailures: number;
  private readonly abortGraceMs: number;
  private readonly maxLogBytes: number;
  private readonly memoryLimitMb: number | undefined;
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
    this.memoryLimitMb = options.maxOldGenerationSizeMb;
    const entry = workerEntry(options.modulePath);
    const workerData: WorkerData = { modulePath: options.modulePath, storage: options.storage ?? {} };
    this.piscina = new Piscina({
      filename: entry.filename,
      ...(entry.execArgv ? { execArgv: entry.execArgv } : {}),
      workerData,
      minThreads: options.maxConcurrency,
      maxThreads: options.maxConcurrency,
      // Workers stay warm until the pool is closed; TaskPools closes idle pools.
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      // Idle workers keep their event loop running, so user timers and sockets behave between tasks.
      atomics: 'async',
      resourceLimits: {
        maxYoungGenerationSizeMb: options.maxYoungGenerationSizeMb ?? DEFAULT_WORKER_YOUNG_GENERATION_MB,
        ...(options.maxOldGenerationSizeMb ? { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb } : {}),
      },
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

  // One attempt's lifecycle stays in one function: the port listener, the deadline timer, the piscina
  // call and the outcome share its state (deadline, expired phase, worker id, log lines).
  private async execute(request: AttemptRequest): Promise<AttemptOutcome> {
    const items = batchSize(request.batch);
    const started = performance.now();
    const lines: string[] = [];
    const failure = (code: string, message: string, retryable = true): AttemptOutcome =>
      failedOutcome({ items, code, message, retryable, totalMs: performance.now() - started });
    if (this.brokenMessage !== undefined) return failure(TaskFailureCodes.broken, this.brokenMessage, false);
    if (this.closed) throw new Error('The task pool was closed while an attempt was submitted to it.');

    const timeoutMs = request.timeoutSeconds * 1000;
    const channel = new MessageChannel();
    const controller = new AbortController();
    let deadline: NodeJS.Timeout | undefined;
    let expired: 'init' | 'run' | undefined;
    let workerId: string | undefined;
    let phaseAt: number | undefined;
    let ended: () => void = () => undefined;
    const endReceived = new Promise<void>((resolve) => (ended = resolve));
    let settled = false;
    const arm = (phase: 'init' | 'run', ms: number): void => {
      clearTimeout(deadline);
      // Messages on this port can arrive after the result: a finished attempt needs no deadline.
      if (settled) return;
      deadline = setTimeout(() => {
        expired = phase;
        controller.abort();
      }, ms);
    };
    channel.port1.on('message', (message: PortMessage) => {
      if (message.type === 'log') lines.push(message.line);
      else if (message.type === 'end') ended();
      else {
        workerId = message.workerId;
        phaseAt ??= performance.now();
        if (message.phase === 'init') arm('init', 3 * timeoutMs + 30_000);
        else arm('run', timeoutMs + this.abortGraceMs);
      }
    });

    const task = attemptTask(request, channel.port2, timeoutMs, this.maxLogBytes);
    let result: AttemptResult | undefined;
    let crash: unknown;
    try {
      result = (await this.piscina.run(task, {
        signal: controller.signal,
        transferList: [channel.port2],
      })) as AttemptResult;
    } catch (error) {
      crash = error;
    } finally {
      settled = true;
      clearTimeout(deadline);
    }
    // Lines sent just before the end (or before a terminated worker died) may still be in flight.
    await endOrTimeout(endReceived, result ? 1000 : 50);
    channel.port1.close();

    const queuedMs = (phaseAt ?? performance.now()) - started;
    const timings = (initMs = 0, runMs = 0) => ({
      queuedMs,
      initMs,
      runMs,
      totalMs: performance.now() - started,
    });
    const withLog = (outcome: AttemptOutcome, note?: string): AttemptOutcome => {
      if (note) lines.push(`${new Date().toISOString()} ERROR ${note}`);
      return {
        ...outcome,
        log: lines.length ? `${lines.join('\n')}\n` : '',
        ...(workerId ? { workerId } : {}),
      };
    };

    if (!result) {
      if (expired === 'run') {
        const message = `run() did not finish within the timeout of ${request.timeoutSeconds} s (retry_settings.timeout); its worker was stopped`;
        return withLog({ ...failure(TaskFailureCodes.timeout, message), timings: timings() }, message);
      }
      if (expired === 'init') {
        const message = `init() did not finish within ${(3 * timeoutMs + 30_000) / 1000} s (3 x retry_settings.timeout + 30 s); its worker was stopped`;
        return withLog(this.initFailed(failure, message, timings()), message);
      }
      const message = this.describeCrash(crash);
      return withLog({ ...failure(TaskFailureCodes.workerCrashed, message), timings: timings() }, message);
    }

    workerId = result.workerId;
    const workerTimings = timings(result.initMs, result.runMs);
    if (result.initRan) this.consecutiveInitFailures = 0;
    if (!result.ok) return withLog(this.failedResultOutcome(result, failure, workerTimings));
    return withLog(succeededOutcome(items, result, workerTimings));
  }

  /** The outcome of an attempt whose task code failed: init() or run() threw, or run() returned a bad result. */
  private failedResultOutcome(
    result: Extract<AttemptResult, { ok: false }>,
    failure: (code: string, message: string, retryable?: boolean) => AttemptOutcome,
    timings: AttemptOutcome['timings'],
  ): AttemptOutcome {
    if (result.code === 'TASK_BROKEN') {
      this.brokenMessage = capMessage(result.message);
      return { ...failure(result.code, result.message, false), warnings: result.warnings, timings };
    }
    // Deterministic: the blob stays changed, so a retry would fail the same way.
    if (result.code === 'INPUT_CHANGED')
      return { ...failure(result.code, result.message, false), warnings: result.warnings, timings };
    if (result.code === 'TASK_INIT_FAILED') return this.initFailed(failure, result.message, timings);
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
      return { ...failure(TaskFailureCodes.broken, this.brokenMessage, false), timings };
    }
    return { ...failure(TaskFailureCodes.initFailed, message), timings };
  }

  private describeCrash(error: unknown): string {
    const code =
      typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
    const text = error instanceof Error ? error.message : String(error);
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return `The worker ran out of memory${this.memoryLimitMb ? ` (limit ${this.memoryLimitMb} MB per worker)` : ''} and was stopped: ${text}`;
    }
    return `The worker stopped unexpectedly (an uncaught error or a process.exit in the task code): ${text}`;
  }

  /**
   * Calls `shutdown()` once in every warm worker, then stops the threads. Attempts still running are
   * awaited first.
   */
  async close(waitMs = 5000): Promise<ShutdownResult[]> {
    if (this.closed) return [];
    this.closed = true;
    const participants = this.maxConcurrency;
    const barrier = new SharedArrayBuffer(4);
    const task: ShutdownTask = { type: 'shutdown', barrier, participants, waitMs };
    let results: ShutdownResult[] = [];
    try {
      results = (await Promise.all(
        Array.from({ length: participants }, () => this.piscina.run(task)),
      )) as ShutdownResult[];
    } finally {
      await this.piscina.destroy();
    }
    return results;
  }

  /** Stops every thread at once, without shutdown(). */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.piscina.destroy();
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
> {
  /** A pool without attempts for this long is closed (shutdown() runs). Default 10 minutes. */
  idleMs?: number;
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

  poolFor(modulePath: string, maxConcurrency: number, job: JobContextData): TaskPool {
    const key = TaskPools.keyOf(modulePath, maxConcurrency, job);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new TaskPool({ ...this.options, modulePath, maxConcurrency });
      this.pools.set(key, pool);
    }
    return pool;
  }

  get size(): number {
    return this.pools.size;
  }

  private static keyOf(modulePath: string, maxConcurrency: number, job: JobContextData): string {
    const { argv, inputs, outputs, environmentVariables, loggingLevel } = job;
    const initView = createHash('sha256')
      .update(JSON.stringify({ argv, inputs, outputs, environmentVariables, loggingLevel }))
      .digest('hex');
    return `${modulePath}|${statSync(modulePath).mtimeMs}|${maxConcurrency}|${initView}`;
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
