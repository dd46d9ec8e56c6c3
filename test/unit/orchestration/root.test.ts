import { ActivityNames, type RunMiniBatchInput } from '../../../src/activities/contracts';
import {
  OrchestratorNames,
  type FinalizeActivityInput,
  type JobOutcome,
  type RootInput,
  type RootStatus,
  type RunGroupInput,
  type StopShardsInput,
} from '../../../src/orchestration/contracts';
import { planningTimeoutReason, rootOrchestrator } from '../../../src/orchestration/root';
import { shardOrchestrator } from '../../../src/orchestration/shard';
import type { EffectiveSettings } from '../../../src/job/effective';
import { EventType } from '@parallel-job/functions-host';
import { simulateGroup } from '../../support/groups';
import { drive, type Outcome, type ReplayResult, type World } from '../../support/replay';
import { effectiveJob, failed, receipt } from '../../support/jobs';

interface JobWorld extends World {
  runs: RunMiniBatchInput[];
  stopped: StopShardsInput[];
  /** Finalize inputs, one per job (its first step). */
  finalized: FinalizeActivityInput[];
  /** Every finalize step run, with its outcome. */
  finalizeSteps: Array<{ step: string | undefined; ok: boolean }>;
  /** Finalize steps to fail once each (a transient storage fault). */
  failOnce: Set<string>;
  shardHistories: number[];
  shardEventsReplayed: number;
  /** What the planning-progress activity answers (read only when planning outlives its deadline). */
  planProgress: Outcome;
}

const planOf = (miniBatches: number): Outcome => ({
  result: {
    plan: {
      kind: 'files',
      input: { accountUrl: 'http://acct', container: 'inputs', prefix: 'data/' },
      miniBatches,
      items: miniBatches * 10,
      bytes: 1000,
      pageSize: 1000,
      pages: Math.ceil(miniBatches / 1000),
    },
    generation: 0,
    selected: miniBatches,
  },
});

/** A job world: planning gives `plan`, shards run through the real shard orchestrator. */
function jobWorld(
  plan: Outcome,
  run: (input: RunMiniBatchInput) => Outcome,
  /** Attempts a group starts before handing the rest back (its time budget). */
  perGroup?: number,
): JobWorld {
  const world: JobWorld = {
    runs: [],
    stopped: [],
    finalized: [],
    finalizeSteps: [],
    failOnce: new Set(),
    shardHistories: [],
    shardEventsReplayed: 0,
    planProgress: { result: null },
    activity(name, input) {
      if (name === ActivityNames.plan) return plan;
      if (name === ActivityNames.planProgress) return world.planProgress;
      if (name === ActivityNames.runGroup)
        return simulateGroup(input as RunGroupInput, run, world.runs, perGroup);
      if (name === ActivityNames.stopShards) {
        world.stopped.push(input as StopShardsInput);
        return { result: (input as StopShardsInput).shards.length };
      }
      if (name === ActivityNames.finalize) {
        const step = (input as FinalizeActivityInput).step;
        if (step && world.failOnce.delete(step)) {
          world.finalizeSteps.push({ step, ok: false });
          return { error: `STORAGE_TRANSIENT: finalize step ${step} hit a transient fault` };
        }
        world.finalizeSteps.push({ step, ok: true });
        if (step === 'begin') world.finalized.push(input as FinalizeActivityInput);
        return {
          result: {
            outputs: { scores: 'http://acct/outputs/x' },
            logFiles: { job_result: 'http://acct/logs/x' },
          },
        };
      }
      throw new Error(`unexpected activity ${name}`);
    },
    async subOrchestration(name, input, instanceId) {
      expect(name).toBe(OrchestratorNames.shard);
      const result = await drive(shardOrchestrator, input, world, { instanceId });
      world.shardHistories.push(result.stats.historyLength);
      world.shardEventsReplayed += result.stats.eventsReplayed;
      return result.status === 'Completed'
        ? { result: result.output }
        : { error: `shard ended ${result.status}: ${result.error}` };
    },
  };
  return world;
}

/** Runs the root to its end, following continue-as-new. */
async function runJob(
  world: JobWorld,
  settings: Partial<EffectiveSettings> = {},
  options: {
    events?: Array<{ beforeEpisode: number; name: string }>;
    shardsPerExecution?: number;
    statuses?: RootStatus[];
  } = {},
): Promise<{ outcome: JobOutcome; results: ReplayResult[] }> {
  let input: RootInput = {
    jobId: 'job-1',
    job: effectiveJob(settings),
    tasksRoot: '/app/tasks',
    options: { retryBaseDelayMs: 100, shardsPerExecution: options.shardsPerExecution ?? 32, notify: false },
  };
  const results: ReplayResult[] = [];
  for (let execution = 1; execution < 100; execution += 1) {
    const result = await drive(rootOrchestrator, input, world, {
      events: execution === 1 ? options.events : [],
      onEpisode: (_, state) => options.statuses?.push(state.customStatus as RootStatus),
    });
    results.push(result);
    if (result.status === 'ContinuedAsNew') {
      input = result.output as RootInput;
      continue;
    }
    if (result.status !== 'Completed') throw new Error(`root ended ${result.status}: ${result.error}`);
    return { outcome: result.output as JobOutcome, results };
  }
  throw new Error('too many executions');
}

const ok = (input: RunMiniBatchInput): Outcome => ({ result: receipt(input.index, input.attempt) });

describe('root orchestrator (replayed over histories, shards run for real)', () => {
  it('plans, runs every mini-batch once through shards, finalizes and reports Completed', async () => {
    const world = jobWorld(planOf(40), ok);
    const statuses: RootStatus[] = [];
    const { outcome } = await runJob(world, {}, { statuses });
    expect(outcome.status).toBe('Completed');
    expect(outcome.counters).toMatchObject({
      miniBatches: 40,
      scheduled: 40,
      succeeded: 40,
      failed: 0,
      itemsSucceeded: 400,
    });
    expect(world.runs.map((r) => r.index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(world.finalized).toHaveLength(1);
    expect(world.finalized[0]).toMatchObject({ status: 'Completed', planned: true });
    expect(outcome.logFiles).toEqual({ job_result: 'http://acct/logs/x' });
    expect(statuses.map((s) => s.phase)).toContain('Running');
  });

  it('finalizes in steps, in order, each once when nothing fails', async () => {
    const world = jobWorld(planOf(5), ok);
    await runJob(world);
    expect(world.finalizeSteps).toEqual([
      { step: 'begin', ok: true },
      { step: 'reports', ok: true },
      { step: 'output', ok: true },
      { step: 'end', ok: true },
    ]);
  });

  it('retries a finalize step that fails once and still ends Completed', async () => {
    const world = jobWorld(planOf(5), ok);
    world.failOnce.add('reports');
    world.failOnce.add('end');
    const { outcome, results } = await runJob(world);
    expect(outcome.status).toBe('Completed');
    expect(outcome.outputs).toEqual({ scores: 'http://acct/outputs/x' });
    expect(world.finalizeSteps).toEqual([
      { step: 'begin', ok: true },
      { step: 'reports', ok: false },
      { step: 'reports', ok: true },
      { step: 'output', ok: true },
      { step: 'end', ok: false },
      { step: 'end', ok: true },
    ]);
    // The retry waited on a durable timer (the job's retry delay), recorded in history.
    const history = results[results.length - 1]!.history;
    expect(history.filter((e) => e.EventType === EventType.TimerFired).length).toBeGreaterThanOrEqual(2);
  });

  it('fails the job when a finalize step keeps failing after every retry', async () => {
    const world = jobWorld(planOf(2), ok);
    const activity = world.activity.bind(world);
    world.activity = (name, input) =>
      name === ActivityNames.finalize && (input as FinalizeActivityInput).step === 'output'
        ? { error: 'STORAGE_TRANSIENT: still down' }
        : activity(name, input);
    await expect(runJob(world)).rejects.toThrow(/root ended Failed: .*still down/);
    expect(world.finalizeSteps.map((s) => s.step)).toEqual(['begin', 'reports']);
  });

  it('continues as new every N shards and carries the counters across executions', async () => {
    // One lane of width 1: shards of 256 mini-batches.
    const world = jobWorld(planOf(1000), ok);
    const { outcome, results } = await runJob(world, {}, { shardsPerExecution: 1 });
    expect(results.length).toBeGreaterThan(2);
    expect(results.slice(0, -1).every((r) => r.status === 'ContinuedAsNew')).toBe(true);
    expect(outcome.counters.succeeded).toBe(1000);
    expect(new Set(world.runs.map((r) => r.index)).size).toBe(1000);
  });

  it('keeps instance_count x max_concurrency_per_instance attempts in flight across lanes', async () => {
    const world = jobWorld(planOf(400), ok);
    const { outcome, results } = await runJob(world, { instanceCount: 2, maxConcurrencyPerInstance: 10 });
    expect(outcome.counters.succeeded).toBe(400);
    // 20 = lanes of 7, 7, 6: three shards start at once.
    const created = results[0]!.history.filter((e) => e.EventType === 7);
    expect(created.length).toBeGreaterThanOrEqual(3);
  });

  it('fails with the reason when error_threshold is exceeded, and stops scheduling', async () => {
    const world = jobWorld(planOf(50), (input) =>
      input.index >= 3 ? { result: failed(input.index, input.attempt, { retryable: true }) } : ok(input),
    );
    const { outcome } = await runJob(world, { errorThreshold: 25, maxRetries: 0 });
    expect(outcome.status).toBe('Failed');
    expect(outcome.reasons.join(' ')).toMatch(/error_threshold exceeded: 30 failed items > 25 allowed/);
    expect(outcome.counters.itemsFailed).toBe(30);
    expect(world.runs.length).toBe(6);
  });

  it('fails on mini_batch_error_threshold with exact counters', async () => {
    const world = jobWorld(planOf(30), (input) =>
      input.index % 3 === 0 ? { result: failed(input.index, input.attempt) } : ok(input),
    );
    const { outcome } = await runJob(world, { miniBatchErrorThreshold: 2, maxRetries: 0 });
    expect(outcome.status).toBe('Failed');
    expect(outcome.counters.failed).toBe(3);
    expect(outcome.reasons[0]).toMatch(
      /mini_batch_error_threshold exceeded: 3 failed mini-batches > 2 allowed/,
    );
  });

  it('judges --allowed_failed_percent once everything was scheduled', async () => {
    const world = jobWorld(planOf(20), (input) =>
      input.index < 5 ? { result: failed(input.index, input.attempt) } : ok(input),
    );
    const { outcome } = await runJob(world, { allowedFailedPercent: 20, maxRetries: 0 });
    expect(world.runs.length).toBe(20);
    expect(outcome.status).toBe('Failed');
    expect(outcome.reasons[0]).toMatch(/25\.00% of mini-batches failed > 20% allowed/);
  });

  it('completes with failures under the thresholds', async () => {
    const world = jobWorld(planOf(20), (input) =>
      input.index === 4 ? { result: failed(4, input.attempt) } : ok(input),
    );
    const { outcome } = await runJob(world, { maxRetries: 1 });
    expect(outcome.status).toBe('Completed');
    expect(outcome.counters).toMatchObject({ succeeded: 19, failed: 1, retried: 1, itemsFailed: 10 });
    expect(outcome.errors[0]).toMatchObject({ index: 4, attempt: 2, code: 'TASK_RUN_FAILED' });
  });

  it('fails fast with the message when the task module is broken', async () => {
    const world = jobWorld(planOf(60), (input) =>
      input.index === 2
        ? {
            result: failed(2, 1, {
              code: 'TASK_BROKEN',
              retryable: false,
              message: 'score.js has no run export',
            }),
          }
        : ok(input),
    );
    const { outcome } = await runJob(world);
    expect(outcome.status).toBe('Failed');
    expect(outcome.reasons[0]).toMatch(/TASK_BROKEN.*score\.js has no run export/);
    expect(world.runs.length).toBeLessThan(60);
  });

  it('fails when every item failed with append_row, even with thresholds off', async () => {
    const world = jobWorld(planOf(3), (input) => ({ result: failed(input.index, input.attempt) }));
    const { outcome } = await runJob(world, { maxRetries: 0 });
    expect(outcome.status).toBe('Failed');
    expect(outcome.reasons).toContain('No mini-batch item succeeded: run() returned no results to append.');
  });

  it('completes an empty input without scheduling anything', async () => {
    const world = jobWorld(planOf(0), ok);
    const { outcome } = await runJob(world);
    expect(outcome.status).toBe('Completed');
    expect(world.runs).toHaveLength(0);
    expect(world.finalized[0]!.counters.miniBatches).toBe(0);
  });

  it('ends Failed and still finalizes when planning fails', async () => {
    const world = jobWorld({ error: 'INPUT_NOT_FOUND: nothing under inputs/missing/' }, ok);
    const { outcome } = await runJob(world);
    expect(outcome.status).toBe('Failed');
    expect(outcome.reasons[0]).toMatch(/Planning failed: INPUT_NOT_FOUND/);
    expect(world.finalized[0]).toMatchObject({ planned: false, status: 'Failed' });
  });

  describe('planning that outlives --first_task_creation_timeout', () => {
    const progress = {
      listed: 412_000,
      miniBatches: 41_200,
      pages: 42,
      updatedAt: '2026-01-01T00:09:58.000Z',
      done: false,
    };

    it('fails with how far planning got and the flag to raise', async () => {
      const world = jobWorld({ hang: true }, ok);
      world.planProgress = { result: progress };
      const { outcome, results } = await runJob(world, { firstTaskCreationTimeoutSeconds: 600 });
      expect(outcome.status).toBe('Failed');
      expect(outcome.reasons).toEqual([
        'Planning did not finish within --first_task_creation_timeout (600 s): it had listed 412,000 inputs and cut 41,200 mini-batches. Raise it in task.program_arguments, e.g. --first_task_creation_timeout 3600.',
      ]);
      expect(world.finalized[0]).toMatchObject({ planned: false, status: 'Failed' });
      expect(results[0]!.stats.activities.map((a) => a.input)).toContainEqual({ jobId: 'job-1' });
    });

    it('still gives the advice when planning recorded nothing or its progress cannot be read', async () => {
      for (const answer of [{ result: null }, { error: 'STORAGE_TRANSIENT: throttled' }] as Outcome[]) {
        const world = jobWorld({ hang: true }, ok);
        world.planProgress = answer;
        const { outcome } = await runJob(world, { firstTaskCreationTimeoutSeconds: 3600 });
        expect(outcome.reasons).toEqual([
          'Planning did not finish within --first_task_creation_timeout (3600 s). Raise it in task.program_arguments, e.g. --first_task_creation_timeout 7200.',
        ]);
        expect(world.finalized[0]).toMatchObject({ planned: false, status: 'Failed' });
      }
    });

    it('says to split the input when the flag is at its maximum', () => {
      expect(planningTimeoutReason(259_200, progress)).toBe(
        'Planning did not finish within --first_task_creation_timeout (259200 s): it had listed 412,000 inputs and cut 41,200 mini-batches. It is at its maximum (259200 s): split the input into smaller jobs.',
      );
    });
  });

  it('on cancel stops starting shards, finalizes what exists and ends Canceled', async () => {
    const world = jobWorld(planOf(2000), ok, 10);
    const { outcome } = await runJob(world, {}, { events: [{ beforeEpisode: 3, name: 'cancel' }] });
    expect(outcome.status).toBe('Canceled');
    expect(outcome.counters.scheduled).toBeLessThan(2000);
    expect(outcome.counters.succeeded).toBe(outcome.counters.scheduled);
    expect(world.finalized[0]!.status).toBe('Canceled');
    // The running shards were told to stop too.
    expect(world.stopped).toHaveLength(1);
    expect(world.stopped[0]!.shards.length).toBeGreaterThan(0);
  });

  it("tells the other lanes' running shards to stop when one shard breaches a threshold", async () => {
    // Concurrency 16 gives two lanes of width 8 (shards of 500 here): shard 0 fails everything, shard 1
    // is running (groups of 16).
    const world = jobWorld(
      planOf(1000),
      (input) => (input.index < 500 ? { result: failed(input.index, input.attempt) } : ok(input)),
      16,
    );
    const { outcome } = await runJob(world, {
      maxConcurrencyPerInstance: 16,
      maxRetries: 0,
      miniBatchErrorThreshold: 5,
    });
    expect(outcome.status).toBe('Failed');
    expect(outcome.reasons.join(' ')).toMatch(/mini_batch_error_threshold/);
    expect(world.stopped).toEqual([{ jobId: 'job-1', shards: [1] }]);
    expect(world.finalized).toHaveLength(1);
  });

  it('keeps every history bounded however many mini-batches the job has', async () => {
    // One lane of width 1: shards of 256 mini-batches, 8 per root execution.
    const small = jobWorld(planOf(2000), ok);
    const large = jobWorld(planOf(20_000), ok);
    const a = await runJob(small, {}, { shardsPerExecution: 8 });
    const b = await runJob(large, {}, { shardsPerExecution: 8 });
    const largest = (w: JobWorld, r: ReplayResult[]) =>
      Math.max(...w.shardHistories, ...r.map((x) => x.stats.historyLength));
    expect(largest(large, b.results)).toBeLessThanOrEqual(largest(small, a.results) + 5);
    expect(largest(large, b.results)).toBeLessThan(5000);
  });
});
