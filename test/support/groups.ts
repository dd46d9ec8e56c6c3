import type { MiniBatchReceipt, RunMiniBatchInput } from '../../src/activities/contracts';
import type { GroupResult, RunGroupInput } from '../../src/orchestration/contracts';
import {
  emptyTally,
  retriesAtRisk,
  runsOf,
  tallyAttempt,
  tallyStart,
  tallyStop,
  workOf,
} from '../../src/orchestration/groupTally';
import { receiptForFault } from '../../src/orchestration/attemptOutcome';
import type { Outcome } from './replay';

/**
 * The group activity as the replay tests see it: each mini-batch of the group answers from `script`
 * (a receipt, an error = the attempt's activity threw and its fault was recorded, or a hang = the whole
 * call hangs), folded with the same tally the activity uses. `perGroup` stands for the time budget: a
 * group starts at most that many attempts and hands the rest back.
 */
export function simulateGroup(
  input: RunGroupInput,
  script: (attempt: RunMiniBatchInput) => Outcome,
  calls: RunMiniBatchInput[],
  perGroup = Number.POSITIVE_INFINITY,
): Outcome {
  let tally = emptyTally();
  const work = [...workOf(input.runs)];
  let next = 0;
  // Waves of `width` attempts: all of a wave start before any of them ends, as in the activity.
  while (
    next < work.length &&
    next < perGroup &&
    tallyStop(tally, input.budget) === undefined &&
    !retriesAtRisk(tally, input.budget)
  ) {
    const wave = work.slice(next, Math.min(next + input.laneWidth, perGroup));
    next += wave.length;
    const outcomes = wave.map((pair) => {
      const attempt = { jobId: input.jobId, ...pair };
      calls.push(attempt);
      return { attempt, outcome: script(attempt) };
    });
    for (const { attempt, outcome } of outcomes) {
      if ('hang' in outcome) return outcome;
      const receipt: MiniBatchReceipt =
        'error' in outcome
          ? receiptForFault(attempt.index, attempt.attempt, `The attempt's activity failed: ${outcome.error}`)
          : (outcome.result as MiniBatchReceipt);
      tally = tallyAttempt(tallyStart(tally, attempt.attempt), receipt, input.maxRetries);
    }
  }
  return { result: { ...tally, notStarted: runsOf(work.slice(next)) } satisfies GroupResult };
}
