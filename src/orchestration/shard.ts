import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import type { MiniBatchReceipt } from '../activities/contracts';
import { activities, callActivity, outputOf } from './activities';
import {
  Events,
  MAX_GROUP_MINI_BATCHES,
  shardInputSchema,
  type GroupResult,
  type ShardInput,
  type RecordGroupFaultInput,
  type RunGroupInput,
  type ShardResult,
  type ShardStatus,
  type WorkRun,
} from './contracts';
import {
  emptyTally,
  retriesAtRisk,
  runsLength,
  runsOf,
  splitRuns,
  tallyAttempt,
  tallyFinal,
  tallyStart,
  workOf,
} from './groupTally';
import { addCounters, emptyCounters, keepFirstErrors, type Counters, type FirstError } from './counters';
import { budgetExceeded, type FailureBudget } from './thresholds';
import { groupBudgetMs } from './lanes';
import { receiptForFault } from './attemptOutcome';
import { callRetryDelayMs, retryDelayMs } from './retryPolicy';
import { failureOf, failureText } from './failures';
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
 * Runs mini-batches [start, end) as a sequence of group calls (one in flight, the lane's width of attempts):
 * each call runs as many mini-batches as fit its time budget, which grows with the attempts' measured
 * duration, so short tasks cost a few durable work items per thousand mini-batches and long ones about
 * one call per lane-wide wave. Failed attempts wait on one durable timer for their backoff and run in a
 * later group. Stops dispatching on cancel, on a broken task module, or when the shard's failure budget
 * is spent; gives up waiting when a group outlives its time budget, the task timeout and
 * progress_update_timeout together.
 */
export function* shardOrchestrator(context: OrchestrationContext): Generator<Task, ShardResult, unknown> {
  const input = shardInputSchema.parse(context.df.getInput());
  const shard = new ShardRun(context, input, yield* firstAttempts(context, input));
  for (;;) {
    const now = shard.now();
    shard.startNext(now);
    if (shard.finished()) break;
    shard.publish();
    const { tasks, deadline } = shard.waitList(now);
    const winner = (yield whenAny(context, tasks)) as Task;
    if (!(yield* shard.take(winner, now, deadline))) break;
  }
  return shard.result();
}

/** The first attempts of the shard's range: all of it, or for a re-run what is left to run. */
function* firstAttempts(
  context: OrchestrationContext,
  input: ShardInput,
): Generator<Task, WorkRun[], unknown> {
  if (input.select) {
    const selected = outputOf(
      'select',
      yield callActivity(context, 'select', { jobId: input.jobId, start: input.start, end: input.end }),
    );
    return runsOf(selected.map((index) => ({ index, attempt: 1 })));
  }
  return input.end > input.start ? [{ start: input.start, count: input.end - input.start, attempt: 1 }] : [];
}

/** The shard's state between episodes of its loop, and the decisions on each task that ends a wait. */
class ShardRun {
  private counters: Counters;
  private errors: FirstError[] = [];
  private stop: ShardResult['stop'];
  private fatal: ShardResult['fatal'];
  private waiting: Waiting[] = [];
  private running: RunningGroup | undefined;
  /** A group call that threw, to be made again (same input) when due. */
  private again: { group: RunningGroup; dueAt: number } | undefined;
  private wake: { timer: TimerTask; dueAt: number } | undefined;
  private watchdog: { timer: TimerTask; deadline: number } | undefined;
  private groups = 0;
  private meanAttemptMs: number | undefined;
  /** Never behind a timer that fired: the next due work is dispatched even if the clock lags. */
  private woke = 0;
  private readonly cancel: Task;

  constructor(
    private readonly context: OrchestrationContext,
    private readonly input: ShardInput,
    private fresh: WorkRun[],
  ) {
    this.counters = emptyCounters(runsLength(fresh));
    this.cancel = context.df.waitForExternalEvent(Events.cancel);
  }

  now(): number {
    return Math.max(this.context.df.currentUtcDateTime.getTime(), this.woke);
  }

  /** Makes a failed call again when due (even when stopping: it starts nothing new), or the next group. */
  startNext(now: number): void {
    if (this.running) return;
    if (this.again && this.again.dueAt <= now) {
      this.running = { ...this.again.group, task: this.callGroup(this.again.group.input) };
      this.again = undefined;
    } else if (!this.again && this.stop === undefined) {
      this.running = this.dispatch(now);
    }
  }

  finished(): boolean {
    return !this.running && !this.again && (this.stop !== undefined || this.waiting.length === 0);
  }

  publish(): void {
    const { running } = this;
    this.context.df.setCustomStatus({
      counters: this.counters,
      inFlight: running ? runsLength(running.input.runs) : 0,
      ...(running ? { group: running.input.group } : {}),
    } satisfies ShardStatus);
  }

  /**
   * What to wait on: the running group, or the timer of the first retry (or call to make again) due;
   * the watchdog; the cancel event unless stopping.
   */
  waitList(now: number): { tasks: Task[]; deadline: number } {
    const tasks: Task[] = [];
    if (this.running) tasks.push(this.running.task);
    else {
      const dueAt = Math.min(this.again?.dueAt ?? Infinity, ...this.waiting.map((entry) => entry.dueAt));
      if (!this.wake || this.wake.dueAt !== dueAt) {
        this.wake?.timer.cancel();
        this.wake = { timer: this.context.df.createTimer(new Date(dueAt)), dueAt };
      }
      tasks.push(this.wake.timer);
    }
    // One watchdog timer serves many waits (a timer per wait would add history events): it fires at the
    // deadline of the wait it was armed for, and is re-armed if a group returned since.
    const deadline = now + watchdogMs(this.running?.input.budgetMs ?? 0, this.input.settings);
    if (!this.watchdog) this.watchdog = { timer: this.context.df.createTimer(new Date(deadline)), deadline };
    tasks.push(this.watchdog.timer);
    if (this.stop === undefined) tasks.push(this.cancel);
    return { tasks, deadline };
  }

  /** Acts on the task that ended the wait; false when the shard must stop waiting (stalled). */
  *take(winner: Task, now: number, deadline: number): Generator<Task, boolean, unknown> {
    if (this.watchdog && winner === this.watchdog.timer) {
      const fired = this.watchdog.deadline;
      this.watchdog = undefined;
      if (fired >= deadline) this.stop = 'stalled';
      return this.stop !== 'stalled';
    }
    if (winner === this.cancel) {
      this.stop = 'canceled';
      this.abandonRetries();
      return true;
    }
    if (this.wake && winner === this.wake.timer) {
      this.woke = this.wake.dueAt;
      this.wake = undefined;
      return true;
    }
    const group = this.running!;
    this.running = undefined;
    if (winner.isFaulted && group.tries < GROUP_CALL_TRIES) {
      const delay = callRetryDelayMs(
        this.input.retryBaseDelayMs,
        group.tries,
        `${this.input.jobId}/group-${group.input.group}`,
      );
      this.again = { group: { ...group, tries: group.tries + 1 }, dueAt: now + delay };
      return true;
    }
    const result = yield* groupOutcome(
      this.context,
      this.input.jobId,
      group,
      this.input.settings.maxRetries,
      winner,
    );
    this.settle(group, result, now);
    return this.stop !== 'stalled';
  }

  /** Folds a group's result: counters, retries to wait for, work handed back, and why to stop. */
  private settle(group: RunningGroup, result: GroupResult, now: number): void {
    this.fold(result);
    for (const receipt of result.retries) {
      group.retries.delete(receipt.index);
      const delay = retryDelayMs(
        this.input.jobId,
        receipt.index,
        receipt.attempt + 1,
        this.input.retryBaseDelayMs,
      );
      this.waiting.push({ receipt, dueAt: now + delay });
    }
    const [retriesBack, freshBack] = partitionRuns(result.notStarted);
    for (const { index } of workOf(retriesBack)) {
      const receipt = group.retries.get(index);
      if (receipt) this.waiting.push({ receipt, dueAt: now });
    }
    this.fresh = [...freshBack, ...this.fresh];
    if (result.fatal && this.stop !== 'fatal') {
      this.stop = 'fatal';
      this.fatal = result.fatal;
    }
    if (result.stalled) {
      this.stop = 'stalled';
      return;
    }
    if (this.stop === undefined && budgetExceeded(this.counters, this.input.budget)) this.stop = 'budget';
    if (this.stop !== undefined) this.abandonRetries();
  }

  result(): ShardResult {
    this.watchdog?.timer.cancel();
    this.wake?.timer.cancel();
    const { counters, errors, stop, fatal } = this;
    if (stop !== 'stalled') this.context.df.setCustomStatus({ counters, inFlight: 0 } satisfies ShardStatus);
    return {
      shard: this.input.shard,
      counters,
      errors,
      ...(stop ? { stop } : {}),
      ...(fatal ? { fatal } : {}),
    };
  }

  private fold(result: GroupResult): void {
    this.counters = addCounters(this.counters, { ...result.counters, miniBatches: 0 });
    this.errors = keepFirstErrors(this.errors, result.errors);
    const attempts = result.counters.scheduled + result.counters.retried;
    if (attempts > 0) this.meanAttemptMs = result.counters.busyMs / attempts;
  }

  /** Once stopping, a mini-batch waiting to retry is not retried: its last failure is final. */
  private abandonRetries(): void {
    let tally = emptyTally();
    for (const entry of this.waiting) tally = tallyFinal(tally, entry.receipt);
    this.fold({ ...tally, notStarted: [] });
    this.waiting = [];
  }

  /** The next group: the retries that are due, then fresh mini-batches, up to the group size. */
  private dispatch(now: number): RunningGroup | undefined {
    const due = this.waiting
      .filter((entry) => entry.dueAt <= now)
      .sort((a, b) => a.receipt.index - b.receipt.index);
    const retryRuns = runsOf(
      due.map(({ receipt }) => ({ index: receipt.index, attempt: receipt.attempt + 1 })),
    );
    // As in a group: no fresh mini-batch while the retries waiting here could breach the failure budget.
    const pending = {
      counters: this.counters,
      errors: [],
      retries: this.waiting.map((entry) => entry.receipt),
    };
    const room = retriesAtRisk(pending, this.input.budget)
      ? 0
      : MAX_GROUP_MINI_BATCHES - runsLength(retryRuns);
    const [take, rest] = splitRuns(this.fresh, Math.max(0, room));
    const runs = [...retryRuns, ...take];
    if (runs.length === 0) return undefined;
    this.waiting = this.waiting.filter((entry) => entry.dueAt > now);
    this.fresh = rest;
    const { input } = this;
    const groupInput: RunGroupInput = {
      jobId: input.jobId,
      shard: input.shard,
      group: this.groups,
      runs,
      laneWidth: input.laneWidth,
      budgetMs: groupBudgetMs(this.meanAttemptMs, input.settings.progressUpdateTimeoutSeconds),
      maxRetries: input.settings.maxRetries,
      retryBaseDelayMs: input.retryBaseDelayMs,
      progressUpdateTimeoutSeconds: input.settings.progressUpdateTimeoutSeconds,
      budget: remainingBudget(input.budget, this.counters),
    };
    this.groups += 1;
    return {
      task: this.callGroup(groupInput),
      input: groupInput,
      tries: 1,
      retries: new Map(due.map(({ receipt }) => [receipt.index, receipt])),
    };
  }

  private callGroup(groupInput: RunGroupInput): Task {
    return callActivity(this.context, 'runGroup', groupInput);
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
    const parsed = activities.runGroup.output.safeParse(task.result);
    if (parsed.success) return parsed.data;
  }
  const message = task.isFaulted ? failureText(failureOf(task.result)) : 'malformed group result';
  const recordInput: RecordGroupFaultInput = {
    jobId,
    shard: group.input.shard,
    group: group.input.group,
    runs: group.input.runs,
    maxRetries,
    message,
  };
  const recording = callActivity(context, 'recordGroupFault', recordInput);
  try {
    return outputOf('recordGroupFault', yield recording);
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
