import type { OrchestrationContext, Task } from 'durable-functions';
import {
  ActivityNames,
  type RecordFaultInput,
  type RunMiniBatchInput,
} from '../../../src/activities/contracts';
import type { ShardInput, ShardResult } from '../../../src/orchestration/contracts';
import { shardOrchestrator } from '../../../src/orchestration/shard';
import { drive, type Outcome } from '../../support/replay';
import { failed, receipt } from '../../support/jobs';

function shardInput(fields: Partial<ShardInput> = {}): ShardInput {
  return {
    jobId: 'job-1',
    shard: 0,
    start: 0,
    end: 6,
    window: 2,
    select: false,
    settings: { maxRetries: 2, progressUpdateTimeoutSeconds: 270 },
    retryBaseDelayMs: 1000,
    budget: { items: null, miniBatches: null },
    ...fields,
  };
}

/** A world whose run-mini-batch activity answers from a script keyed by "index/attempt". */
function world(script: (input: RunMiniBatchInput) => Outcome) {
  const calls: RunMiniBatchInput[] = [];
  return {
    calls,
    activity(name: string, input: unknown): Outcome {
      expect(name).toBe(ActivityNames.runMiniBatch);
      const typed = input as RunMiniBatchInput;
      calls.push(typed);
      return script(typed);
    },
  };
}

const ok = (input: RunMiniBatchInput): Outcome => ({ result: receipt(input.index, input.attempt) });

describe('shard orchestrator (replayed over histories)', () => {
  it('runs every mini-batch once with at most `window` attempts in flight', async () => {
    const w = world(ok);
    const inFlight: number[] = [];
    const result = await drive(shardOrchestrator, shardInput({ window: 2 }), w, {
      onEpisode: (_, state) => inFlight.push((state.customStatus as { inFlight: number }).inFlight),
    });
    expect(result.status).toBe('Completed');
    expect(w.calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Math.max(...inFlight)).toBe(2);
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

  it('keeps the window full as attempts finish one by one (a sliding window, not waves)', async () => {
    const w = world(ok);
    const result = await drive(shardOrchestrator, shardInput({ end: 8, window: 3 }), w, { batch: 1 });
    // After the first completion the fourth attempt is scheduled in the same episode.
    const scheduled = result.history.filter(
      (e) => e.EventType === 4 && e.Name === ActivityNames.runMiniBatch,
    );
    expect(scheduled).toHaveLength(8);
    const firstEpisodeEnd = result.history.findIndex((e) => e.EventType === 13);
    const secondEpisodeEnd = result.history.findIndex((e, i) => e.EventType === 13 && i > firstEpisodeEnd);
    const inSecond = result.history.slice(firstEpisodeEnd, secondEpisodeEnd).filter((e) => e.EventType === 4);
    expect(inSecond).toHaveLength(1);
  });

  it('retries a failed attempt after a backoff timer and counts the retries', async () => {
    const w = world((input) =>
      input.index === 1 && input.attempt < 3 ? { result: failed(1, input.attempt) } : ok(input),
    );
    const result = await drive(shardOrchestrator, shardInput({ end: 3, window: 1 }), w);
    expect(w.calls.filter((c) => c.index === 1).map((c) => c.attempt)).toEqual([1, 2, 3]);
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({ succeeded: 3, failed: 0, retried: 2, itemsFailed: 0 });
    // Backoff timers: about 1 s before attempt 2, about 2 s before attempt 3 (+-20% jitter).
    const timers = result.history.filter((e) => e.EventType === 11).map((e) => Date.parse(String(e.FireAt)));
    const starts = result.history.filter((e) => e.EventType === 10);
    expect(timers.length).toBeGreaterThanOrEqual(2);
    expect(starts.length).toBeGreaterThan(timers.length); // watchdogs are created and cancelled
  });

  it('gives up after max_retries retries and counts every item of the mini-batch as failed', async () => {
    const w = world((input) => (input.index === 0 ? { result: failed(0, input.attempt) } : ok(input)));
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 2, window: 1, settings: { maxRetries: 1, progressUpdateTimeoutSeconds: 270 } }),
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
    const result = await drive(shardOrchestrator, shardInput({ end: 2, window: 1 }), w);
    expect(w.calls).toHaveLength(2);
    expect((result.output as ShardResult).counters).toMatchObject({
      failed: 1,
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
    const result = await drive(shardOrchestrator, shardInput({ end: 10, window: 1 }), w);
    const output = result.output as ShardResult;
    expect(output.stop).toBe('fatal');
    expect(output.fatal).toEqual({ code: 'TASK_BROKEN', message: 'cannot load score.js', index: 1 });
    expect(w.calls.map((c) => c.index)).toEqual([0, 1]);
  });

  it('stops scheduling once its failure budget is spent (a threshold breach)', async () => {
    const w = world((input) =>
      input.index % 2 === 0 ? { result: failed(input.index, input.attempt) } : ok(input),
    );
    const result = await drive(
      shardOrchestrator,
      shardInput({
        end: 20,
        window: 1,
        settings: { maxRetries: 0, progressUpdateTimeoutSeconds: 270 },
        budget: { items: null, miniBatches: 2 },
      }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.stop).toBe('budget');
    expect(output.counters.failed).toBe(3); // the third failure exceeds "2 allowed"
    expect(w.calls.map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('on cancel lets in-flight attempts finish, abandons pending retries and schedules nothing new', async () => {
    const w = world((input) => (input.index === 0 ? { result: failed(0, input.attempt) } : ok(input)));
    const result = await drive(shardOrchestrator, shardInput({ end: 10, window: 2 }), w, {
      events: [{ beforeEpisode: 3, name: 'cancel' }],
    });
    const output = result.output as ShardResult;
    expect(output.stop).toBe('canceled');
    expect(output.counters.scheduled).toBeLessThan(10);
    expect(output.counters.succeeded + output.counters.failed).toBe(output.counters.scheduled);
  });

  it('fails the shard as stalled when nothing finishes within progress_update_timeout', async () => {
    const w = world((input) => (input.index === 1 ? { hang: true } : ok(input)));
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 2, window: 1, settings: { maxRetries: 2, progressUpdateTimeoutSeconds: 30 } }),
      w,
    );
    expect((result.output as ShardResult).stop).toBe('stalled');
  });

  it('arms one progress watchdog for many mini-batches, not one per wait', async () => {
    const result = await drive(shardOrchestrator, shardInput({ end: 8, window: 3 }), world(ok), { batch: 1 });
    expect(result.history.filter((e) => e.EventType === 10)).toHaveLength(1);
    expect((result.output as ShardResult).counters.succeeded).toBe(8);
  });

  it('re-arms the watchdog when it fires after progress instead of stalling', async () => {
    // Every first attempt fails; backoffs of 6.4-9.6 s. Mini-batch 0 retries before the 10 s watchdog,
    // mini-batch 1's backoff ends after it: the watchdog fires with progress since, so it is re-armed.
    const w = world((input) => (input.attempt === 1 ? { result: failed(input.index, 1) } : ok(input)));
    const result = await drive(
      shardOrchestrator,
      shardInput({
        end: 2,
        window: 1,
        settings: { maxRetries: 2, progressUpdateTimeoutSeconds: 10 },
        retryBaseDelayMs: 8000,
      }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.stop).toBeUndefined();
    expect(output.counters).toMatchObject({ succeeded: 2, retried: 2 });
    // Two backoff timers and the watchdog fired; a second watchdog was armed.
    expect(result.history.filter((e) => e.EventType === 11)).toHaveLength(3);
    expect(result.history.filter((e) => e.EventType === 10)).toHaveLength(4);
  });

  it('asks which mini-batches to run when it is part of a re-run', async () => {
    const calls: Array<{ name: string; input: unknown }> = [];
    const result = await drive(shardOrchestrator, shardInput({ start: 0, end: 6, select: true }), {
      activity(name, input) {
        calls.push({ name, input });
        if (name === ActivityNames.select) return { result: [2, 5] };
        const typed = input as RunMiniBatchInput;
        return { result: receipt(typed.index, typed.attempt) };
      },
    });
    expect(calls[0]).toEqual({ name: ActivityNames.select, input: { jobId: 'job-1', start: 0, end: 6 } });
    expect(calls.slice(1).map((c) => (c.input as RunMiniBatchInput).index)).toEqual([2, 5]);
    expect((result.output as ShardResult).counters.miniBatches).toBe(2);
  });

  it('the replay harness catches the SDK re-sending already scheduled tasks (why whenAny exists)', async () => {
    function* naiveWindow(context: OrchestrationContext): Generator<Task, void, unknown> {
      const inFlight = [0, 1].map((index) =>
        context.df.callActivity(ActivityNames.runMiniBatch, { jobId: 'j', index, attempt: 1 }),
      );
      let next = 2;
      while (inFlight.length > 0) {
        const winner = (yield context.df.Task.any(inFlight)) as Task;
        inFlight.splice(inFlight.indexOf(winner), 1);
        if (next < 4)
          inFlight.push(
            context.df.callActivity(ActivityNames.runMiniBatch, { jobId: 'j', index: next++, attempt: 1 }),
          );
      }
    }
    await expect(drive(naiveWindow, null, world(ok))).rejects.toThrow(/non-deterministic replay/);
  });
});

describe('an attempt whose activity throws', () => {
  /** Run activities answer from `run`; the fault records answer from `record`. */
  function faultyWorld(
    run: (input: RunMiniBatchInput) => Outcome,
    record: (input: RecordFaultInput) => Outcome,
  ) {
    const runs: RunMiniBatchInput[] = [];
    const records: RecordFaultInput[] = [];
    return {
      runs,
      records,
      activity(name: string, input: unknown): Outcome {
        if (name === ActivityNames.recordFault) {
          records.push(input as RecordFaultInput);
          return record(input as RecordFaultInput);
        }
        expect(name).toBe(ActivityNames.runMiniBatch);
        runs.push(input as RunMiniBatchInput);
        return run(input as RunMiniBatchInput);
      },
    };
  }
  const throwsFirst = (input: RunMiniBatchInput): Outcome =>
    input.index === 1 && input.attempt === 1 ? { error: 'storage unreachable after retries' } : ok(input);
  const recorded = (input: RecordFaultInput): Outcome => ({
    result: failed(input.index, input.attempt, { code: 'ACTIVITY_FAILED', message: input.message }),
  });

  it('is recorded with its items before it counts, then retried', async () => {
    const w = faultyWorld(throwsFirst, recorded);
    const result = await drive(shardOrchestrator, shardInput({ end: 3, window: 2 }), w);
    expect(w.records).toEqual([
      { jobId: 'job-1', index: 1, attempt: 1, message: expect.stringContaining('storage unreachable') },
    ]);
    expect(w.runs.filter((c) => c.index === 1).map((c) => c.attempt)).toEqual([1, 2]);
    expect((result.output as ShardResult).counters).toMatchObject({ succeeded: 3, failed: 0, retried: 1 });
  });

  it('counts its items as failed when it has no retries left', async () => {
    const w = faultyWorld(throwsFirst, recorded);
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 3, window: 2, settings: { maxRetries: 0, progressUpdateTimeoutSeconds: 270 } }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({ succeeded: 2, failed: 1, itemsFailed: 10, itemsSucceeded: 20 });
    expect(output.errors).toEqual([
      {
        index: 1,
        attempt: 1,
        code: 'ACTIVITY_FAILED',
        message: expect.stringContaining('storage unreachable'),
      },
    ]);
  });

  it('still counts (with no items) when even its record cannot be written', async () => {
    const w = faultyWorld(throwsFirst, () => ({ error: 'storage still unreachable' }));
    const result = await drive(
      shardOrchestrator,
      shardInput({ end: 3, window: 2, settings: { maxRetries: 0, progressUpdateTimeoutSeconds: 270 } }),
      w,
    );
    const output = result.output as ShardResult;
    expect(output.counters).toMatchObject({ succeeded: 2, failed: 1, itemsFailed: 0 });
    expect(output.errors[0]).toMatchObject({ index: 1, code: 'ACTIVITY_FAILED' });
  });
});
