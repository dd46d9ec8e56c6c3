import { type MiniBatchReceipt } from '../activities/contracts';
import { AttemptCodes, MINI_BATCH_FAILURE_CODES } from '../failureCodes';

/**
 * What an attempt's end means for its mini-batch: final, retried, or the end of the job. Pure: shared by
 * the group activity and the orchestrators, replayed.
 */

/** What to do after an attempt ended. */
export type NextStep =
  | { kind: 'final'; outcome: 'succeeded' | 'failed' }
  | { kind: 'retry'; attempt: number }
  | { kind: 'fatal'; code: string; message: string };

/**
 * Partial results are final (Azure ML semantics: recorded, not retried); failed attempts are retried
 * while retries remain; bad data (or output files that cannot be published) fails its mini-batch at
 * once; any other non-retryable failure (the task module is broken) ends the job.
 */
export function nextStep(receipt: MiniBatchReceipt, maxRetries: number): NextStep {
  if (receipt.status === 'succeeded') return { kind: 'final', outcome: 'succeeded' };
  if (receipt.status === 'partial') return { kind: 'final', outcome: 'failed' };
  if (!receipt.retryable && receipt.code !== undefined && MINI_BATCH_FAILURE_CODES.includes(receipt.code)) {
    return { kind: 'final', outcome: 'failed' };
  }
  if (!receipt.retryable) {
    return {
      kind: 'fatal',
      code: receipt.code ?? AttemptCodes.taskBroken,
      message: receipt.message ?? 'task failed',
    };
  }
  if (receipt.attempt <= maxRetries) return { kind: 'retry', attempt: receipt.attempt + 1 };
  return { kind: 'final', outcome: 'failed' };
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
    code: AttemptCodes.activityFailed,
    message: message.slice(0, 1000),
    retryable: true,
    durationMs: 0,
  };
}
