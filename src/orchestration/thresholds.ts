import type { EffectiveSettings } from '../job/effective';
import type { Counters } from './counters';

/** The job's failure thresholds: when they are breached, and what a shard may still spend of them. Pure. */

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
