import {
  groupResultSchema,
  recordGroupFaultInputSchema,
  runGroupInputSchema,
  type GroupResult,
  type RunGroupInput,
} from '../orchestration/contracts';
import { emptyTally, runsOf, tallyAttempt, tallyStart, tallyStop, workOf } from '../orchestration/groupTally';
import { receiptForFault } from '../orchestration/progress';
import { ACTIVITY_OVERHEAD_SECONDS, appFunctionTimeout, parseFunctionTimeout } from '../spec/limits';
import { jobFolder } from '../storage/layout';
import { receiptFromMetadata } from './attemptRecord';
import type { MiniBatchReceipt } from './contracts';
import { recordFault } from './recordFault';
import { cachedJobRecord, runMiniBatch, type RunMiniBatchDeps } from './runMiniBatch';

export interface RunGroupOptions {
  /** How often a running group looks for a stop request; default one second. */
  stopPollMs?: number;
  /** The app's functionTimeout (host.json) when not the deployed one; tests set it. */
  functionTimeout?: string;
}

/**
 * Runs a group of mini-batches in one activity call: up to `width` attempts in flight on the warm pool,
 * each exactly as a one-mini-batch call would run it (same blobs, same receipt), pulling the next as
 * one ends. It starts new attempts until its time budget is spent; past the budget, a lane keeps
 * pulling only while an attempt started before it is still running, so a straggler holds its own lane
 * and no other mini-batch. A stop request, a broken task or a spent failure budget ends it early.
 * Mini-batches it did not start go back to the shard.
 *
 * A call that runs again after a crash (its claim blob already exists) takes the outcome of every
 * attempt that has a record and runs only the others.
 */
export async function runMiniBatchGroup(
  deps: RunMiniBatchDeps,
  raw: unknown,
  options: RunGroupOptions = {},
): Promise<GroupResult> {
  const input = runGroupInputSchema.parse(raw);
  const started = performance.now();
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const record = await cachedJobRecord(store, logsContainer, input.jobId);
  await store.ensureContainer(logsContainer);
  const claim = await store.write(logsContainer, folder.groupClaim(input.shard, input.group), '', {
    ifNotExists: true,
  });
  const recovering = !claim.created;
  const stop = new StopWatch(deps, folder.stopRequest, options.stopPollMs ?? 1000);
  await stop.check();

  const cutoffMs = startCutoffMs(
    options.functionTimeout ?? appFunctionTimeout(),
    record.job.settings.timeoutSeconds,
  );
  const work = workOf(input.runs);
  let tally = emptyTally();
  /** Start times of the attempts running now, by mini-batch. */
  const running = new Map<number, number>();
  let startedCount = 0;

  const mayStart = (): boolean => {
    if (tallyStop(tally, input.budget) !== undefined || stop.requested) return false;
    const elapsed = performance.now() - started;
    // The first wave always starts; later ones only while they can still finish within functionTimeout.
    if (startedCount >= input.width && elapsed >= cutoffMs) return false;
    if (elapsed < input.budgetMs) return true;
    for (const at of running.values()) if (at - started < input.budgetMs) return true;
    return false;
  };

  const lane = async (): Promise<void> => {
    while (mayStart()) {
      const next = work.next();
      if (next.done) return;
      const { index, attempt } = next.value;
      tally = tallyStart(tally, attempt);
      startedCount += 1;
      running.set(index, performance.now());
      stop.poll();
      const receipt = await runOne(deps, input, index, attempt, recovering);
      running.delete(index);
      tally = tallyAttempt(tally, receipt, input.maxRetries);
    }
  };
  try {
    await Promise.all(Array.from({ length: input.width }, lane));
  } finally {
    stop.close();
  }
  return groupResultSchema.parse({ ...tally, notStarted: runsOf(remaining(work)) });
}

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
  input: RunGroupInput,
  index: number,
  attempt: number,
  recovering: boolean,
): Promise<MiniBatchReceipt> {
  const { jobId } = input;
  if (recovering) {
    const recorded = await deps.store.stat(
      deps.logsContainer,
      jobFolder(jobId).attemptRecord(index, attempt),
    );
    const receipt = receiptFromMetadata(recorded?.metadata);
    if (receipt) return receipt;
  }
  try {
    return await runMiniBatch(deps, { jobId, index, attempt });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    try {
      return await recordFault(deps, { jobId, index, attempt, message });
    } catch {
      return receiptForFault(index, attempt, `The attempt's activity failed: ${message}`);
    }
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
 * A group whose call failed even after its retries: each mini-batch of its runs gets the outcome its
 * record holds, or a failed record of its own (see recordFault), folded as the group would have.
 */
export async function recordGroupFault(deps: RunMiniBatchDeps, raw: unknown): Promise<GroupResult> {
  const input = recordGroupFaultInputSchema.parse(raw);
  let tally = emptyTally();
  for (const { index, attempt } of workOf(input.runs)) {
    tally = tallyStart(tally, attempt);
    const receipt = await recordFault(deps, { jobId: input.jobId, index, attempt, message: input.message });
    tally = tallyAttempt(tally, receipt, input.maxRetries);
  }
  return groupResultSchema.parse({ ...tally, notStarted: [] });
}
