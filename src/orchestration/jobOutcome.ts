import type { Counters } from './counters';
import { thresholdBreaches, type ThresholdSettings } from './thresholds';

/** How a job ends, and why. Pure. */

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
