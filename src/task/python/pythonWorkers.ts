/**
 * Python tasks: one long-lived Python process per worker slot, running parallel_job_runner.py. Each
 * process is started in a process group of its own, so that a timeout or a stop kills everything the task
 * started; requests go on fd 3 and replies come back on fd 4 as JSON lines, while fds 1 and 2 carry what
 * native code writes (both read into the attempt log). Plain child_process: a wrapper that embeds Python in
 * this process would let a crash or a hung C call take the host down with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { FailedItem } from '../contract';
import { shippedFile } from '../../appFolder';
import { workerArgv } from '../args';
import type { AttemptResult, BatchData, JobContextData, ShutdownResult, WorkerAttempt } from '../protocol';
import { MAX_ROWS_BYTES_PER_MINI_BATCH } from '../results';
import {
  prepareWorkerFolders,
  removeWorkerFolders,
  takeAttemptFiles,
  workerFolders,
  type WorkerFolders,
} from '../workerFolders';
import { WorkerLostError, logLine, type AttemptEvents, type LanguageWorkers } from '../workers';
import { AttemptCodes } from '../../failureCodes';

export interface PythonWorkersOptions {
  /** Real path of the entry script. */
  modulePath: string;
  maxConcurrency: number;
  poolDir: string;
  /** The interpreter (PARALLEL_JOB_PYTHON): a path or a command on PATH. */
  python: string;
  /** The task's code folder (`task.code`), first on sys.path and the processes' working folder. */
  codeDir?: string;
}

/** Time the native output pipes get, after the result, to show their end marker. */
const MARKER_WAIT_MS = 1000;
/** Time a stopped process gets to close its pipes, so that what it wrote last reaches the log. */
const CLOSE_WAIT_MS = 1000;

type Reply =
  | { type: 'ready'; pid: number; python: string }
  | { type: 'phase'; phase: 'init' | 'run' }
  | { type: 'log'; level: string; line: string }
  | ({ type: 'result'; initRan: boolean; initMs: number; runMs: number; warnings: string[] } & (
      | { ok: true; resultLength: number; rows: string; failed: { position: number; error: string }[] }
      | { ok: false; code: Extract<AttemptResult, { ok: false }>['code']; message: string }
    ))
  | { type: 'shutdown'; ranShutdown: boolean; error?: string };

type ResultReply = Extract<Reply, { type: 'result' }>;

function describeExit(code: number | null, signal: NodeJS.Signals | null, during: string): string {
  const process = `The Python process running the task`;
  const replaced = 'A new process replaces it.';
  if (signal === 'SIGKILL') {
    return `${process} was killed (SIGKILL) ${during}: the machine's out-of-memory killer does this when memory runs out, so lower max_concurrency_per_instance or the memory one mini-batch needs. ${replaced}`;
  }
  if (signal === 'SIGSEGV' || signal === 'SIGBUS' || signal === 'SIGILL' || signal === 'SIGFPE') {
    return `${process} crashed (${signal}) ${during}: a fault in native code, such as a C extension; the attempt log has the Python stack when faulthandler could write it. ${replaced}`;
  }
  if (signal === 'SIGABRT')
    return `${process} aborted (SIGABRT) ${during}, usually a failed check in native code. ${replaced}`;
  if (signal) return `${process} was stopped by ${signal} ${during}. ${replaced}`;
  return `${process} exited with code ${code} ${during} (os._exit, sys.exit or a fatal error in the task code). ${replaced}`;
}

/** The items `fail()` named, as the runtime records them: a file's blob name, or the table record. */
function failedItems(batch: BatchData, failed: { position: number; error: string }[]): FailedItem[] {
  return failed.flatMap(({ position, error }) => {
    const item =
      batch.kind === 'paths'
        ? batch.names[position]
        : batch.kind === 'table'
          ? batch.recordAt(position)
          : undefined;
    return item === undefined ? [] : [{ item, position, error }];
  });
}

/** What Python receives for a mini-batch: local paths, or the table's files for pandas. */
function pythonBatch(batch: BatchData): Record<string, unknown> {
  if (batch.kind === 'paths') return { kind: 'files', paths: batch.paths, names: batch.names };
  if (batch.kind === 'table') {
    return {
      kind: 'table',
      format: batch.format,
      files: batch.files,
      ...(batch.columns ? { columns: batch.columns } : {}),
    };
  }
  // The activity hands Python tasks local data (src/activities/pythonBatch.ts).
  throw new Error(`A Python task cannot take a '${batch.kind}' mini-batch`);
}

interface RunningAttempt {
  attempt: WorkerAttempt;
  events: AttemptEvents;
  phase?: 'init' | 'run';
  result?: ResultReply;
  logBytes: number;
  truncated: boolean;
  /** fd 1 and fd 2 have shown the marker written after the result. */
  synced: { out: boolean; err: boolean };
  /** Native output that never shows its marker (a task closed fd 1) does not hold the attempt for long. */
  markersLate?: NodeJS.Timeout;
  settle: () => void;
}

let started = 0;

/**
 * glibc's allocator settings for the warm processes (the app's or the job's own environment wins). An
 * attempt reads its table and frees it; by default glibc hands those pages back to the system and faults
 * them in again on the next attempt's read (about 30% of `read_csv`'s time for 100,000 records). Up to
 * 64 MiB freed stays in the process, and blocks under 16 MiB come from its heap
 * (bench/python-dataframe.js).
 */
export const PYTHON_ALLOCATOR = {
  MALLOC_TRIM_THRESHOLD_: String(64 * 1024 * 1024),
  MALLOC_MMAP_THRESHOLD_: String(16 * 1024 * 1024),
};

class PythonProcess {
  readonly workerId: string;
  private readonly name: string;
  private readonly child: ChildProcess;
  private readonly folders: WorkerFolders;
  private readonly marker = `\u0000parallel-job-end-${randomBytes(8).toString('hex')}`;
  private running: RunningAttempt | undefined;
  /** Lines written while no attempt ran (a background thread): they open the next attempt's log. */
  private idleLines: string[] = [];
  private initialized = false;
  private spawnError: Error | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private shutdownReply: ((reply: Extract<Reply, { type: 'shutdown' }>) => void) | undefined;
  /** The process has ended (or never started). */
  readonly exited: Promise<void>;
  /** ... and its pipes are read to their end. */
  readonly closed: Promise<void>;
  /** False once the process may not take another attempt (it died, failed its init, or was stopped). */
  usable = true;

  constructor(
    private readonly options: PythonWorkersOptions,
    job: JobContextData,
    needsPandas: boolean,
    maxLogBytes: number,
  ) {
    started += 1;
    this.name = `py${started}`;
    this.folders = workerFolders(options.poolDir, this.name, job);
    prepareWorkerFolders(this.folders, { unkept: true });
    const codeDir = options.codeDir ?? path.dirname(options.modulePath);
    this.child = spawn(options.python, ['-u', shippedFile('task/python/parallel_job_runner.py')], {
      cwd: codeDir,
      env: {
        ...PYTHON_ALLOCATOR,
        ...process.env,
        ...job.environmentVariables,
        PYTHONUNBUFFERED: '1',
        PYTHONFAULTHANDLER: '1',
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONIOENCODING: 'utf-8',
        PARALLEL_JOB_LOG_DIR: this.folders.logDir,
        PARALLEL_JOB_OUTPUT_DIR: this.folders.outputDir,
        PARALLEL_JOB_AGENT_NAME: this.name,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      // Its own process group: a timeout kills the task's children too, and Ctrl-C reaches only the host.
      detached: true,
    });
    this.workerId = `${this.name}-${this.child.pid ?? 'none'}`;
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.usable = false;
        // What the task started may still hold its pipes open: it goes with the process.
        this.killGroup();
        resolve();
      });
      // A process that never started (no such interpreter) emits no 'exit'.
      this.child.once('error', (error) => {
        this.spawnError = error;
        this.usable = false;
        resolve();
      });
    });
    this.closed = new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.once('error', () => resolve());
    });
    this.requests.on('error', () => undefined); // EPIPE after the process died: its close says why.
    this.readLines(this.child.stdio[4] as Readable, (line) => this.onReply(line));
    this.readLines(this.child.stdout!, (line) => this.onNativeLine(line, 'out'));
    this.readLines(this.child.stderr!, (line) => this.onNativeLine(line, 'err'));
    this.send({
      type: 'start',
      entryScript: options.modulePath,
      codeDir,
      argv: workerArgv(job, job.localInputs, this.folders.outputs),
      loggingLevel: job.loggingLevel,
      needsPandas,
      maxLogBytes,
      marker: this.marker,
    });
  }

  private get requests(): Writable {
    return this.child.stdio[3] as Writable;
  }

  private send(message: unknown): void {
    if (this.child.pid !== undefined && this.exit === undefined)
      this.requests.write(`${JSON.stringify(message)}\n`);
  }

  private readLines(stream: Readable, onLine: (line: string) => void): void {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  }

  // ------------------------------------------------------------------------------------------- lines

  private log(line: string): void {
    const running = this.running;
    if (!running) {
      if (this.idleLines.length < 100) this.idleLines.push(line);
      return;
    }
    if (running.truncated) return;
    running.logBytes += Buffer.byteLength(line) + 1;
    if (running.logBytes > running.attempt.maxLogBytes) {
      running.truncated = true;
      line = logLine(
        'WARNING',
        `log truncated: this attempt wrote more than ${running.attempt.maxLogBytes} bytes`,
      );
    }
    running.events.log(line);
  }

  private onNativeLine(line: string, stream: 'out' | 'err'): void {
    const marked = line.endsWith(this.marker);
    const text = marked ? line.slice(0, -this.marker.length) : line;
    if (text !== '' || !marked) this.log(logLine(stream === 'out' ? 'INFO' : 'WARNING', text));
    if (marked && this.running) {
      this.running.synced[stream] = true;
      this.settleIfDone();
    }
  }

  private onReply(raw: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(raw) as Reply;
    } catch {
      this.log(logLine('WARNING', raw));
      return;
    }
    switch (reply.type) {
      case 'log':
        this.log(logLine(reply.level, reply.line));
        return;
      case 'phase':
        if (this.running) {
          this.running.phase = reply.phase;
          this.running.events.phase(reply.phase, this.workerId);
        }
        return;
      case 'result':
        if (this.running) {
          this.running.result = reply;
          this.running.markersLate = setTimeout(this.running.settle, MARKER_WAIT_MS);
          this.settleIfDone();
        }
        return;
      case 'shutdown':
        this.shutdownReply?.(reply);
        return;
      default:
        return;
    }
  }

  private settleIfDone(): void {
    const running = this.running;
    if (running?.result && running.synced.out && running.synced.err) running.settle();
  }

  // ---------------------------------------------------------------------------------------- attempts

  async runAttempt(
    attempt: WorkerAttempt,
    events: AttemptEvents,
    signal: AbortSignal,
  ): Promise<AttemptResult> {
    let settle: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const running: RunningAttempt = {
      attempt,
      events,
      logBytes: 0,
      truncated: false,
      synced: { out: false, err: false },
      settle,
    };
    this.running = running;
    for (const line of this.idleLines.splice(0)) this.log(line);
    const onAbort = (): void => this.kill();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.send({
        type: 'run',
        jobId: attempt.job.jobId,
        miniBatchIndex: attempt.miniBatchIndex,
        attempt: attempt.attempt,
        batch: pythonBatch(attempt.batch),
        partitionKeyValue:
          'partitionKeyValue' in attempt.batch ? (attempt.batch.partitionKeyValue ?? null) : null,
        serializeRows: attempt.serializeRows,
        maxRowsBytes: MAX_ROWS_BYTES_PER_MINI_BATCH,
        maxLogBytes: attempt.maxLogBytes,
      });
      await Promise.race([settled, this.exited]);
      clearTimeout(running.markersLate);
      if (running.result) return this.resultOf(running.result, attempt);
      // The process is gone without a result: give its pipes a moment so its last words reach the log.
      await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]);
      removeWorkerFolders(this.options.poolDir, this.name);
      if (signal.aborted) throw signal.reason;
      if (this.spawnError) return this.cannotStart(this.spawnError);
      const during =
        running.phase === 'init'
          ? 'during init()'
          : running.phase === 'run'
            ? 'during run()'
            : 'before it ran the task';
      throw new WorkerLostError(describeExit(this.exit?.code ?? null, this.exit?.signal ?? null, during));
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.running = undefined;
    }
  }

  private resultOf(reply: ResultReply, attempt: WorkerAttempt): AttemptResult {
    if (reply.initRan) this.initialized = true;
    // The runner ends a process whose init() failed; the next attempt gets a fresh one.
    if (!reply.ok && !this.initialized) this.usable = false;
    const files = this.usable
      ? takeAttemptFiles(this.folders, this.options.poolDir, this.name, { unkept: true })
      : undefined;
    if (!this.usable) removeWorkerFolders(this.options.poolDir, this.name);
    const base = {
      workerId: this.workerId,
      initRan: reply.initRan,
      initMs: reply.initMs,
      runMs: reply.runMs,
      warnings: reply.warnings,
      ...(files ? { files } : {}),
    };
    if (!reply.ok) return { ...base, ok: false, code: reply.code, message: reply.message };
    return {
      ...base,
      ok: true,
      resultLength: reply.resultLength,
      rows: reply.rows,
      failedItems: failedItems(attempt.batch, reply.failed),
    };
  }

  private cannotStart(error: Error): AttemptResult {
    return {
      workerId: this.workerId,
      initRan: false,
      initMs: 0,
      runMs: 0,
      warnings: [],
      ok: false,
      code: AttemptCodes.taskBroken,
      message: `The Python interpreter '${this.options.python}' (app setting PARALLEL_JOB_PYTHON) could not be started: ${error.message}`,
    };
  }

  /** Sends shutdown() and waits for it, at most `waitMs`; then the process is stopped either way. */
  async shutdown(waitMs: number): Promise<ShutdownResult> {
    const ran = this.initialized && this.usable;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!ran) return { workerId: this.workerId, ranShutdown: false };
      const reply = await Promise.race([
        new Promise<Extract<Reply, { type: 'shutdown' }>>((resolve) => {
          this.shutdownReply = resolve;
          this.send({ type: 'shutdown' });
        }),
        this.closed.then(() => undefined),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs))),
      ]);
      if (!reply)
        return {
          workerId: this.workerId,
          ranShutdown: true,
          error: `shutdown() did not finish within ${waitMs} ms`,
        };
      return {
        workerId: this.workerId,
        ranShutdown: reply.ranShutdown,
        ...(reply.error ? { error: reply.error } : {}),
      };
    } finally {
      clearTimeout(timer);
      this.kill();
      await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]);
      removeWorkerFolders(this.options.poolDir, this.name);
    }
  }

  /** Kills the process group: the task and anything it started. */
  kill(): void {
    this.usable = false;
    if (this.exit === undefined) this.killGroup();
  }

  private killGroup(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  }
}

export class PythonWorkers implements LanguageWorkers {
  private readonly idle: PythonProcess[] = [];
  private readonly processes = new Set<PythonProcess>();
  private readonly waiting: (() => void)[] = [];
  private active = 0;

  constructor(private readonly options: PythonWorkersOptions) {}

  async run(attempt: WorkerAttempt, events: AttemptEvents, signal: AbortSignal): Promise<AttemptResult> {
    this.active += 1;
    const worker = await this.acquire(attempt);
    try {
      return await worker.runAttempt(attempt, events, signal);
    } finally {
      this.active -= 1;
      this.release(worker);
    }
  }

  private async acquire(attempt: WorkerAttempt): Promise<PythonProcess> {
    for (;;) {
      const ready = this.idle.pop();
      if (ready?.usable) return ready;
      if (ready) {
        this.retire(ready);
        continue;
      }
      if (this.processes.size < this.options.maxConcurrency) {
        const worker = new PythonProcess(
          this.options,
          attempt.job,
          attempt.batch.kind === 'table',
          attempt.maxLogBytes,
        );
        this.processes.add(worker);
        return worker;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(worker: PythonProcess): void {
    if (worker.usable) this.idle.push(worker);
    else this.retire(worker);
    this.waiting.shift()?.();
  }

  private retire(worker: PythonProcess): void {
    this.processes.delete(worker);
    worker.kill();
  }

  async close(waitMs: number): Promise<ShutdownResult[]> {
    const deadline = Date.now() + waitMs;
    while (this.active > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const workers = [...this.processes];
    this.processes.clear();
    this.idle.length = 0;
    return Promise.all(workers.map((worker) => worker.shutdown(waitMs)));
  }

  async destroy(): Promise<void> {
    const workers = [...this.processes];
    this.processes.clear();
    this.idle.length = 0;
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((worker) => worker.closed));
  }
}
