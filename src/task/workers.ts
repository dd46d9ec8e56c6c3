/**
 * What a language brings to the task runtime. The attempt's lifecycle (deadlines, init failures, a broken
 * task, a lost worker, the outcome and its counts) is written once, in `TaskPool` (pool.ts); a language
 * only runs attempts on its warm workers: threads for JavaScript and TypeScript (threads.ts), processes for
 * Python (python/pythonWorkers.ts).
 */
import type { AttemptResult, ShutdownResult, WorkerAttempt } from './protocol';

/** What a worker reports while it runs an attempt. */
export interface AttemptEvents {
  /** init() or run() starts on the worker `workerId`: the pool arms that phase's deadline. */
  phase(phase: 'init' | 'run', workerId: string): void;
  /** One line of the attempt's log, already stamped with its time and level. */
  log(line: string): void;
}

/** The worker running an attempt stopped before it answered (a crash, an exit, a kill); says how, for people. */
export class WorkerLostError extends Error {}

export interface LanguageWorkers {
  /**
   * Runs one attempt on a free worker (starting one if needed) and resolves with its result once every
   * log line it wrote has been delivered. Rejects with WorkerLostError when the worker died, and with the
   * signal's reason when `signal` was aborted: the worker is then stopped and replaced.
   */
  run(attempt: WorkerAttempt, events: AttemptEvents, signal: AbortSignal): Promise<AttemptResult>;
  /** Calls `shutdown()` once in every warm worker, then stops them; attempts running are awaited first. */
  close(waitMs: number): Promise<ShutdownResult[]>;
  /** Stops every worker at once, without shutdown(). */
  destroy(): Promise<void>;
}

/** `<ISO time> <LEVEL> <text>`: one line of an attempt log, as both languages write it. */
export function logLine(level: string, text: string, at = new Date()): string {
  return `${at.toISOString()} ${level} ${text}`;
}
