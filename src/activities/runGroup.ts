import {
  groupResultSchema,
  recordGroupFaultInputSchema,
  parseRunGroupInput,
  type GroupResult,
  type RunGroupInput,
} from '../orchestration/contracts';
import {
  emptyTally,
  retriesAtRisk,
  runsOf,
  tallyAttempt,
  tallyRetryTaken,
  tallyStart,
  tallyStop,
  workOf,
} from '../orchestration/groupTally';
import { groupBudgetMs } from '../orchestration/lanes';
import { nextStep, receiptForFault } from '../orchestration/attemptOutcome';
import { callRetryDelayMs, retryDelayMs } from '../orchestration/retryPolicy';
import { ACTIVITY_OVERHEAD_SECONDS, parseFunctionTimeout } from '../job/limits';
import { StorageTransientError } from '../errors';
import { jobFolder } from '../storage/layout';
import { GroupRecords, type AttemptRecord } from './attemptRecord';
import { faultRecord } from './recordFault';
import { cachedJobRecord, runMiniBatch, type RunMiniBatchDeps } from './runMiniBatch';

/** Records appended to the group's file in one write, at most; and at least this often. */
const RECORDS_PER_APPEND = 256;
const APPEND_INTERVAL_MS = 1000;
const SLOW_ATTEMPT_MS = 200;

export interface RunGroupOptions {
  /** How often a running group looks for a stop request; default 200 ms. */
  stopPollMs?: number;
}

/**
 * Runs a group of mini-batches in one activity call: up to `width` attempts in flight on the warm pool,
 * each exactly as a one-mini-batch call would run it (same blobs, same receipt), pulling the next as
 * one ends. A failed attempt is retried after its backoff within the group when the backoff ends in
 * time, else handed back to the shard (which waits on a durable timer). New attempts start until the
 * time budget is spent; past it, a lane keeps pulling only while an attempt started before it is still
 * running, so a straggler holds its own lane and no other mini-batch. A stop request, a broken task or a
 * spent failure budget ends it early; no attempt ending for progress_update_timeout ends it as stalled.
 * Mini-batches it did not start go back to the shard.
 *
 * Records are appended to the group's record file in batches (see GroupRecords) and all of them before
 * the call returns. A call that runs again after a crash finds that file and takes the outcome of every
 * attempt it holds, running only the others.
 */
export async function runGroup(
  deps: RunMiniBatchDeps,
  raw: unknown,
  options: RunGroupOptions = {},
): Promise<GroupResult> {
  const input = parseRunGroupInput(raw);
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  // Read from the logs container, so it exists for the records below.
  const record = await cachedJobRecord(deps, input.jobId);
  const records = new GroupRecords(store, logsContainer, input.jobId, input.shard, input.group);
  const recorded = await records.open();
  const stop = new StopWatch(deps, folder.stopRequest, options.stopPollMs ?? 200);
  await stop.check();
  const group = new GroupRun(deps, input, {
    records,
    recorded,
    stop,
    cutoffMs: startCutoffMs(deps.functionTimeout, record.job.settings.timeoutSeconds),
  });
  try {
    return await group.run();
  } finally {
    stop.close();
  }
}

interface RetryDue {
  index: number;
  attempt: number;
  /** performance.now() when the backoff ends. */
  dueAt: number;
}

/** One execution of a group: its lanes, its queue of retries and what it has folded so far. */
class GroupRun {
  private tally = emptyTally();
  private readonly started = performance.now();
  /** The group's mini-batches not tried yet, in order. */
  private readonly untried: Iterator<{ index: number; attempt: number }>;
  private readonly retries: RetryDue[] = [];
  /** Start times of the attempts running now, by mini-batch. */
  private readonly running = new Map<number, number>();
  private lastEnd: number;
  private lastAppend: number;
  private stalled = false;

  constructor(
    private readonly deps: RunMiniBatchDeps,
    private readonly input: RunGroupInput,
    private readonly context: {
      records: GroupRecords;
      recorded: ReadonlyMap<string, AttemptRecord>;
      stop: StopWatch;
      cutoffMs: number;
    },
  ) {
    this.untried = workOf(input.runs);
    this.lastEnd = this.started;
    this.lastAppend = this.started;
  }

  async run(): Promise<GroupResult> {
    const lanes = Promise.all(Array.from({ length: this.input.laneWidth }, () => this.lane()));
    try {
      await Promise.race([lanes, this.stallWatch()]);
    } finally {
      this.stopStallWatch();
    }
    await this.context.records.flush();
    const notStarted = runsOf(remaining(this.untried));
    return groupResultSchema.parse({
      ...this.tally,
      ...(this.stalled ? { stalled: true } : {}),
      notStarted,
    });
  }

  private async lane(): Promise<void> {
    for (;;) {
      if (this.stalled || this.context.stop.requested) return;
      if (tallyStop(this.tally, this.input.budget) !== undefined) return;
      this.context.stop.poll();
      const now = performance.now();
      const next = this.mayStart(now) ? this.take(now) : undefined;
      if (next) {
        await this.attempt(next.index, next.attempt);
        continue;
      }
      // Nothing to start now: wait for the next retry if it may start when it is due (by the rule that
      // starts any attempt: it may not, once the budget is spent and no attempt started within it runs),
      // else end and hand it back to the shard.
      const waitFor = Math.min(...this.retries.map((retry) => retry.dueAt));
      if (!Number.isFinite(waitFor) || !this.mayStart(Math.max(waitFor, now))) return;
      await sleep(Math.max(1, waitFor - now));
    }
  }

  /** A due retry first, else an untried mini-batch unless pending retries put the failure budget at risk. */
  private take(now: number): { index: number; attempt: number } | undefined {
    const due = this.retries.findIndex((retry) => retry.dueAt <= now);
    if (due >= 0) {
      const [retry] = this.retries.splice(due, 1);
      this.tally = tallyRetryTaken(this.tally, retry!.index);
      return retry;
    }
    if (retriesAtRisk(this.tally, this.input.budget)) return undefined;
    const next = this.untried.next();
    return next.done ? undefined : next.value;
  }

  /**
   * The time budget: the shard's, or longer once this call has timed its own attempts (the shard's first
   * call of a job cannot know how long they take), by the same rule the shard uses.
   */
  private budgetMs(): number {
    const { counters } = this.tally;
    const ended = this.startedCount() - this.running.size;
    if (ended <= 0) return this.input.budgetMs;
    const measured = groupBudgetMs(counters.busyMs / ended, this.input.progressUpdateTimeoutSeconds);
    return Math.max(this.input.budgetMs, measured);
  }

  private startedCount(): number {
    return this.tally.counters.scheduled + this.tally.counters.retried;
  }

  /** Whether an attempt may start at `at` (performance.now() time). */
  private mayStart(at: number): boolean {
    const elapsed = at - this.started;
    // The first wave always starts; later ones only while they can still finish within functionTimeout.
    if (this.startedCount() >= this.input.laneWidth && elapsed >= this.context.cutoffMs) return false;
    const budgetMs = this.budgetMs();
    if (elapsed < budgetMs) return true;
    for (const startedAt of this.running.values()) {
      if (startedAt - this.started < budgetMs) return true;
    }
    return false;
  }

  private async attempt(index: number, attempt: number): Promise<void> {
    this.tally = tallyStart(this.tally, attempt);
    this.running.set(index, performance.now());
    const { record, recovered } = await runOne(
      this.deps,
      this.input.jobId,
      index,
      attempt,
      this.context.recorded,
    );
    const receipt = record.receipt;
    this.running.delete(index);
    this.lastEnd = performance.now();
    if (this.stalled) return; // given up on: not counted, not recorded (finalize shows it not run)
    if (!recovered) this.record(record);
    this.tally = tallyAttempt(this.tally, receipt, this.input.maxRetries);
    if (nextStep(receipt, this.input.maxRetries).kind === 'retry') {
      const delay = retryDelayMs(this.input.jobId, index, attempt + 1, this.input.retryBaseDelayMs);
      this.retries.push({ index, attempt: attempt + 1, dueAt: this.lastEnd + delay });
    }
  }

  /**
   * Keeps the record; appends a batch when enough are waiting or the last append is a second old, and
   * at once after a slow attempt (one write is cheap next to it, and people watch long jobs' progress).
   */
  private record(record: AttemptRecord): void {
    const { records } = this.context;
    records.add(record);
    const now = performance.now();
    if (
      records.pending >= RECORDS_PER_APPEND ||
      now - this.lastAppend >= APPEND_INTERVAL_MS ||
      record.receipt.durationMs >= SLOW_ATTEMPT_MS
    ) {
      this.lastAppend = now;
      // A failed append fails the last flush in run(), and so the call: its retry keeps what landed.
      records.flush().catch(() => undefined);
    }
  }

  /** Resolves when attempts are running and none has ended for progress_update_timeout. */
  private stallWatch(): Promise<void> {
    const limitMs = this.input.progressUpdateTimeoutSeconds * 1000;
    return new Promise((resolve) => {
      const timer = setInterval(
        () => {
          if (this.running.size > 0 && performance.now() - this.lastEnd >= limitMs) {
            this.stalled = true;
            clearInterval(timer);
            resolve();
          }
        },
        Math.min(1000, Math.max(50, limitMs / 4)),
      );
      timer.unref();
      this.stopStallWatch = () => clearInterval(timer);
    });
  }

  private stopStallWatch: () => void = () => undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function* remaining<T>(iterator: Iterator<T>): Generator<T> {
  for (let next = iterator.next(); !next.done; next = iterator.next()) yield next.value;
}

/**
 * Elapsed milliseconds after which a group starts nothing new: an attempt started then must end (with
 * its task timeout and the reading and writing around it) before the activity's functionTimeout.
 */
export function startCutoffMs(functionTimeout: string | undefined, taskTimeoutSeconds: number): number {
  const limit = functionTimeout === undefined ? undefined : parseFunctionTimeout(functionTimeout);
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, (limit - ACTIVITY_OVERHEAD_SECONDS - taskTimeoutSeconds) * 1000);
}

/**
 * One attempt. Its outcome is taken from its record when a re-executed call finds one; an attempt whose
 * run throws (storage faults on the job's own blobs, after the client's retries) is recorded as failed
 * with its items, and counted without them if even that record cannot be written.
 */
async function runOne(
  deps: RunMiniBatchDeps,
  jobId: string,
  index: number,
  attempt: number,
  recorded: ReadonlyMap<string, AttemptRecord>,
): Promise<{ record: AttemptRecord; recovered: boolean }> {
  const earlier = recorded.get(`${index}/${attempt}`);
  if (earlier) return { record: earlier, recovered: true };
  for (let tries = 1; ; tries += 1) {
    try {
      return { record: await runMiniBatch(deps, { jobId, index, attempt }), recovered: false };
    } catch (error) {
      // Storage that stopped answering (restarted, or a dropped connection) is not the attempt's failure:
      // the same attempt runs again once storage answers, as it would after a crash (its rows and files
      // are staged under the same names), and only a fault that outlasts these waits is recorded.
      if (error instanceof StorageTransientError && tries < STORAGE_FAULT_TRIES) {
        await sleep(callRetryDelayMs(STORAGE_FAULT_BASE_MS, tries, `${jobId}/${index}/${attempt}/storage`));
        continue;
      }
      return { record: await failedAttempt(deps, { jobId, index, attempt }, error), recovered: false };
    }
  }
}

/** Runs of an attempt that met a storage fault, and the first wait (doubling): about 7 s in all. */
const STORAGE_FAULT_TRIES = 4;
const STORAGE_FAULT_BASE_MS = 1000;

/** The record of an attempt whose run threw; without its items if even reading its descriptor fails. */
async function failedAttempt(
  deps: RunMiniBatchDeps,
  work: { jobId: string; index: number; attempt: number },
  error: unknown,
): Promise<AttemptRecord> {
  const message = error instanceof Error ? error.message : String(error);
  try {
    return await faultRecord(deps, { ...work, message });
  } catch {
    const receipt = receiptForFault(work.index, work.attempt, `The attempt's activity failed: ${message}`);
    return { receipt, failedItems: [], warnings: [], startedAt: new Date().toISOString() };
  }
}

/** Whether the job asked running groups to stop; looked up at most once per interval, never awaited twice. */
class StopWatch {
  requested = false;
  private lastPoll = 0;
  private inFlight: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly deps: RunMiniBatchDeps,
    private readonly name: string,
    private readonly intervalMs: number,
  ) {}

  async check(): Promise<void> {
    this.lastPoll = performance.now();
    try {
      this.requested ||= (await this.deps.store.stat(this.deps.logsContainer, this.name)) !== undefined;
    } catch {
      // A failed look-up is retried at the next poll; the shard's cancel still ends the job.
    }
  }

  poll(): void {
    if (this.closed || this.requested || this.inFlight) return;
    if (performance.now() - this.lastPoll < this.intervalMs) return;
    this.inFlight = this.check().finally(() => (this.inFlight = undefined));
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * A group whose call failed even after its retries: each mini-batch of its runs keeps the outcome its
 * group's record file holds, or gets a failed record (see faultRecord), folded as the group would have.
 */
export async function recordGroupFault(deps: RunMiniBatchDeps, raw: unknown): Promise<GroupResult> {
  const input = recordGroupFaultInputSchema.parse(raw);
  const records = new GroupRecords(deps.store, deps.logsContainer, input.jobId, input.shard, input.group);
  const recorded = await records.open();
  let tally = emptyTally();
  for (const { index, attempt } of workOf(input.runs)) {
    tally = tallyStart(tally, attempt);
    let record = recorded.get(`${index}/${attempt}`);
    if (!record) {
      record = await failedAttempt(deps, { jobId: input.jobId, index, attempt }, new Error(input.message));
      records.add(record);
    }
    tally = tallyAttempt(tally, record.receipt, input.maxRetries);
  }
  await records.flush();
  return groupResultSchema.parse({ ...tally, notStarted: [] });
}
