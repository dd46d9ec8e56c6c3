import type { MiniBatchReceipt } from '../activities/contracts';
import type { GroupResult, WorkRun } from './contracts';
import { budgetExceeded, type FailureBudget } from './thresholds';
import { emptyCounters, foldAttempt, foldFinal, keepFirstErrors } from './counters';
import { nextStep } from './attemptOutcome';
import { AttemptCodes } from '../failureCodes';

/**
 * How a group folds its attempts' receipts, with the decisions the shard used to take one receipt at a
 * time: final outcomes are counted, failed attempts with retries left are handed back for a retry after
 * backoff, a broken task stops the group. Pure, so that the activity and the replay tests share it.
 */
export type GroupTally = Omit<GroupResult, 'notStarted'>;

export function emptyTally(): GroupTally {
  return { counters: emptyCounters(0), errors: [], retries: [] };
}

/** An attempt is about to start. */
export function tallyStart(tally: GroupTally, attempt: number): GroupTally {
  const { counters } = tally;
  return {
    ...tally,
    counters:
      attempt === 1
        ? { ...counters, scheduled: counters.scheduled + 1 }
        : { ...counters, retried: counters.retried + 1 },
  };
}

/** A mini-batch's outcome is final: counted, and its error kept if it is among the first. */
export function tallyFinal(tally: GroupTally, receipt: MiniBatchReceipt): GroupTally {
  return {
    ...tally,
    counters: foldFinal(tally.counters, receipt),
    errors:
      receipt.status === 'succeeded' ? tally.errors : keepFirstErrors(tally.errors, [firstError(receipt)]),
  };
}

/** An attempt ended with this receipt. */
export function tallyAttempt(tally: GroupTally, receipt: MiniBatchReceipt, maxRetries: number): GroupTally {
  const timed = { ...tally, counters: foldAttempt(tally.counters, receipt) };
  const step = nextStep(receipt, maxRetries);
  if (step.kind === 'retry') return { ...timed, retries: [...timed.retries, receipt] };
  const counted = tallyFinal(timed, receipt);
  if (step.kind === 'fatal' && !counted.fatal) {
    return { ...counted, fatal: { code: step.code, message: step.message, index: receipt.index } };
  }
  return counted;
}

/** Why the group must start nothing more, if it must. */
export function tallyStop(tally: GroupTally, budget: FailureBudget): 'fatal' | 'budget' | undefined {
  if (tally.fatal) return 'fatal';
  return budgetExceeded(tally.counters, budget) ? 'budget' : undefined;
}

/**
 * Whether the failures waiting for a retry could already breach the failure budget if their retries
 * failed too: then the group starts no untried mini-batch until they are settled, so that a threshold stops
 * the job where it would stop if every retry ran at once.
 */
export function retriesAtRisk(tally: GroupTally, budget: FailureBudget): boolean {
  if (tally.retries.length === 0) return false;
  const { counters } = tally;
  const items = tally.retries.reduce((sum, receipt) => sum + receipt.items, 0);
  return budgetExceeded(
    {
      ...counters,
      failed: counters.failed + tally.retries.length,
      itemsFailed: counters.itemsFailed + items,
    },
    budget,
  );
}

/** A retry the group runs itself: it no longer waits. */
export function tallyRetryTaken(tally: GroupTally, index: number): GroupTally {
  return { ...tally, retries: tally.retries.filter((receipt) => receipt.index !== index) };
}

/** The code a failure is known by when its receipt has none (a partial result, or a bare failure). */
export function failureCode(receipt: MiniBatchReceipt): string {
  return receipt.code ?? (receipt.status === 'partial' ? AttemptCodes.partialResult : AttemptCodes.failed);
}

export function firstError(receipt: MiniBatchReceipt): GroupTally['errors'][number] {
  return {
    index: receipt.index,
    attempt: receipt.attempt,
    code: failureCode(receipt),
    message:
      receipt.message ??
      (receipt.status === 'partial' ? `${receipt.failed} of ${receipt.items} items failed` : 'failed'),
  };
}

/** The (index, attempt) pairs of runs, in order. */
export function* workOf(runs: readonly WorkRun[]): Generator<{ index: number; attempt: number }> {
  for (const run of runs) {
    for (let index = run.start; index < run.start + run.count; index += 1) {
      yield { index, attempt: run.attempt };
    }
  }
}

/** Pairs as runs: consecutive indexes at the same attempt become one run. */
export function runsOf(work: Iterable<{ index: number; attempt: number }>): WorkRun[] {
  const runs: WorkRun[] = [];
  for (const { index, attempt } of work) {
    const last = runs[runs.length - 1];
    if (last && last.attempt === attempt && last.start + last.count === index) last.count += 1;
    else runs.push({ start: index, count: 1, attempt });
  }
  return runs;
}

export function runsLength(runs: readonly WorkRun[]): number {
  return runs.reduce((sum, run) => sum + run.count, 0);
}

/** The first `count` mini-batches of runs, and the rest. */
export function splitRuns(runs: readonly WorkRun[], count: number): [WorkRun[], WorkRun[]] {
  const head: WorkRun[] = [];
  const tail: WorkRun[] = [];
  let left = count;
  for (const run of runs) {
    if (left >= run.count) {
      head.push(run);
      left -= run.count;
    } else if (left > 0) {
      head.push({ ...run, count: left });
      tail.push({ start: run.start + left, count: run.count - left, attempt: run.attempt });
      left = 0;
    } else {
      tail.push(run);
    }
  }
  return [head, tail];
}
