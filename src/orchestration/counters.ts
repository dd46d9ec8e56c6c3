import { z } from 'zod';
import type { MiniBatchReceipt } from '../activities/contracts';

/**
 * A job's counters: how its mini-batches, items and rows came out, folded from the attempts' receipts,
 * and its first failures. Pure: the orchestrators replay them.
 */

export const countersSchema = z.object({
  /** Mini-batches this job runs (for a re-run: only the selected ones). */
  miniBatches: z.number().int().nonnegative(),
  /** Mini-batches whose first attempt has started. */
  scheduled: z.number().int().nonnegative(),
  /** Final outcomes: succeeded = every item succeeded; failed = last attempt failed or was partial. */
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Of the failed ones, those that ended partial: some of their items succeeded. */
  partial: z.number().int().nonnegative().default(0),
  /** Retry attempts started (attempts beyond the first). */
  retried: z.number().int().nonnegative(),
  itemsSucceeded: z.number().int().nonnegative(),
  itemsFailed: z.number().int().nonnegative(),
  /** Output rows appended. */
  rows: z.number().int().nonnegative(),
  /** Sum of attempt durations, for throughput and ETA. */
  busyMs: z.number().nonnegative(),
});
export type Counters = z.infer<typeof countersSchema>;

export function emptyCounters(miniBatches = 0): Counters {
  return {
    miniBatches,
    scheduled: 0,
    succeeded: 0,
    failed: 0,
    partial: 0,
    retried: 0,
    itemsSucceeded: 0,
    itemsFailed: 0,
    rows: 0,
    busyMs: 0,
  };
}

/** Adds two sets of counters; `miniBatches` is taken from the first (the job total). */
export function addCounters(total: Counters, delta: Counters): Counters {
  return {
    miniBatches: total.miniBatches,
    scheduled: total.scheduled + delta.scheduled,
    succeeded: total.succeeded + delta.succeeded,
    failed: total.failed + delta.failed,
    partial: total.partial + delta.partial,
    retried: total.retried + delta.retried,
    itemsSucceeded: total.itemsSucceeded + delta.itemsSucceeded,
    itemsFailed: total.itemsFailed + delta.itemsFailed,
    rows: total.rows + delta.rows,
    busyMs: total.busyMs + delta.busyMs,
  };
}

/** Folds the final receipt of one mini-batch into counters. */
export function foldFinal(counters: Counters, receipt: MiniBatchReceipt): Counters {
  const succeeded = receipt.status === 'succeeded';
  // A failed attempt produced no per-item accounting: every item of the mini-batch failed.
  const itemsFailed = receipt.status === 'failed' ? receipt.items : receipt.failed;
  const itemsSucceeded = receipt.status === 'failed' ? 0 : receipt.succeeded;
  return {
    ...counters,
    succeeded: counters.succeeded + (succeeded ? 1 : 0),
    failed: counters.failed + (succeeded ? 0 : 1),
    partial: counters.partial + (receipt.status === 'partial' ? 1 : 0),
    itemsSucceeded: counters.itemsSucceeded + itemsSucceeded,
    itemsFailed: counters.itemsFailed + itemsFailed,
    rows: counters.rows + (receipt.status === 'failed' ? 0 : receipt.rows),
  };
}

/** Adds an attempt's duration, whatever its outcome. */
export function foldAttempt(counters: Counters, receipt: MiniBatchReceipt): Counters {
  return { ...counters, busyMs: counters.busyMs + receipt.durationMs };
}

export const firstErrorSchema = z.object({
  index: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  code: z.string(),
  message: z.string(),
});
export type FirstError = z.infer<typeof firstErrorSchema>;
export const MAX_FIRST_ERRORS = 10;

/**
 * The first final failures by position (mini-batch, then attempt), not by when they ended: attempts run
 * side by side, so the same failures end in a different order from run to run, and the list should not.
 */
export function keepFirstErrors(errors: readonly FirstError[], more: readonly FirstError[]): FirstError[] {
  return [...errors, ...more]
    .sort((a, b) => a.index - b.index || a.attempt - b.attempt)
    .slice(0, MAX_FIRST_ERRORS);
}
