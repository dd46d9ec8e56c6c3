import { z } from 'zod';
import { ACTIVITY_FAILED, type MiniBatchReceipt } from '../activities/contracts';
import type { EffectiveSettings } from '../job/effective';

/**
 * Pure decisions of the orchestrators: how receipts fold into counters, when a threshold is breached,
 * when and how long to wait before a retry, and how a job ends. No I/O, no clock, no randomness:
 * everything here is replayed.
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

/** What to do after an attempt ended. */
export type NextStep =
  | { kind: 'final'; outcome: 'succeeded' | 'failed' }
  | { kind: 'retry'; attempt: number }
  | { kind: 'fatal'; code: string; message: string };

/** Codes of failures that are the mini-batch's own data: not retried (they would fail again), not fatal. */
const DATA_FAILURE_CODES: readonly string[] = ['TABULAR_PARSE_FAILED', 'PARQUET_UNREADABLE', 'INPUT_CHANGED'];

/**
 * Partial results are final (Azure ML semantics: recorded, not retried); failed attempts are retried
 * while retries remain; bad data fails its mini-batch at once; any other non-retryable failure (the task
 * module is broken) ends the job.
 */
export function nextStep(receipt: MiniBatchReceipt, maxRetries: number): NextStep {
  if (receipt.status === 'succeeded') return { kind: 'final', outcome: 'succeeded' };
  if (receipt.status === 'partial') return { kind: 'final', outcome: 'failed' };
  if (!receipt.retryable && receipt.code !== undefined && DATA_FAILURE_CODES.includes(receipt.code)) {
    return { kind: 'final', outcome: 'failed' };
  }
  if (!receipt.retryable) {
    return { kind: 'fatal', code: receipt.code ?? 'TASK_BROKEN', message: receipt.message ?? 'task failed' };
  }
  if (receipt.attempt <= maxRetries) return { kind: 'retry', attempt: receipt.attempt + 1 };
  return { kind: 'final', outcome: 'failed' };
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

/** A receipt for an attempt whose activity threw (an infrastructure fault after Durable gave up). */
export function receiptForFault(index: number, attempt: number, message: string): MiniBatchReceipt {
  return {
    index,
    attempt,
    status: 'failed',
    items: 0,
    succeeded: 0,
    failed: 0,
    rows: 0,
    code: ACTIVITY_FAILED,
    message: message.slice(0, 1000),
    retryable: true,
    durationMs: 0,
  };
}

export type ThresholdSettings = Pick<
  EffectiveSettings,
  'errorThreshold' | 'miniBatchErrorThreshold' | 'allowedFailedPercent'
>;

/**
 * The reasons the job must stop, if any. Thresholds are strict ("more than N"), -1 / 100 switch them
 * off, and the percentage is judged only once every mini-batch has been scheduled.
 */
export function thresholdBreaches(
  counters: Counters,
  settings: ThresholdSettings,
  allScheduled: boolean,
): string[] {
  const reasons: string[] = [];
  if (settings.errorThreshold >= 0 && counters.itemsFailed > settings.errorThreshold) {
    reasons.push(
      `error_threshold exceeded: ${counters.itemsFailed} failed items > ${settings.errorThreshold} allowed.`,
    );
  }
  if (settings.miniBatchErrorThreshold >= 0 && counters.failed > settings.miniBatchErrorThreshold) {
    reasons.push(
      `mini_batch_error_threshold exceeded: ${counters.failed} failed mini-batches > ${settings.miniBatchErrorThreshold} allowed.`,
    );
  }
  if (allScheduled && settings.allowedFailedPercent < 100 && counters.miniBatches > 0) {
    const percent = (100 * counters.failed) / counters.miniBatches;
    if (percent > settings.allowedFailedPercent) {
      reasons.push(
        `--allowed_failed_percent exceeded: ${percent.toFixed(2)}% of mini-batches failed > ${settings.allowedFailedPercent}% allowed.`,
      );
    }
  }
  return reasons;
}

/**
 * How many more failures a shard may see before the job certainly breaches, given the totals known
 * when it starts. `null` = unlimited. Shards stop scheduling once they pass their budget; the root
 * re-checks the exact totals.
 */
export interface FailureBudget {
  items: number | null;
  miniBatches: number | null;
}

export function failureBudget(counters: Counters, settings: ThresholdSettings): FailureBudget {
  return {
    items: settings.errorThreshold < 0 ? null : settings.errorThreshold - counters.itemsFailed,
    miniBatches:
      settings.miniBatchErrorThreshold < 0 ? null : settings.miniBatchErrorThreshold - counters.failed,
  };
}

export function budgetExceeded(local: Counters, budget: FailureBudget): boolean {
  return (
    (budget.items !== null && local.itemsFailed > budget.items) ||
    (budget.miniBatches !== null && local.failed > budget.miniBatches)
  );
}

/** FNV-1a: a stable 32-bit hash, so jitter is the same on every replay. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export const MAX_RETRY_DELAY_MS = 60_000;

/**
 * Exponential backoff before attempt `attempt` (2, 3, ...): base x 2^(attempt-2), capped at a minute,
 * with +-20% jitter derived from (job, mini-batch, attempt) so that retries of many mini-batches spread
 * out but every replay computes the same delay.
 */
export function retryDelayMs(jobId: string, index: number, attempt: number, baseMs: number): number {
  if (baseMs <= 0) return 0;
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attempt - 2), MAX_RETRY_DELAY_MS);
  const unit = stableHash(`${jobId}/${index}/${attempt}`) / 0xffffffff; // [0, 1]
  return Math.round(exponential * (0.8 + 0.4 * unit));
}

/**
 * Splits the job's concurrency (instance_count x max_concurrency_per_instance) into lanes. Each lane
 * runs one shard at a time; a shard keeps up to its lane's width of mini-batches in flight.
 */
export const MAX_LANE_WIDTH = 8;

export function laneWidths(concurrency: number): number[] {
  const lanes = Math.ceil(concurrency / MAX_LANE_WIDTH);
  const widths: number[] = [];
  for (let lane = 0; lane < lanes; lane += 1) {
    widths.push(Math.floor(concurrency / lanes) + (lane < concurrency % lanes ? 1 : 0));
  }
  return widths;
}

/**
 * Mini-batches per shard. A shard's history grows by a few events per group call, not per mini-batch, so
 * shards can be long; they stay short enough that lanes finishing early take the next shard (the load
 * balances) and that a small job is spread over every lane instead of filling the first one.
 */
export function shardSize(laneWidth: number, miniBatches: number, lanes: number): number {
  return Math.max(1, Math.min(256 * laneWidth, Math.ceil(miniBatches / lanes)));
}

/** Time budget of the first group of a shard, before any attempt has been timed. */
export const FIRST_GROUP_BUDGET_MS = 1000;
export const MAX_GROUP_BUDGET_MS = 20_000;

/**
 * How long a group call starts new attempts: about 30 attempts' worth per lane, between one and twenty
 * seconds, and at most a quarter of progress_update_timeout. Short tasks: one call runs hundreds of
 * mini-batches; long tasks: a call is a wave or a few. The tail (lanes waiting for the last attempts
 * before the call returns) is at most one attempt long, so a longer budget wastes less of it.
 */
export function groupBudgetMs(
  meanAttemptMs: number | undefined,
  progressUpdateTimeoutSeconds: number,
): number {
  const wanted =
    meanAttemptMs === undefined
      ? FIRST_GROUP_BUDGET_MS
      : Math.min(MAX_GROUP_BUDGET_MS, Math.max(FIRST_GROUP_BUDGET_MS, 30 * meanAttemptMs));
  return Math.max(1, Math.round(Math.min(wanted, (progressUpdateTimeoutSeconds * 1000) / 4)));
}

export type JobEndStatus = 'Completed' | 'Failed' | 'Canceled';

export interface EndFacts {
  counters: Counters;
  settings: ThresholdSettings;
  /** Reasons already known (a fatal task error, a watchdog, a planning failure, a breach). */
  reasons: readonly string[];
  canceled: boolean;
  appendRow: boolean;
}

/** How the job ends, with every reason. */
export function decideOutcome(facts: EndFacts): { status: JobEndStatus; reasons: string[] } {
  const reasons = [...facts.reasons];
  for (const reason of thresholdBreaches(facts.counters, facts.settings, !facts.canceled)) {
    if (!reasons.includes(reason)) reasons.push(reason);
  }
  if (facts.canceled) return { status: 'Canceled', reasons: ['Canceled on request.', ...reasons] };
  const { counters } = facts;
  const ranItems = counters.itemsSucceeded + counters.itemsFailed > 0 || counters.failed > 0;
  if (facts.appendRow && counters.miniBatches > 0 && ranItems && counters.itemsSucceeded === 0) {
    reasons.push('No mini-batch item succeeded: run() returned no results to append.');
  }
  return { status: reasons.length > 0 ? 'Failed' : 'Completed', reasons };
}
