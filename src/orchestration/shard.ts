import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import {
  ActivityNames,
  miniBatchReceiptSchema,
  type MiniBatchReceipt,
  type RecordFaultInput,
} from '../activities/contracts';
import { Events, shardInputSchema, type ShardResult, type ShardStatus } from './contracts';
import {
  budgetExceeded,
  emptyCounters,
  foldAttempt,
  foldFinal,
  keepFirstErrors,
  nextStep,
  receiptForFault,
  retryDelayMs,
  type Counters,
  type FirstError,
} from './progress';
import { whenAny } from './whenAny';

/**
 * What an in-flight task stands for: an attempt running, the record of an attempt whose activity threw,
 * or the pause before the next attempt.
 */
type Slot =
  | { kind: 'attempt'; index: number; attempt: number }
  | { kind: 'fault'; index: number; attempt: number; message: string }
  | { kind: 'backoff'; index: number; attempt: number; last: MiniBatchReceipt; timer: TimerTask };

const SECOND = 1000;

/**
 * Runs mini-batches [start, end) with at most `window` attempts in flight: a sliding window, so a slow
 * mini-batch holds one slot, not the others. Retries wait on a durable timer with backoff. Stops
 * scheduling (and lets in-flight attempts finish) on cancel, on a broken task module, or when the
 * shard's failure budget is spent; gives up waiting when nothing finishes for progress_update_timeout.
 */
export function* shardOrchestrator(context: OrchestrationContext): Generator<Task, ShardResult, unknown> {
  const input = shardInputSchema.parse(context.df.getInput());
  const { jobId, window, settings } = input;

  let queue: number[];
  if (input.select) {
    queue = (yield context.df.callActivity(ActivityNames.select, {
      jobId,
      start: input.start,
      end: input.end,
    })) as number[];
  } else {
    queue = Array.from({ length: input.end - input.start }, (_, i) => input.start + i);
  }

  let counters: Counters = emptyCounters(queue.length);
  let errors: FirstError[] = [];
  let stop: ShardResult['stop'];
  let fatal: ShardResult['fatal'];
  const inFlight = new Map<Task, Slot>();
  const cancel = context.df.waitForExternalEvent(Events.cancel);
  let watchdog: { timer: TimerTask; deadline: number } | undefined;

  const startAttempt = (index: number, attempt: number): void => {
    inFlight.set(context.df.callActivity(ActivityNames.runMiniBatch, { jobId, index, attempt }), {
      kind: 'attempt',
      index,
      attempt,
    });
  };
  const finish = (receipt: MiniBatchReceipt): void => {
    counters = foldFinal(counters, receipt);
    if (receipt.status !== 'succeeded') errors = keepFirstErrors(errors, [firstError(receipt)]);
  };
  // Once stopping, a mini-batch waiting to retry is not retried: its last failure is final.
  const abandonRetries = (): void => {
    for (const [task, slot] of inFlight) {
      if (slot.kind !== 'backoff') continue;
      slot.timer.cancel();
      inFlight.delete(task);
      finish(slot.last);
    }
  };

  for (;;) {
    while (stop === undefined && inFlight.size < window && queue.length > 0) {
      startAttempt(queue.shift()!, 1);
      counters = { ...counters, scheduled: counters.scheduled + 1 };
    }
    if (inFlight.size === 0) break;
    context.df.setCustomStatus({ counters, inFlight: inFlight.size } satisfies ShardStatus);

    const now = context.df.currentUtcDateTime.getTime();
    // One watchdog timer serves many waits (a timer per wait would add a history event per mini-batch):
    // it fires at the deadline of the wait it was armed for, and is re-armed if something finished since.
    const deadline = now + settings.progressUpdateTimeoutSeconds * SECOND;
    if (!watchdog) watchdog = { timer: context.df.createTimer(new Date(deadline)), deadline };
    const waitingOn: Task[] = [...inFlight.keys(), watchdog.timer];
    if (stop === undefined) waitingOn.push(cancel);
    const winner = (yield whenAny(context, waitingOn)) as Task;

    if (winner === watchdog.timer) {
      const fired = watchdog.deadline;
      watchdog = undefined;
      if (fired >= deadline) {
        stop = 'stalled';
        break;
      }
      continue;
    }
    if (winner === cancel) {
      stop = 'canceled';
      abandonRetries();
      continue;
    }
    const slot = inFlight.get(winner)!;
    inFlight.delete(winner);

    if (slot.kind === 'backoff') {
      startAttempt(slot.index, slot.attempt);
      counters = { ...counters, retried: counters.retried + 1 };
      continue;
    }

    // An attempt whose activity threw is recorded like any failure (its items counted and reported)
    // before it counts: one more activity, on the failure path only.
    if (slot.kind === 'attempt' && winner.isFaulted) {
      const message = winner.result instanceof Error ? winner.result.message : String(winner.result);
      const recording = context.df.callActivity(ActivityNames.recordFault, {
        jobId,
        index: slot.index,
        attempt: slot.attempt,
        message,
      } satisfies RecordFaultInput);
      inFlight.set(recording, { kind: 'fault', index: slot.index, attempt: slot.attempt, message });
      continue;
    }
    const receipt =
      slot.kind === 'fault' && winner.isFaulted
        ? receiptForFault(slot.index, slot.attempt, slot.message)
        : receiptOf(winner, slot);
    counters = foldAttempt(counters, receipt);
    const step = nextStep(receipt, settings.maxRetries);
    if (step.kind === 'retry' && stop === undefined) {
      const delay = retryDelayMs(jobId, slot.index, step.attempt, input.retryBaseDelayMs);
      const timer = context.df.createTimer(new Date(now + delay));
      inFlight.set(timer, {
        kind: 'backoff',
        index: slot.index,
        attempt: step.attempt,
        last: receipt,
        timer,
      });
      continue;
    }
    finish(receipt);
    if (step.kind === 'fatal' && stop !== 'fatal') {
      stop = 'fatal';
      fatal = { code: step.code, message: step.message, index: slot.index };
    }
    if (stop === undefined && budgetExceeded(counters, input.budget)) stop = 'budget';
    if (stop !== undefined) abandonRetries();
  }

  watchdog?.timer.cancel();
  if (stop !== 'stalled') context.df.setCustomStatus({ counters, inFlight: 0 } satisfies ShardStatus);
  return { shard: input.shard, counters, errors, ...(stop ? { stop } : {}), ...(fatal ? { fatal } : {}) };
}

function receiptOf(task: Task, slot: { index: number; attempt: number }): MiniBatchReceipt {
  if (task.isFaulted) {
    const message = task.result instanceof Error ? task.result.message : String(task.result);
    return receiptForFault(slot.index, slot.attempt, message);
  }
  const parsed = miniBatchReceiptSchema.safeParse(task.result);
  return parsed.success
    ? parsed.data
    : receiptForFault(slot.index, slot.attempt, `malformed receipt: ${parsed.error.message}`);
}

function firstError(receipt: MiniBatchReceipt): FirstError {
  return {
    index: receipt.index,
    attempt: receipt.attempt,
    code: receipt.code ?? (receipt.status === 'partial' ? 'TASK_PARTIAL_RESULT' : 'TASK_FAILED'),
    message:
      receipt.message ??
      (receipt.status === 'partial' ? `${receipt.failed} of ${receipt.items} items failed` : 'failed'),
  };
}
