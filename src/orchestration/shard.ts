import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import { ActivityNames, type MiniBatchReceipt } from '../activities/contracts';
import {
  Events,
  MAX_GROUP_MINI_BATCHES,
  groupResultSchema,
  shardInputSchema,
  type GroupResult,
  type RecordGroupFaultInput,
  type RunGroupInput,
  type ShardResult,
  type ShardStatus,
  type WorkRun,
} from './contracts';
import {
  emptyTally,
  runsLength,
  runsOf,
  splitRuns,
  tallyAttempt,
  tallyFinal,
  tallyStart,
  workOf,
} from './groupTally';
import {
  addCounters,
  budgetExceeded,
  emptyCounters,
  groupBudgetMs,
  keepFirstErrors,
  receiptForFault,
  retryDelayMs,
  type Counters,
  type FailureBudget,
  type FirstError,
} from './progress';
import { whenAny } from './whenAny';

const SECOND = 1000;

/** A failed attempt waiting for its retry: its receipt (counted as final if the retry never runs). */
interface Waiting {
  receipt: MiniBatchReceipt;
  dueAt: number;
}

/** Calls of a group before its mini-batches are recorded as failed attempts (see groupOutcome). */
const GROUP_CALL_TRIES = 3;

interface RunningGroup {
  task: Task;
  input: RunGroupInput;
  /** Calls made with this input so far. */
  tries: number;
  /** Retries handed to this group, by mini-batch: back to waiting if the group does not start them. */
  retries: Map<number, MiniBatchReceipt>;
}

/**
 * Runs mini-batches [start, end) as a sequence of group calls (one in flight, `window` attempts wide):
 * each call runs as many mini-batches as fit its time budget, which grows with the attempts' measured
 * duration, so short tasks cost a few durable work items per thousand mini-batches and long ones about
 * one call per lane-wide wave. Failed attempts wait on one durable timer for their backoff and run in a
 * later group. Stops dispatching on cancel, on a broken task module, or when the shard's failure budget
 * is spent; gives up waiting when a group outlives its time budget, the task timeout and
 * progress_update_timeout together.
 */
export function* shardOrchestrator(context: OrchestrationContext): Generator<Task, ShardResult, unknown> {
  const input = shardInputSchema.parse(context.df.getInput());
  const { jobId, window, settings } = input;

  let fresh: WorkRun[];
  if (input.select) {
    const selected = (yield context.df.callActivity(ActivityNames.select, {
      jobId,
      start: input.start,
      end: input.end,
    })) as number[];
    fresh = runsOf(selected.map((index) => ({ index, attempt: 1 })));
  } else {
    fresh =
      input.end > input.start ? [{ start: input.start, count: input.end - input.start, attempt: 1 }] : [];
  }

  let counters: Counters = emptyCounters(runsLength(fresh));
  let errors: FirstError[] = [];
  let stop: ShardResult['stop'];
  let fatal: ShardResult['fatal'];
  let waiting: Waiting[] = [];
  let running: RunningGroup | undefined;
  /** A group call that threw, to be made again (same input) when due. */
  let again: { group: RunningGroup; dueAt: number } | undefined;
  let wake: { timer: TimerTask; dueAt: number } | undefined;
  let watchdog: { timer: TimerTask; deadline: number } | undefined;
  let groups = 0;
  let meanAttemptMs: number | undefined;
  /** Never behind a timer that fired: the next due work is dispatched even if the clock lags. */
  let woke = 0;
  const cancel = context.df.waitForExternalEvent(Events.cancel);

  const fold = (result: GroupResult): void => {
    counters = addCounters(counters, { ...result.counters, miniBatches: 0 });
    errors = keepFirstErrors(errors, result.errors);
    const attempts = result.counters.scheduled + result.counters.retried;
    if (attempts > 0) meanAttemptMs = result.counters.busyMs / attempts;
  };
  // Once stopping, a mini-batch waiting to retry is not retried: its last failure is final.
  const abandonRetries = (): void => {
    let tally = emptyTally();
    for (const entry of waiting) tally = tallyFinal(tally, entry.receipt);
    fold({ ...tally, notStarted: [] });
    waiting = [];
  };

  for (;;) {
    const now = Math.max(context.df.currentUtcDateTime.getTime(), woke);
    if (!running && again && again.dueAt <= now) {
      // Made again even when stopping: the call takes what its first run recorded and starts nothing new.
      running = { ...again.group, task: callGroup(again.group.input) };
      again = undefined;
    }
    if (!running && !again && stop === undefined) running = dispatch(now);
    if (!running && !again && (stop !== undefined || waiting.length === 0)) break;
    context.df.setCustomStatus({
      counters,
      inFlight: running ? runsLength(running.input.runs) : 0,
      ...(running ? { group: running.input.group, maxRetries: settings.maxRetries } : {}),
    } satisfies ShardStatus);

    const waitingOn: Task[] = [];
    if (running) waitingOn.push(running.task);
    else {
      // Nothing runs until the first retry (or the call to make again) is due.
      const dueAt = Math.min(again?.dueAt ?? Infinity, ...waiting.map((entry) => entry.dueAt));
      if (!wake || wake.dueAt !== dueAt) {
        wake?.timer.cancel();
        wake = { timer: context.df.createTimer(new Date(dueAt)), dueAt };
      }
      waitingOn.push(wake.timer);
    }
    // One watchdog timer serves many waits (a timer per wait would add history events): it fires at the
    // deadline of the wait it was armed for, and is re-armed if a group returned since.
    const deadline = now + watchdogMs(running?.input.budgetMs ?? 0, settings);
    if (!watchdog) watchdog = { timer: context.df.createTimer(new Date(deadline)), deadline };
    waitingOn.push(watchdog.timer);
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
    if (wake && winner === wake.timer) {
      woke = wake.dueAt;
      wake = undefined;
      continue;
    }
    const group = running!;
    running = undefined;
    if (winner.isFaulted && group.tries < GROUP_CALL_TRIES) {
      const delay = Math.max(100, input.retryBaseDelayMs) * 2 ** (group.tries - 1);
      again = { group: { ...group, tries: group.tries + 1 }, dueAt: now + delay };
      continue;
    }
    const result = yield* groupOutcome(context, jobId, group, settings.maxRetries, winner);
    fold(result);
    for (const receipt of result.retries) {
      group.retries.delete(receipt.index);
      const delay = retryDelayMs(jobId, receipt.index, receipt.attempt + 1, input.retryBaseDelayMs);
      waiting.push({ receipt, dueAt: now + delay });
    }
    const [retriesBack, freshBack] = partitionRuns(result.notStarted);
    for (const { index } of workOf(retriesBack)) {
      const receipt = group.retries.get(index);
      if (receipt) waiting.push({ receipt, dueAt: now });
    }
    fresh = [...freshBack, ...fresh];
    if (result.fatal && stop !== 'fatal') {
      stop = 'fatal';
      fatal = result.fatal;
    }
    if (result.stalled) {
      stop = 'stalled';
      break;
    }
    if (stop === undefined && budgetExceeded(counters, input.budget)) stop = 'budget';
    if (stop !== undefined) abandonRetries();
  }

  watchdog?.timer.cancel();
  wake?.timer.cancel();
  if (stop !== 'stalled') context.df.setCustomStatus({ counters, inFlight: 0 } satisfies ShardStatus);
  return { shard: input.shard, counters, errors, ...(stop ? { stop } : {}), ...(fatal ? { fatal } : {}) };

  /** The next group: the retries that are due, then fresh mini-batches, up to the group size. */
  function dispatch(now: number): RunningGroup | undefined {
    const due = waiting
      .filter((entry) => entry.dueAt <= now)
      .sort((a, b) => a.receipt.index - b.receipt.index);
    const retryRuns = runsOf(
      due.map(({ receipt }) => ({ index: receipt.index, attempt: receipt.attempt + 1 })),
    );
    const [take, rest] = splitRuns(fresh, Math.max(0, MAX_GROUP_MINI_BATCHES - runsLength(retryRuns)));
    const runs = [...retryRuns, ...take];
    if (runs.length === 0) return undefined;
    waiting = waiting.filter((entry) => entry.dueAt > now);
    fresh = rest;
    const budgetMs = groupBudgetMs(meanAttemptMs, settings.progressUpdateTimeoutSeconds);
    const groupInput: RunGroupInput = {
      jobId,
      shard: input.shard,
      group: groups,
      runs,
      width: window,
      budgetMs,
      maxRetries: settings.maxRetries,
      retryBaseDelayMs: input.retryBaseDelayMs,
      progressUpdateTimeoutSeconds: settings.progressUpdateTimeoutSeconds,
      budget: remainingBudget(input.budget, counters),
    };
    groups += 1;
    return {
      task: callGroup(groupInput),
      input: groupInput,
      tries: 1,
      retries: new Map(due.map(({ receipt }) => [receipt.index, receipt])),
    };
  }

  function callGroup(groupInput: RunGroupInput): Task {
    return context.df.callActivity(ActivityNames.runGroup, groupInput);
  }
}

/**
 * The group's result; for a call that failed after its retries, every mini-batch of it is recorded as a
 * failed attempt by another activity (which keeps the outcomes that were recorded), and if that fails
 * too, counted here without its items.
 */
function* groupOutcome(
  context: OrchestrationContext,
  jobId: string,
  group: RunningGroup,
  maxRetries: number,
  task: Task,
): Generator<Task, GroupResult, unknown> {
  if (!task.isFaulted) {
    const parsed = groupResultSchema.safeParse(task.result);
    if (parsed.success) return parsed.data;
  }
  const message = task.isFaulted ? errorMessage(task.result) : 'malformed group result';
  const recordInput: RecordGroupFaultInput = {
    jobId,
    shard: group.input.shard,
    group: group.input.group,
    runs: group.input.runs,
    maxRetries,
    message,
  };
  const recording = context.df.callActivity(ActivityNames.recordGroupFault, recordInput);
  try {
    return groupResultSchema.parse(yield recording);
  } catch {
    let tally = emptyTally();
    for (const { index, attempt } of workOf(group.input.runs)) {
      tally = tallyAttempt(tallyStart(tally, attempt), receiptForFault(index, attempt, message), maxRetries);
    }
    return { ...tally, notStarted: [] };
  }
}

/** Runs of first attempts and runs of retries. */
function partitionRuns(runs: readonly WorkRun[]): [WorkRun[], WorkRun[]] {
  return [runs.filter((run) => run.attempt > 1), runs.filter((run) => run.attempt === 1)];
}

/** What is left of the shard's failure budget for the next group. */
function remainingBudget(budget: FailureBudget, counters: Counters): FailureBudget {
  return {
    items: budget.items === null ? null : budget.items - counters.itemsFailed,
    miniBatches: budget.miniBatches === null ? null : budget.miniBatches - counters.failed,
  };
}

/**
 * How long a group may run before the shard calls it stalled: its time budget, then the longest attempt
 * started within it (the task timeout, twice: a lane keeps pulling while a straggler runs), then
 * progress_update_timeout without news.
 */
function watchdogMs(
  budgetMs: number,
  settings: { timeoutSeconds: number; progressUpdateTimeoutSeconds: number },
): number {
  return budgetMs + (2 * settings.timeoutSeconds + settings.progressUpdateTimeoutSeconds) * SECOND;
}

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
