/**
 * JavaScript and TypeScript tasks: a piscina pool of warm worker threads (worker.ts is their body).
 * Piscina terminates a thread whose attempt is aborted; its replacement runs init() again.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type {
  AttemptResult,
  AttemptTask,
  PortMessage,
  ShutdownResult,
  ShutdownTask,
  WorkerAttempt,
  WorkerData,
  WorkerStorageAccess,
  WorkerTask,
} from './protocol';
import { removeWorkerFolders } from './workerFolders';
import { WorkerLostError, type AttemptEvents, type LanguageWorkers } from './workers';

/**
 * Each warm worker has its own V8 heap, and V8 lets an idle worker's young generation stay at the size
 * its busiest moment reached (up to 48 MiB on a 64-bit machine). With 16 workers that alone was about
 * 130 MiB of the host's RSS at 100,000 no-op mini-batches; 16 MiB keeps allocation-heavy tasks within a
 * few percent of the default (bench/worker-heap.js, bench/RESULTS.md).
 */
export const DEFAULT_WORKER_YOUNG_GENERATION_MB = 16;

export interface ThreadWorkersOptions {
  /** Real path of the task module. */
  modulePath: string;
  maxConcurrency: number;
  poolDir: string;
  storage?: WorkerStorageAccess;
  /** V8 old-space limit per worker; a worker that exceeds it dies and fails only its attempt. */
  maxOldGenerationSizeMb?: number;
  /** V8 young-generation limit per worker; 0 leaves V8's own. Default {@link DEFAULT_WORKER_YOUNG_GENERATION_MB}. */
  maxYoungGenerationSizeMb?: number;
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

/** Waits for the worker's end message, at most `ms`. */
async function endOrTimeout(endReceived: Promise<void>, ms: number): Promise<void> {
  let settle: NodeJS.Timeout | undefined;
  await Promise.race([endReceived, new Promise((resolve) => (settle = setTimeout(resolve, ms)))]);
  clearTimeout(settle);
}

export class ThreadWorkers implements LanguageWorkers {
  private readonly piscina: Piscina<WorkerTask, AttemptResult | ShutdownResult>;

  constructor(private readonly options: ThreadWorkersOptions) {
    const entry = workerEntry(options.modulePath);
    const workerData: WorkerData = {
      modulePath: options.modulePath,
      storage: options.storage ?? {},
      poolDir: options.poolDir,
    };
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

  async run(attempt: WorkerAttempt, events: AttemptEvents, signal: AbortSignal): Promise<AttemptResult> {
    const channel = new MessageChannel();
    let workerId: string | undefined;
    let ended: () => void = () => undefined;
    const endReceived = new Promise<void>((resolve) => (ended = resolve));
    channel.port1.on('message', (message: PortMessage) => {
      if (message.type === 'log') events.log(message.line);
      else if (message.type === 'end') ended();
      else {
        workerId = message.workerId;
        events.phase(message.phase, message.workerId);
      }
    });
    const task: AttemptTask = { ...attempt, type: 'attempt', port: channel.port2 };
    try {
      const result = (await this.piscina.run(task, {
        signal,
        transferList: [channel.port2],
      })) as AttemptResult;
      // Lines sent just before the end may still be in flight.
      await endOrTimeout(endReceived, 1000);
      return result;
    } catch (error) {
      // ... and so may the lines a terminated worker sent before it died.
      await endOrTimeout(endReceived, 50);
      if (workerId) removeWorkerFolders(this.options.poolDir, workerId);
      if (signal.aborted) throw error;
      throw new WorkerLostError(this.describeCrash(error));
    } finally {
      channel.port1.close();
    }
  }

  private describeCrash(error: unknown): string {
    const code =
      typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
    const text = error instanceof Error ? error.message : String(error);
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
      const limit = this.options.maxOldGenerationSizeMb;
      return `The worker ran out of memory${limit ? ` (limit ${limit} MB per worker)` : ''} and was stopped: ${text}`;
    }
    return `The worker stopped unexpectedly (an uncaught error or a process.exit in the task code): ${text}`;
  }

  async close(waitMs: number): Promise<ShutdownResult[]> {
    const participants = this.options.maxConcurrency;
    const barrier = new SharedArrayBuffer(4);
    const task: ShutdownTask = { type: 'shutdown', barrier, participants, waitMs };
    try {
      return (await Promise.all(
        Array.from({ length: participants }, () => this.piscina.run(task)),
      )) as ShutdownResult[];
    } finally {
      await this.piscina.destroy();
    }
  }

  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}
