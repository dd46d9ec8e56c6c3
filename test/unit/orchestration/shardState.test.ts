import type { GroupResult, ShardInput } from '../../../src/orchestration/contracts';
import { emptyCounters } from '../../../src/orchestration/counters';
import { callRetryDelayMs, retryDelayMs } from '../../../src/orchestration/retryPolicy';
import {
  decide,
  finished,
  initialShardState,
  nextDueAt,
  shardResult,
  type ShardState,
} from '../../../src/orchestration/shardState';
import { failed } from '../../support/jobs';

// The shard's bookkeeping as plain decisions; test/unit/orchestration/shard.test.ts replays the
// orchestrator that carries them out over durable histories.

const input: ShardInput = {
  jobId: 'job-1',
  shard: 3,
  start: 0,
  end: 10,
  laneWidth: 2,
  select: false,
  settings: { maxRetries: 2, timeoutSeconds: 60, progressUpdateTimeoutSeconds: 270 },
  retryBaseDelayMs: 1000,
  budget: { items: null, miniBatches: null },
};

function result(fields: Partial<GroupResult> = {}): GroupResult {
  return { counters: emptyCounters(), errors: [], retries: [], notStarted: [], ...fields };
}

/** The state after dispatching the first group at time 0. */
function started(fields: Partial<ShardInput> = {}): { state: ShardState; shard: ShardInput } {
  const shard = { ...input, ...fields };
  const { state } = decide(
    initialShardState([{ start: 0, count: 10, attempt: 1 }]),
    { type: 'ready', at: 0 },
    shard,
  );
  return { state, shard };
}

describe('shard decisions', () => {
  it('dispatches the untried mini-batches as the first group, numbered, as wide as the lane', () => {
    const decision = decide(
      initialShardState([{ start: 0, count: 10, attempt: 1 }]),
      { type: 'ready', at: 0 },
      input,
    );
    expect(decision.call).toMatchObject({
      jobId: 'job-1',
      shard: 3,
      group: 0,
      runs: [{ start: 0, count: 10, attempt: 1 }],
      laneWidth: 2,
      budget: { items: null, miniBatches: null },
    });
    expect(decision.state).toMatchObject({ untried: [], groups: 1, running: { tries: 1, retries: [] } });
    // With a call in flight, being ready starts nothing.
    expect(decide(decision.state, { type: 'ready', at: 5 }, input).call).toBeUndefined();
  });

  it('waits a failed attempt out under the retry policy, then dispatches its retry before untried work', () => {
    const { state } = started();
    const retry = failed(4, 1);
    const ended = decide(
      state,
      {
        type: 'groupEnded',
        result: result({ retries: [retry], notStarted: [{ start: 7, count: 3, attempt: 1 }] }),
        at: 100,
      },
      input,
    ).state;
    const dueAt = 100 + retryDelayMs('job-1', 4, 2, 1000);
    expect(ended).toMatchObject({
      running: undefined,
      waiting: [{ receipt: retry, dueAt }],
      untried: [{ start: 7, count: 3, attempt: 1 }],
    });
    expect(finished(ended)).toBe(false);
    expect(nextDueAt(ended)).toBe(dueAt);
    const early = decide(ended, { type: 'ready', at: dueAt - 1 }, input);
    expect(early.call!.runs).toEqual([{ start: 7, count: 3, attempt: 1 }]);
    const late = decide({ ...ended }, { type: 'ready', at: dueAt }, input);
    expect(late.call!.runs).toEqual([
      { start: 4, count: 1, attempt: 2 },
      { start: 7, count: 3, attempt: 1 },
    ]);
    expect(late.state.running!.retries).toEqual([retry]);
  });

  it('hands a retry the group did not start back to waiting, due at once', () => {
    const { state } = started();
    const retry = failed(2, 1);
    const waitingOut = decide(
      state,
      { type: 'groupEnded', result: result({ retries: [retry] }), at: 10 },
      input,
    ).state;
    const regrouped = decide(waitingOut, { type: 'ready', at: 60_000 }, input).state;
    const back = decide(
      regrouped,
      {
        type: 'groupEnded',
        result: result({ notStarted: [{ start: 2, count: 1, attempt: 2 }] }),
        at: 60_100,
      },
      input,
    ).state;
    expect(back.waiting).toEqual([{ receipt: retry, dueAt: 60_100 }]);
  });

  it('makes a call that threw again under the retry policy, and after three tries has its mini-batches recorded', () => {
    let { state } = started();
    for (let tries = 1; tries < 3; tries += 1) {
      const threw = decide(
        state,
        { type: 'groupFailed', message: 'storage unreachable', retriable: true, at: 1000 },
        input,
      );
      expect(threw.record).toBeUndefined();
      const dueAt = 1000 + callRetryDelayMs(1000, tries, 'job-1/shard-3/group-0');
      expect(threw.state).toMatchObject({ running: undefined, again: { dueAt, call: { tries: tries + 1 } } });
      expect(decide(threw.state, { type: 'ready', at: dueAt - 1 }, input).call).toBeUndefined();
      const again = decide(threw.state, { type: 'ready', at: dueAt }, input);
      expect(again.call).toEqual(state.running!.input);
      state = again.state;
    }
    const last = decide(
      state,
      { type: 'groupFailed', message: 'storage unreachable', retriable: true, at: 9000 },
      input,
    );
    expect(last.record).toEqual({
      jobId: 'job-1',
      shard: 3,
      group: 0,
      runs: [{ start: 0, count: 10, attempt: 1 }],
      maxRetries: 2,
      message: 'storage unreachable',
    });
    // An answer that cannot be read is recorded at once.
    const unreadable = decide(
      started().state,
      { type: 'groupFailed', message: 'malformed group result', retriable: false, at: 5 },
      input,
    );
    expect(unreadable.record?.message).toBe('malformed group result');
  });

  it("spreads the retries of calls that threw together: each shard's group 0 comes back at its own time", () => {
    const dueAts = [3, 4, 5].map((shard) => {
      const { state, shard: shardInput } = started({ shard });
      const threw = decide(
        state,
        { type: 'groupFailed', message: 'storage unreachable', retriable: true, at: 1000 },
        shardInput,
      );
      return threw.state.again!.dueAt;
    });
    expect(new Set(dueAts).size).toBe(3);
  });

  it('stops on a spent failure budget, and counts the retries still waiting as final failures', () => {
    const { state, shard } = started({ budget: { items: null, miniBatches: 0 } });
    const counters = { ...emptyCounters(), scheduled: 2, failed: 1, itemsFailed: 10 };
    const waiting = failed(5, 1);
    const ended = decide(
      state,
      { type: 'groupEnded', result: result({ counters, retries: [waiting] }), at: 100 },
      shard,
    ).state;
    expect(ended.stop).toBe('budget');
    expect(ended.waiting).toEqual([]);
    expect(ended.counters).toMatchObject({ failed: 2, itemsFailed: 20 });
    expect(finished(ended)).toBe(true);
    expect(shardResult(ended, shard)).toMatchObject({ shard: 3, stop: 'budget' });
  });

  it('on cancel starts nothing new and ends the retries waiting; a fatal error or a stall stops it too', () => {
    const { state } = started();
    const waitingOut = decide(
      state,
      { type: 'groupEnded', result: result({ retries: [failed(1, 1)] }), at: 10 },
      input,
    ).state;
    const canceled = decide(waitingOut, { type: 'canceled' }, input).state;
    expect(canceled).toMatchObject({ stop: 'canceled', waiting: [] });
    expect(decide(canceled, { type: 'ready', at: 1e9 }, input).call).toBeUndefined();
    expect(finished(canceled)).toBe(true);
    const fatal = { code: 'TASK_BROKEN', message: 'init() failed 3 times', index: 0 };
    const broken = decide(
      started().state,
      { type: 'groupEnded', result: result({ fatal }), at: 10 },
      input,
    ).state;
    expect(shardResult(broken, input)).toMatchObject({ stop: 'fatal', fatal });
    expect(decide(started().state, { type: 'stalled' }, input).state.stop).toBe('stalled');
  });

  it('never dispatches behind a timer that fired', () => {
    const waitingOut = decide(
      started().state,
      { type: 'groupEnded', result: result({ retries: [failed(1, 1)] }), at: 10 },
      input,
    ).state;
    const woke = decide(waitingOut, { type: 'woke', at: nextDueAt(waitingOut) }, input).state;
    expect(woke.woke).toBe(nextDueAt(waitingOut));
  });
});
