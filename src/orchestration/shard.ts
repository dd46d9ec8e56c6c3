import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import { EarlierActivityNames } from '../activities/contracts';
import { activities, callActivity, outputOf } from './activities';
import {
  Events,
  parseShardInput,
  type GroupResult,
  type ShardInput,
  type ShardResult,
  type ShardStatus,
  type WorkRun,
} from './contracts';
import { failureOf, failureText } from './failures';
import { runsLength, runsOf } from './groupTally';
import {
  decide,
  finished,
  initialShardState,
  nextDueAt,
  shardResult,
  unrecordedGroupResult,
  type Decision,
  type ShardState,
} from './shardState';
import { whenAny } from './whenAny';

const SECOND = 1000;

/**
 * Runs mini-batches [start, end) as a sequence of group calls (one in flight, the lane's width of attempts):
 * each call runs as many mini-batches as fit its time budget, which grows with the attempts' measured
 * duration, so short tasks cost a few durable work items per thousand mini-batches and long ones about
 * one call per lane-wide wave. Failed attempts wait on one durable timer for their backoff and run in a
 * later group. Stops dispatching on cancel, on a broken task module, or when the shard's failure budget
 * is spent; gives up waiting when a group outlives its time budget, the task timeout and
 * progress_update_timeout together. The bookkeeping is shardState.ts's `decide`; this loop only turns its
 * decisions into durable tasks, and the tasks' ends into its events.
 */
export function* shardOrchestrator(context: OrchestrationContext): Generator<Task, ShardResult, unknown> {
  const { input, earlier } = parseShardInput(context.df.getInput());
  // A shard an earlier version started calls the group activity by the name its history recorded.
  const groupActivity = earlier ? EarlierActivityNames.runGroup : undefined;
  let state = initialShardState(yield* firstAttempts(context, input));
  const cancel = context.df.waitForExternalEvent(Events.cancel);
  let running: Task | undefined;
  let wake: { timer: TimerTask; dueAt: number } | undefined;
  let watchdog: { timer: TimerTask; deadline: number } | undefined;
  const apply = (decision: Decision): Decision => {
    state = decision.state;
    if (decision.call) running = callActivity(context, 'runGroup', decision.call, undefined, groupActivity);
    return decision;
  };
  for (;;) {
    const now = Math.max(context.df.currentUtcDateTime.getTime(), state.woke);
    apply(decide(state, { type: 'ready', at: now }, input));
    if (finished(state)) break;
    publish(context, state);

    // What to wait on: the running group, or the timer of the first retry (or call to make again) due;
    // the watchdog; the cancel event unless stopping.
    const tasks: Task[] = [];
    if (running) tasks.push(running);
    else {
      const dueAt = nextDueAt(state);
      if (!wake || wake.dueAt !== dueAt) {
        wake?.timer.cancel();
        wake = { timer: context.df.createTimer(new Date(dueAt)), dueAt };
      }
      tasks.push(wake.timer);
    }
    // One watchdog timer serves many waits (a timer per wait would add history events): it fires at the
    // deadline of the wait it was armed for, and is re-armed if a group returned since.
    const deadline = now + watchdogMs(state.running?.input.budgetMs ?? 0, input.settings);
    if (!watchdog) watchdog = { timer: context.df.createTimer(new Date(deadline)), deadline };
    tasks.push(watchdog.timer);
    if (state.stop === undefined) tasks.push(cancel);

    const winner = (yield whenAny(context, tasks)) as Task;
    if (winner === watchdog.timer) {
      const fired = watchdog.deadline;
      watchdog = undefined;
      if (fired >= deadline) apply(decide(state, { type: 'stalled' }, input));
    } else if (winner === cancel) {
      apply(decide(state, { type: 'canceled' }, input));
    } else if (wake && winner === wake.timer) {
      apply(decide(state, { type: 'woke', at: wake.dueAt }, input));
      wake = undefined;
    } else {
      running = undefined;
      yield* groupEnded(context, winner, now, input, apply, () => state);
    }
    if (state.stop === 'stalled') break;
  }
  watchdog?.timer.cancel();
  wake?.timer.cancel();
  if (state.stop !== 'stalled') publish(context, { ...state, running: undefined });
  return shardResult(state, input);
}

/**
 * The group call's end as the shard's event: its result; a call that threw (made again, or after its last
 * try its mini-batches recorded as failed attempts by another activity, which keeps the outcomes that
 * were recorded); a result that cannot be read (recorded at once). A recording that fails too counts the
 * attempts without their items.
 */
function* groupEnded(
  context: OrchestrationContext,
  task: Task,
  at: number,
  input: ShardInput,
  apply: (decision: Decision) => Decision,
  state: () => ShardState,
): Generator<Task, void, unknown> {
  if (!task.isFaulted) {
    const parsed = activities.runGroup.output.safeParse(task.result);
    if (parsed.success) {
      apply(decide(state(), { type: 'groupEnded', result: parsed.data, at }, input));
      return;
    }
  }
  const message = task.isFaulted ? failureText(failureOf(task.result)) : 'malformed group result';
  const { record } = apply(
    decide(state(), { type: 'groupFailed', message, retriable: task.isFaulted, at }, input),
  );
  if (!record) return;
  let result: GroupResult;
  try {
    result = outputOf('recordGroupFault', yield callActivity(context, 'recordGroupFault', record));
  } catch {
    result = unrecordedGroupResult(record);
  }
  apply(decide(state(), { type: 'groupEnded', result, at }, input));
}

function publish(context: OrchestrationContext, state: ShardState): void {
  const { running } = state;
  context.df.setCustomStatus({
    counters: state.counters,
    inFlight: running ? runsLength(running.input.runs) : 0,
    ...(running ? { group: running.input.group } : {}),
  } satisfies ShardStatus);
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
