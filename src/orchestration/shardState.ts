import type { MiniBatchReceipt } from '../activities/contracts';
import {
  MAX_GROUP_MINI_BATCHES,
  type GroupResult,
  type RecordGroupFaultInput,
  type RunGroupInput,
  type ShardInput,
  type ShardResult,
  type WorkRun,
} from './contracts';
import { receiptForFault } from './attemptOutcome';
import { addCounters, emptyCounters, keepFirstErrors, type Counters, type FirstError } from './counters';
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
import { groupBudgetMs } from './lanes';
import { callRetryDelayMs, retryDelayMs } from './retryPolicy';
import { budgetExceeded, type FailureBudget } from './thresholds';

/**
 * A shard's bookkeeping, as a pure `decide(state, event)`: which group call to make next, what a call's
 * end means (counters, retries to wait for, work handed back, why to stop), when to call again a call that
 * threw. The orchestrator (shard.ts) only turns the decisions into durable tasks and the tasks' ends into
 * events; everything here is plain data, replayed the same way every time.
 */

/** A failed attempt waiting for its retry: its receipt (counted as final if the retry never runs). */
export interface Waiting {
  receipt: MiniBatchReceipt;
  dueAt: number;
}

/** A group call: its input, how many times it was made, and the retries handed to it. */
export interface GroupCall {
  input: RunGroupInput;
  tries: number;
  /** Retries handed to this group: back to waiting if the group does not start them. */
  retries: MiniBatchReceipt[];
}

export interface ShardState {
  counters: Counters;
  errors: FirstError[];
  stop?: ShardResult['stop'];
  fatal?: ShardResult['fatal'];
  /** Failed attempts waiting for their backoff. */
  waiting: Waiting[];
  /** Mini-batches not tried yet, in order. */
  untried: WorkRun[];
  /** The group call in flight. */
  running?: GroupCall;
  /** A group call that threw, to be made again (same input) when due. */
  again?: { call: GroupCall; dueAt: number };
  /** Group calls made so far: the next one's number. */
  groups: number;
  meanAttemptMs?: number;
  /** The latest timer that fired: due work is dispatched even if the clock lags behind it. */
  woke: number;
}

export type ShardEvent =
  /** Nothing in flight: make the call due again, or the next group. */
  | { type: 'ready'; at: number }
  | { type: 'groupEnded'; result: GroupResult; at: number }
  /** The call threw (retriable: it may be made again) or answered something unreadable (it may not). */
  | { type: 'groupFailed'; message: string; retriable: boolean; at: number }
  | { type: 'woke'; at: number }
  | { type: 'canceled' }
  /** Nothing ended within the watchdog's deadline. */
  | { type: 'stalled' };

export interface Decision {
  state: ShardState;
  /** A group to call now. */
  call?: RunGroupInput;
  /** A group that failed for good: its mini-batches are to be recorded as failed attempts. */
  record?: RecordGroupFaultInput;
}

/** Calls of a group before its mini-batches are recorded as failed attempts. */
export const GROUP_CALL_TRIES = 3;

export function initialShardState(untried: WorkRun[]): ShardState {
  return {
    counters: emptyCounters(runsLength(untried)),
    errors: [],
    waiting: [],
    untried,
    groups: 0,
    woke: 0,
  };
}

/** The shard is done: nothing in flight or due again, and stopping or nothing left to retry. */
export function finished(state: ShardState): boolean {
  return !state.running && !state.again && (state.stop !== undefined || state.waiting.length === 0);
}

/** When the shard must wake up with nothing in flight: the first retry or call again due. */
export function nextDueAt(state: ShardState): number {
  return Math.min(state.again?.dueAt ?? Infinity, ...state.waiting.map((entry) => entry.dueAt));
}

export function decide(state: ShardState, event: ShardEvent, input: ShardInput): Decision {
  switch (event.type) {
    case 'ready':
      return ready(state, event.at, input);
    case 'groupEnded':
      return {
        state: settle({ ...state, running: undefined }, state.running!, event.result, event.at, input),
      };
    case 'groupFailed':
      return groupFailed(state, event, input);
    case 'woke':
      return { state: { ...state, woke: event.at } };
    case 'canceled':
      return { state: abandonRetries({ ...state, stop: 'canceled' }) };
    case 'stalled':
      return { state: { ...state, stop: 'stalled' } };
  }
}

/** Makes a call that threw again when due (even when stopping: it starts nothing new), or the next group. */
function ready(state: ShardState, now: number, input: ShardInput): Decision {
  if (state.running) return { state };
  if (state.again && state.again.dueAt <= now) {
    const { call } = state.again;
    return { state: { ...state, running: call, again: undefined }, call: call.input };
  }
  if (state.again || state.stop !== undefined) return { state };
  return dispatch(state, now, input);
}

/** The next group: the retries that are due, then untried mini-batches, up to the group size. */
function dispatch(state: ShardState, now: number, input: ShardInput): Decision {
  const due = state.waiting
    .filter((entry) => entry.dueAt <= now)
    .sort((a, b) => a.receipt.index - b.receipt.index);
  const retryRuns = runsOf(
    due.map(({ receipt }) => ({ index: receipt.index, attempt: receipt.attempt + 1 })),
  );
  // As in a group: no untried mini-batch while the retries waiting here could breach the failure budget.
  const pending = {
    counters: state.counters,
    errors: [],
    retries: state.waiting.map((entry) => entry.receipt),
  };
  const room = retriesAtRisk(pending, input.budget) ? 0 : MAX_GROUP_MINI_BATCHES - runsLength(retryRuns);
  const [take, rest] = splitRuns(state.untried, Math.max(0, room));
  const runs = [...retryRuns, ...take];
  if (runs.length === 0) return { state };
  const groupInput: RunGroupInput = {
    jobId: input.jobId,
    shard: input.shard,
    group: state.groups,
    runs,
    laneWidth: input.laneWidth,
    budgetMs: groupBudgetMs(state.meanAttemptMs, input.settings.progressUpdateTimeoutSeconds),
    maxRetries: input.settings.maxRetries,
    retryBaseDelayMs: input.retryBaseDelayMs,
    progressUpdateTimeoutSeconds: input.settings.progressUpdateTimeoutSeconds,
    budget: remainingBudget(input.budget, state.counters),
  };
  const running: GroupCall = { input: groupInput, tries: 1, retries: due.map((entry) => entry.receipt) };
  return {
    state: {
      ...state,
      waiting: state.waiting.filter((entry) => entry.dueAt > now),
      untried: rest,
      groups: state.groups + 1,
      running,
    },
    call: groupInput,
  };
}

/** A call that threw is made again after the retry policy's backoff; after its last try, it is recorded. */
function groupFailed(
  state: ShardState,
  event: Extract<ShardEvent, { type: 'groupFailed' }>,
  input: ShardInput,
): Decision {
  const call = state.running!;
  if (event.retriable && call.tries < GROUP_CALL_TRIES) {
    // Keyed by shard too: group numbers restart in each shard, and the shards' calls that threw in the
    // same outage should not all come back at the same moment.
    const delay = callRetryDelayMs(
      input.retryBaseDelayMs,
      call.tries,
      `${input.jobId}/shard-${call.input.shard}/group-${call.input.group}`,
    );
    const again = { call: { ...call, tries: call.tries + 1 }, dueAt: event.at + delay };
    return { state: { ...state, running: undefined, again } };
  }
  const record: RecordGroupFaultInput = {
    jobId: input.jobId,
    shard: call.input.shard,
    group: call.input.group,
    runs: call.input.runs,
    maxRetries: input.settings.maxRetries,
    message: event.message,
  };
  return { state, record };
}

/** What a group whose failure could not even be recorded counts: each attempt failed, without its items. */
export function unrecordedGroupResult(record: RecordGroupFaultInput): GroupResult {
  let tally = emptyTally();
  for (const { index, attempt } of workOf(record.runs)) {
    tally = tallyAttempt(
      tallyStart(tally, attempt),
      receiptForFault(index, attempt, record.message),
      record.maxRetries,
    );
  }
  return { ...tally, notStarted: [] };
}

/** Folds a group's result: counters, retries to wait for, work handed back, and why to stop. */
function settle(
  state: ShardState,
  call: GroupCall,
  result: GroupResult,
  now: number,
  input: ShardInput,
): ShardState {
  let next = fold(state, result);
  const handedBack = new Map(call.retries.map((receipt) => [receipt.index, receipt]));
  const waiting = [...next.waiting];
  for (const receipt of result.retries) {
    handedBack.delete(receipt.index);
    const delay = retryDelayMs(input.jobId, receipt.index, receipt.attempt + 1, input.retryBaseDelayMs);
    waiting.push({ receipt, dueAt: now + delay });
  }
  const [retriesBack, untriedBack] = partitionRuns(result.notStarted);
  for (const { index } of workOf(retriesBack)) {
    const receipt = handedBack.get(index);
    if (receipt) waiting.push({ receipt, dueAt: now });
  }
  next = { ...next, waiting, untried: [...untriedBack, ...next.untried] };
  if (result.fatal && next.stop !== 'fatal') next = { ...next, stop: 'fatal', fatal: result.fatal };
  if (result.stalled) return { ...next, stop: 'stalled' };
  if (next.stop === undefined && budgetExceeded(next.counters, input.budget))
    next = { ...next, stop: 'budget' };
  return next.stop !== undefined ? abandonRetries(next) : next;
}

function fold(state: ShardState, result: GroupResult): ShardState {
  const attempts = result.counters.scheduled + result.counters.retried;
  return {
    ...state,
    counters: addCounters(state.counters, { ...result.counters, miniBatches: 0 }),
    errors: keepFirstErrors(state.errors, result.errors),
    ...(attempts > 0 ? { meanAttemptMs: result.counters.busyMs / attempts } : {}),
  };
}

/** Once stopping, a mini-batch waiting to retry is not retried: its last failure is final. */
function abandonRetries(state: ShardState): ShardState {
  let tally = emptyTally();
  for (const entry of state.waiting) tally = tallyFinal(tally, entry.receipt);
  return { ...fold(state, { ...tally, notStarted: [] }), waiting: [] };
}

/** Runs of retries, and runs of first attempts. */
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

/** The shard's result, from its final state. */
export function shardResult(state: ShardState, input: ShardInput): ShardResult {
  const { counters, errors, stop, fatal } = state;
  return { shard: input.shard, counters, errors, ...(stop ? { stop } : {}), ...(fatal ? { fatal } : {}) };
}
