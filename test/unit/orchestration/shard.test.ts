import type { OrchestrationContext, Task } from 'durable-functions';
import {
  ActivityNames,
  EarlierActivityNames,
  type RunMiniBatchInput,
} from '../../../src/activities/contracts';
import {
  parseRunGroupInput,
  parseShardInput,
  type RecordGroupFaultInput,
  type RunGroupInput,
  type ShardInput,
  type ShardResult,
} from '../../../src/orchestration/contracts';
import { retryDelayMs } from '../../../src/orchestration/retryPolicy';
import { shardOrchestrator } from '../../../src/orchestration/shard';
import { EventType } from '@parallel-job/functions-host';
import { simulateGroup } from '../../support/groups';
import { drive, type Outcome } from '../../support/replay';
import { failed, receipt } from '../../support/jobs';

function shardInput(fields: Partial<ShardInput> = {}): ShardInput {
  return {
    jobId: 'job-1',
    shard: 0,
    start: 0,
    end: 6,
    laneWidth: 2,
    select: false,
    settings: { maxRetries: 2, timeoutSeconds: 60, progressUpdateTimeoutSeconds: 270 },
    retryBaseDelayMs: 1000,
    budget: { items: null, miniBatches: null },
    ...fields,
  };
}

/**
 * A world whose group activity runs each mini-batch from a script keyed by (index, attempt); `perGroup`
 * stands for the group's time budget (attempts it starts before handing the rest back).
 */
function world(script: (input: RunMiniBatchInput) => Outcome, perGroup?: number) {
  const calls: RunMiniBatchInput[] = [];
  const groups: RunGroupInput[] = [];
  return {
    calls,
    groups,
    activity(name: string, input: unknown): Outcome {
      expect(name).toBe(ActivityNames.runGroup);
      groups.push(input as RunGroupInput);
      return simulateGroup(input as RunGroupInput, script, calls, perGroup);
    },
  };
}

/** History times are ISO strings or Dates. */
const timeOf = (value: unknown): number => new Date(value as string | Date).getTime();

const ok = (input: RunMiniBatchInput): Outcome => ({ result: receipt(input.index, input.attempt) });
const settings = (fields: Partial<ShardInput['settings']>): ShardInput['settings'] => ({
  maxRetries: 2,
  timeoutSeconds: 60,
  progressUpdateTimeoutSeconds: 270,
  ...fields,
});

describe('shard orchestrator (replayed over histories)', () => {
  it('runs every mini-batch once, in groups `laneWidth` attempts wide', async () => {
    const w = world(ok);
    const result = await drive(shardOrchestrator, shardInput({ laneWidth: 2 }), w);
    expect(result.status).toBe('Completed');
    expect(w.calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(w.groups.every((group) => group.laneWidth === 2)).toBe(true);
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({
      miniBatches: 6,
      scheduled: 6,
      succeeded: 6,
      failed: 0,
      itemsSucceeded: 60,
      rows: 60,
    });
    expect(output.stop).toBeUndefined();
  });

  it('runs what a group did not start in the next group, each mini-batch once and in order', async () => {
    const w = world(ok, 3);
    const result = await drive(shardOrchestrator, shardInput({ end: 8, laneWidth: 3 }), w);
    expect(w.calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(w.groups.map((group) => group.group)).toEqual([0, 1, 2]);
    expect(w.groups.map((group) => group.runs)).toEqual([
      [{ start: 0, count: 8, attempt: 1 }],
      [{ start: 3, count: 5, attempt: 1 }],
      [{ start: 6, count: 2, attempt: 1 }],
    ]);
    expect((result.output as ShardResult).counters).toMatchObject({ scheduled: 8, succeeded: 8 });
  });

  it('costs a few history events per group, not per mini-batch', async () => {
    const result = await drive(shardOrchestrator, shardInput({ end: 1000, laneWidth: 8 }), world(ok, 250));
    expect((result.output as ShardResult).counters.succeeded).toBe(1000);
    const scheduled = result.history.filter((e) => e.EventType === EventType.TaskScheduled);
    expect(scheduled).toHaveLength(4);
    expect(result.stats.historyLength).toBeLessThan(40);
  });

  it('grows the time budget of later groups from the measured attempt durations', async () => {
    const slow = (input: RunMiniBatchInput): Outcome => ({
      result: receipt(input.index, input.attempt, { durationMs: 400 }),
    });
    const w = world(slow, 4);
    await drive(shardOrchestrator, shardInput({ end: 12, laneWidth: 4 }), w);
    expect(w.groups[0]!.budgetMs).toBe(1000);
    expect(w.groups[1]!.budgetMs).toBe(12_000); // 30 attempts of 400 ms
  });

  it('retries a failed attempt after a backoff timer and counts the retries', async () => {
    const w = world((input) =>
      input.index === 1 && input.attempt < 3 ? { result: failed(1, input.attempt) } : ok(input),
    );
    const result = await drive(shardOrchestrator, shardInput({ end: 3, laneWidth: 1 }), w);
    expect(w.calls.filter((c) => c.index === 1).map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(w.groups.slice(1).map((group) => group.runs)).toEqual([
      [{ start: 1, count: 1, attempt: 2 }],
      [{ start: 1, count: 1, attempt: 3 }],
    ]);
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({ succeeded: 3, failed: 0, retried: 2, itemsFailed: 0 });
    // Backoff on durable timers: about 1 s before attempt 2, then about 2 s before attempt 3 (+-20% jitter).
    const start = timeOf(result.history[0]!.Timestamp);
    const backoffs = result.history
      .filter((e) => e.EventType === EventType.TimerCreated)
      .map((e) => new Date(e.FireAt as string | Date).getTime() - start)
      .filter((ms) => ms < 60_000); // not the watchdog
    expect(backoffs).toHaveLength(2);
    expect(backoffs[0]).toBeGreaterThanOrEqual(800);
    expect(backoffs[0]).toBeLessThanOrEqual(1200);
    expect(backoffs[1]! - backoffs[0]!).toBeGreaterThanOrEqual(1600);
    expect(backoffs[1]! - backoffs[0]!).toBeLessThanOrEqual(2400);
  });

  it('gives up after max_retries retries and counts every item of the mini-batch as failed', async () => {
    const w = world((input) => (input.index === 0 ? { result: failed(0, input.attempt) } : ok(input)));
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 2, laneWidth: 1, settings: settings({ maxRetries: 1 }) }),
      w,
    );
    expect(w.calls.filter((c) => c.index === 0)).toHaveLength(2);
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({
      succeeded: 1,
      failed: 1,
      retried: 1,
      itemsFailed: 10,
      itemsSucceeded: 10,
    });
    expect(output.errors).toEqual([{ index: 0, attempt: 2, code: 'TASK_RUN_FAILED', message: 'boom 0/2' }]);
  });

  it('records a partial result without retrying it', async () => {
    const w = world((input) =>
      input.index === 0
        ? { result: receipt(0, 1, { status: 'partial', succeeded: 7, failed: 3, rows: 7 }) }
        : ok(input),
    );
    const result = await drive(shardOrchestrator, shardInput({ end: 2, laneWidth: 1 }), w);
    expect(w.calls).toHaveLength(2);
    expect((result.output as ShardResult).counters).toMatchObject({
      failed: 1,
      partial: 1,
      itemsFailed: 3,
      itemsSucceeded: 17,
      rows: 17,
    });
  });

  it('stops scheduling when the task module is broken', async () => {
    const w = world((input) =>
      input.index === 1
        ? { result: failed(1, 1, { code: 'TASK_BROKEN', message: 'cannot load score.js', retryable: false }) }
        : ok(input),
    );
    const result = await drive(shardOrchestrator, shardInput({ end: 10, laneWidth: 1 }), w);
    const output = result.output as ShardResult;
    expect(output.stop).toBe('fatal');
    expect(output.fatal).toEqual({ code: 'TASK_BROKEN', message: 'cannot load score.js', index: 1 });
    expect(w.calls.map((c) => c.index)).toEqual([0, 1]);
    expect(w.groups).toHaveLength(1);
  });

  it('stops scheduling once its failure budget is spent (a threshold breach)', async () => {
    const w = world((input) =>
      input.index % 2 === 0 ? { result: failed(input.index, input.attempt) } : ok(input),
    );
    const result = await drive(
      shardOrchestrator,
      shardInput({
        end: 20,
        laneWidth: 1,
        settings: settings({ maxRetries: 0 }),
        budget: { items: null, miniBatches: 2 },
      }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.stop).toBe('budget');
    expect(output.counters.failed).toBe(3); // the third failure exceeds "2 allowed"
    expect(w.calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('dispatches no untried mini-batch while the retries it waits for could breach the failure budget', async () => {
    // Even mini-batches fail on every attempt; one failed mini-batch is allowed. Once two failures wait for
    // their retry, the shard waits for them instead of starting mini-batches 4 and on.
    const w = world(
      (input) => (input.index % 2 === 0 ? { result: failed(input.index, input.attempt) } : ok(input)),
      2,
    );
    const result = await drive(
      shardOrchestrator,
      shardInput({
        end: 10,
        laneWidth: 1,
        settings: settings({ maxRetries: 1 }),
        budget: { items: null, miniBatches: 1 },
      }),
      w,
    );
    expect(w.calls.map((c) => `${c.index}/${c.attempt}`).sort()).toEqual([
      '0/1',
      '0/2',
      '1/1',
      '2/1',
      '2/2',
      '3/1',
    ]);
    expect((result.output as ShardResult).stop).toBe('budget');
  });

  it('hands each group what is left of the failure budget', async () => {
    const w = world((input) => (input.index === 0 ? { result: failed(0, 1) } : ok(input)), 2);
    await drive(
      shardOrchestrator,
      shardInput({
        end: 6,
        laneWidth: 1,
        settings: settings({ maxRetries: 0 }),
        budget: { items: 25, miniBatches: 4 },
      }),
      w,
    );
    expect(w.groups.map((group) => group.budget)).toEqual([
      { items: 25, miniBatches: 4 },
      { items: 15, miniBatches: 3 },
      { items: 15, miniBatches: 3 },
    ]);
  });

  it('on cancel lets the running group finish, abandons pending retries and dispatches nothing new', async () => {
    const w = world((input) => (input.index === 0 ? { result: failed(0, input.attempt) } : ok(input)), 2);
    const result = await drive(shardOrchestrator, shardInput({ end: 10, laneWidth: 2 }), w, {
      events: [{ beforeEpisode: 3, name: 'cancel' }],
    });
    const output = result.output as ShardResult;
    expect(output.stop).toBe('canceled');
    expect(output.counters.scheduled).toBeLessThan(10);
    expect(output.counters.succeeded + output.counters.failed).toBe(output.counters.scheduled);
    // Mini-batch 0 was waiting for its retry: its failure is final.
    expect(output.errors[0]).toMatchObject({ index: 0, attempt: 1 });
  });

  it('fails the shard as stalled when a group outlives its budget, the task timeout and progress_update_timeout', async () => {
    const w = world((input) => (input.index === 1 ? { hang: true } : ok(input)), 1);
    const result = await drive(
      shardOrchestrator,
      shardInput({
        end: 2,
        laneWidth: 1,
        settings: settings({ timeoutSeconds: 10, progressUpdateTimeoutSeconds: 30 }),
      }),
      w,
    );
    expect((result.output as ShardResult).stop).toBe('stalled');
    const fired = result.history.filter((e) => e.EventType === EventType.TimerFired);
    const scheduled = result.history.filter((e) => e.EventType === EventType.TaskScheduled);
    // Stalled 1 s (budget) + 2 x 10 s (task timeout) + 30 s after the hanging group started.
    expect(timeOf(fired.at(-1)!.FireAt) - timeOf(scheduled.at(-1)!.Timestamp)).toBe(51_000);
  });

  it('arms one progress watchdog for many groups, not one per wait', async () => {
    const result = await drive(shardOrchestrator, shardInput({ end: 8, laneWidth: 3 }), world(ok, 1));
    expect(result.history.filter((e) => e.EventType === EventType.TimerCreated)).toHaveLength(1);
    expect((result.output as ShardResult).counters.succeeded).toBe(8);
  });

  it('re-arms the watchdog when it fires after progress instead of stalling', async () => {
    // Groups of one: both first attempts fail at once. The watchdog (1 s budget + 2 x 1 s + progress)
    // is set between the two backoffs: it fires after the first retry returned, so it is re-armed.
    const base = 20_000;
    const [early, late] = [0, 1].map((index) => retryDelayMs('job-1', index, 2, base)).sort((a, b) => a - b);
    const progress = Math.round((early! + late!) / 2000) - 3;
    expect(early! + 1000).toBeLessThan((progress + 3) * 1000);
    expect(late!).toBeGreaterThan((progress + 3) * 1000);
    const w = world((input) => (input.attempt === 1 ? { result: failed(input.index, 1) } : ok(input)), 1);
    const result = await drive(
      shardOrchestrator,
      shardInput({
        end: 2,
        laneWidth: 1,
        settings: settings({ timeoutSeconds: 1, progressUpdateTimeoutSeconds: progress }),
        retryBaseDelayMs: base,
      }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.stop).toBeUndefined();
    expect(output.counters).toMatchObject({ succeeded: 2, retried: 2 });
    const fired = result.history
      .filter((e) => e.EventType === EventType.TimerFired)
      .map((e) => timeOf(e.FireAt));
    expect(fired).toContain(timeOf(result.history[0]!.Timestamp) + (progress + 3) * 1000);
  });

  it('asks which mini-batches to run when it is part of a re-run', async () => {
    const calls: Array<{ name: string; input: unknown }> = [];
    const attempts: RunMiniBatchInput[] = [];
    const result = await drive(shardOrchestrator, shardInput({ start: 0, end: 6, select: true }), {
      activity(name, input) {
        calls.push({ name, input });
        if (name === ActivityNames.select) return { result: [2, 5] };
        return simulateGroup(input as RunGroupInput, ok, attempts);
      },
    });
    expect(calls[0]).toEqual({ name: ActivityNames.select, input: { jobId: 'job-1', start: 0, end: 6 } });
    expect(attempts.map((c) => c.index)).toEqual([2, 5]);
    expect((result.output as ShardResult).counters.miniBatches).toBe(2);
  });

  it('the replay harness catches the SDK re-sending already scheduled tasks (why whenAny exists)', async () => {
    function* naiveWindow(context: OrchestrationContext): Generator<Task, void, unknown> {
      const inFlight = [0, 1].map((index) => context.df.callActivity('Any', { index }));
      let next = 2;
      while (inFlight.length > 0) {
        const winner = (yield context.df.Task.any(inFlight)) as Task;
        inFlight.splice(inFlight.indexOf(winner), 1);
        if (next < 4) inFlight.push(context.df.callActivity('Any', { index: next++ }));
      }
    }
    await expect(drive(naiveWindow, null, { activity: (_, input) => ({ result: input }) })).rejects.toThrow(
      /non-deterministic replay/,
    );
  });
});

describe('an attempt whose activity throws', () => {
  const throwsFirst = (input: RunMiniBatchInput): Outcome =>
    input.index === 1 && input.attempt === 1 ? { error: 'storage unreachable after retries' } : ok(input);

  it('is counted as a failed attempt, then retried', async () => {
    const w = world(throwsFirst);
    const result = await drive(shardOrchestrator, shardInput({ end: 3, laneWidth: 2 }), w);
    expect(w.calls.filter((c) => c.index === 1).map((c) => c.attempt)).toEqual([1, 2]);
    expect((result.output as ShardResult).counters).toMatchObject({ succeeded: 3, failed: 0, retried: 1 });
  });

  it('is a final failure with its code when it has no retries left', async () => {
    const w = world(throwsFirst);
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 3, laneWidth: 2, settings: settings({ maxRetries: 0 }) }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({ succeeded: 2, failed: 1, itemsSucceeded: 20 });
    expect(output.errors).toEqual([
      {
        index: 1,
        attempt: 1,
        code: 'ACTIVITY_FAILED',
        message: expect.stringContaining('storage unreachable'),
      },
    ]);
  });
});

describe('a group call that throws', () => {
  /** Group calls throw `throws` times, then run; fault records answer from `record`. */
  function faultyWorld(throws: number, record: (input: RecordGroupFaultInput) => Outcome) {
    const calls: RunMiniBatchInput[] = [];
    const groups: RunGroupInput[] = [];
    const records: RecordGroupFaultInput[] = [];
    let left = throws;
    return {
      calls,
      groups,
      records,
      activity(name: string, input: unknown): Outcome {
        if (name === ActivityNames.recordGroupFault) {
          records.push(input as RecordGroupFaultInput);
          return record(input as RecordGroupFaultInput);
        }
        expect(name).toBe(ActivityNames.runGroup);
        groups.push(input as RunGroupInput);
        if (left > 0) {
          left -= 1;
          return { error: 'storage unreachable after retries' };
        }
        return simulateGroup(input as RunGroupInput, ok, calls);
      },
    };
  }
  const recorded = (input: RecordGroupFaultInput): Outcome =>
    simulateGroup(
      {
        jobId: input.jobId,
        shard: 0,
        group: 0,
        runs: input.runs,
        laneWidth: 1,
        budgetMs: 1,
        maxRetries: input.maxRetries,
        retryBaseDelayMs: 0,
        progressUpdateTimeoutSeconds: 270,
        budget: { items: null, miniBatches: null },
      },
      (attempt) => ({
        result: failed(attempt.index, attempt.attempt, { code: 'ACTIVITY_FAILED', message: input.message }),
      }),
      [],
    );

  it('runs again with the same input (a re-executed call keeps what its first run recorded)', async () => {
    const w = faultyWorld(2, recorded);
    const result = await drive(shardOrchestrator, shardInput({ end: 3, laneWidth: 2 }), w);
    expect(w.groups).toHaveLength(3);
    expect(new Set(w.groups.map((group) => JSON.stringify(group))).size).toBe(1);
    expect(w.records).toHaveLength(0);
    expect((result.output as ShardResult).counters).toMatchObject({ succeeded: 3, failed: 0 });
  });

  it('has its mini-batches recorded as failed attempts, then retried, when its retries are spent', async () => {
    const w = faultyWorld(3, recorded);
    const result = await drive(shardOrchestrator, shardInput({ end: 3, laneWidth: 2 }), w);
    expect(w.records).toEqual([
      {
        jobId: 'job-1',
        shard: 0,
        group: 0,
        runs: [{ start: 0, count: 3, attempt: 1 }],
        maxRetries: 2,
        message: expect.stringContaining('storage unreachable'),
      },
    ]);
    expect(w.calls.map((c) => `${c.index}/${c.attempt}`).sort()).toEqual(['0/2', '1/2', '2/2']);
    expect((result.output as ShardResult).counters).toMatchObject({ succeeded: 3, failed: 0, retried: 3 });
  });

  it('still counts its mini-batches (without items) when even the record cannot be written', async () => {
    const w = faultyWorld(3, () => ({ error: 'storage still unreachable' }));
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 3, laneWidth: 2, settings: settings({ maxRetries: 0 }) }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({ scheduled: 3, succeeded: 0, failed: 3, itemsFailed: 0 });
    expect(output.errors[0]).toMatchObject({ index: 0, code: 'ACTIVITY_FAILED' });
  });
});

describe('a shard an earlier version started (an upgrade while a job runs)', () => {
  // The version before laneWidth wrote the shard's input with `window` and registered the group
  // activity as ParallelJob_RunMiniBatches, whose input had `width`. Its histories hold those names.
  const { laneWidth, ...rest } = shardInput({ laneWidth: 2 });
  const earlierInput = { ...rest, window: laneWidth };

  it('goes on under the names its history recorded, and runs every mini-batch once', async () => {
    const names: string[] = [];
    const calls: RunMiniBatchInput[] = [];
    const result = await drive(shardOrchestrator, earlierInput, {
      activity(name, input) {
        names.push(name);
        const group = parseRunGroupInput(input);
        return simulateGroup(group, ok, calls);
      },
    });
    expect(result.status).toBe('Completed');
    expect(new Set(names)).toEqual(new Set([EarlierActivityNames.runGroup]));
    expect(calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect((result.output as ShardResult).counters).toMatchObject({ succeeded: 6, failed: 0 });
  });

  it('reads the earlier field names, and the current ones when both are there', () => {
    expect(parseShardInput(earlierInput)).toEqual({ input: shardInput({ laneWidth: 2 }), earlier: true });
    expect(parseShardInput(shardInput({ laneWidth: 3 }))).toEqual({
      input: shardInput({ laneWidth: 3 }),
      earlier: false,
    });
    const group = {
      jobId: 'job-1',
      shard: 0,
      group: 1,
      runs: [{ start: 0, count: 1, attempt: 1 }],
      budgetMs: 1000,
      maxRetries: 2,
      retryBaseDelayMs: 1000,
      progressUpdateTimeoutSeconds: 270,
      budget: { items: null, miniBatches: null },
    };
    expect(parseRunGroupInput({ ...group, width: 4 }).laneWidth).toBe(4);
    expect(parseRunGroupInput({ ...group, width: 4, laneWidth: 2 }).laneWidth).toBe(2);
    expect(() => parseRunGroupInput(group)).toThrow(/laneWidth/);
  });
});
