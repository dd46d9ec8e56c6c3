import {
  GroupRecords,
  listAttemptRecordPages,
  writeGroupRecords,
} from '../../../src/activities/attemptRecord';
import { GroupProgress } from '../../../src/api/groupProgress';
import { runGroup } from '../../../src/activities/runGroup';
import { StorageTransientError } from '../../../src/errors';
import type { RunGroupInput } from '../../../src/orchestration/contracts';
import { jobFolder } from '../../../src/storage/layout';
import { useActivityJobs } from '../../support/activityJobs';
import { recordOf } from '../../support/records';

const env = useActivityJobs();

/** A job of `count` one-file mini-batches (f-0.txt ...) run by scripted.js with these arguments. */
async function fileJob(
  jobId: string,
  count: number,
  programArguments: string,
  maxRetries = 2,
): Promise<void> {
  const files = [];
  for (let i = 0; i < count; i += 1) {
    const name = `${jobId}/f-${i}.txt`;
    files.push({ name, size: await env.upload(name, `item ${i}`) });
  }
  await env.writeJob({
    jobId,
    kind: 'files',
    entryScript: 'scripted.js',
    settings: { maxRetries, timeoutSeconds: 30, maxConcurrencyPerInstance: 2 },
    job: {
      task: {
        code: 'tasks',
        entryScript: 'scripted.js',
        programArguments,
        argv: programArguments.split(' ').filter(Boolean),
      },
    },
    descriptors: files.map((file, index) => ({ kind: 'files' as const, index, files: [file] })),
  });
}

function group(jobId: string, count: number, fields: Partial<RunGroupInput> = {}): RunGroupInput {
  return {
    jobId,
    shard: 0,
    group: 0,
    runs: [{ start: 0, count, attempt: 1 }],
    laneWidth: 2,
    budgetMs: 60_000,
    maxRetries: 2,
    retryBaseDelayMs: 10,
    progressUpdateTimeoutSeconds: 270,
    budget: { items: null, miniBatches: null },
    ...fields,
  };
}

async function startedAt(jobId: string, index: number, attempt = 1): Promise<string> {
  return (await recordOf(env.store, env.logs, jobId, index, attempt)).startedAt;
}

describe('a group of mini-batches in one activity call (against Azurite)', () => {
  it('runs every mini-batch once, writes each its own records and folds the receipts', async () => {
    await fileJob('g-all', 6, '--fail_items f-4.txt');
    const result = await runGroup(env.deps, group('g-all', 6));
    expect(result.counters).toMatchObject({
      scheduled: 6,
      succeeded: 5,
      failed: 1,
      partial: 1,
      retried: 0,
      itemsSucceeded: 5,
      itemsFailed: 1,
      rows: 5,
    });
    expect(result.notStarted).toEqual([]);
    expect(result.retries).toEqual([]);
    expect(result.errors).toEqual([expect.objectContaining({ index: 4, code: 'TASK_PARTIAL_RESULT' })]);
    for (let index = 0; index < 6; index += 1) await expect(startedAt('g-all', index)).resolves.toBeTruthy();
  });

  it('retries a failed attempt itself when its backoff ends within the budget', async () => {
    await fileJob('g-retry', 3, '--throw_items f-1.txt');
    const result = await runGroup(env.deps, group('g-retry', 3));
    expect(result.counters).toMatchObject({ scheduled: 3, retried: 2, succeeded: 2, failed: 1 });
    expect(result.retries).toEqual([]);
    expect(result.errors).toEqual([
      expect.objectContaining({ index: 1, attempt: 3, code: 'TASK_RUN_FAILED' }),
    ]);
    await expect(startedAt('g-retry', 1, 3)).resolves.toBeTruthy();
  });

  it('hands a retry back to the shard when its backoff ends after the budget', async () => {
    await fileJob('g-later', 3, '--throw_items f-1.txt');
    const result = await runGroup(env.deps, group('g-later', 3, { budgetMs: 500, retryBaseDelayMs: 5000 }));
    expect(result.counters).toMatchObject({ scheduled: 3, retried: 0, succeeded: 2, failed: 0 });
    expect(result.retries.map((r) => [r.index, r.attempt, r.status])).toEqual([[1, 1, 'failed']]);
  });

  it('hands back a retry that fell due while its lane ran past the budget, instead of waiting for it', async () => {
    // Mini-batch 0 fails at once and its retry is due within the budget, but the only lane is busy with
    // mini-batch 1 until after it: then nothing may start, and the call ends.
    await fileJob('g-woken-late', 2, '--throw_items f-0.txt --sleep_items f-1.txt --sleep_ms 1200');
    const result = await runGroup(
      env.deps,
      group('g-woken-late', 2, {
        laneWidth: 1,
        budgetMs: 500,
        retryBaseDelayMs: 20,
        // Caps the budget at 500 ms however long the attempts take.
        progressUpdateTimeoutSeconds: 2,
      }),
    );
    expect(result.counters).toMatchObject({ scheduled: 2, retried: 0, succeeded: 1 });
    expect(result.retries.map((r) => [r.index, r.attempt, r.status])).toEqual([[0, 1, 'failed']]);
  });

  it('runs an attempt again, not as a retry, when storage stopped answering while it ran', async () => {
    await fileJob('g-storage-blip', 3, '');
    // Real storage with one fault put in: the first staging of mini-batch 1's rows finds storage gone.
    const { store } = env.deps;
    const stageBlock = store.stageBlock.bind(store);
    let faults = 0;
    const spy = jest.spyOn(store, 'stageBlock').mockImplementation((container, name, blockId, body) => {
      if (name.startsWith('g-storage-blip/') && faults === 0 && body.toString().includes('f-1.txt')) {
        faults += 1;
        return Promise.reject(new StorageTransientError(container, name, undefined, 'ECONNREFUSED'));
      }
      return stageBlock(container, name, blockId, body);
    });
    try {
      const result = await runGroup(env.deps, group('g-storage-blip', 3));
      expect(faults).toBe(1);
      expect(result.counters).toMatchObject({ scheduled: 3, retried: 0, succeeded: 3, failed: 0 });
      expect(result.retries).toEqual([]);
      expect((await recordOf(env.store, env.logs, 'g-storage-blip', 1, 1)).receipt.status).toBe('succeeded');
    } finally {
      spy.mockRestore();
    }
  });

  it('starts no untried mini-batch while pending retries could breach the failure budget', async () => {
    await fileJob('g-risk', 6, '--throw_items f-1.txt', 1);
    const result = await runGroup(
      env.deps,
      group('g-risk', 6, { laneWidth: 1, maxRetries: 1, budget: { items: null, miniBatches: 0 } }),
    );
    // 0 and 1 ran; 1 failed and could breach "0 more allowed": its retry ran first, failed, and stopped it.
    expect(result.counters).toMatchObject({ scheduled: 2, retried: 1, succeeded: 1, failed: 1 });
    expect(result.notStarted).toEqual([{ start: 2, count: 4, attempt: 1 }]);
  });

  it('keeps a straggler in its own lane: the other lane goes on past the budget until it ends', async () => {
    await fileJob('g-straggler', 30, '--sleep_items f-0.txt --sleep_ms 1500 --each_ms 20');
    const result = await runGroup(env.deps, group('g-straggler', 30, { budgetMs: 300 }));
    // Mini-batch 0 runs 1.5 s; in that time the other lane runs the rest, 20 ms each.
    expect(result.counters.succeeded).toBeGreaterThan(20);
    expect(result.counters.succeeded + (result.notStarted[0]?.count ?? 0)).toBe(30);
  });

  it('starts nothing new once the time budget is spent and no straggler runs', async () => {
    await fileJob('g-budget', 20, '--each_ms 100');
    // A progress_update_timeout of 1 s caps the budget at 250 ms however long the attempts take.
    const result = await runGroup(
      env.deps,
      group('g-budget', 20, { laneWidth: 1, budgetMs: 250, progressUpdateTimeoutSeconds: 1 }),
    );
    expect(result.counters.scheduled).toBeGreaterThanOrEqual(1);
    expect(result.counters.scheduled).toBeLessThanOrEqual(4);
    expect(result.notStarted).toEqual([
      { start: result.counters.scheduled, count: 20 - result.counters.scheduled, attempt: 1 },
    ]);
  });

  it('starts nothing when the job has asked to stop', async () => {
    await fileJob('g-stop', 4, '');
    await env.store.writeJson(env.logs, jobFolder('g-stop').stopRequest, { at: new Date().toISOString() });
    const result = await runGroup(env.deps, group('g-stop', 4));
    expect(result.counters.scheduled).toBe(0);
    expect(result.notStarted).toEqual([{ start: 0, count: 4, attempt: 1 }]);
  });

  it('grows its time budget from its own attempts when the shard could not know their duration', async () => {
    await fileJob('g-grow', 12, '--each_ms 100');
    // 100 ms attempts: 30 of them make a 3 s budget, so the first call runs every one of them.
    const result = await runGroup(env.deps, group('g-grow', 12, { laneWidth: 1, budgetMs: 150 }));
    expect(result.counters.scheduled).toBe(12);
    expect(result.notStarted).toEqual([]);
  });

  it('ends as stalled when no attempt ends within progress_update_timeout', async () => {
    await fileJob('g-stall', 3, '--sleep_items f-1.txt --sleep_ms 2500');
    const result = await runGroup(
      env.deps,
      group('g-stall', 3, { laneWidth: 1, progressUpdateTimeoutSeconds: 0.5 }),
    );
    expect(result.stalled).toBe(true);
    expect(result.counters).toMatchObject({ scheduled: 2, succeeded: 1 });
    expect(result.notStarted).toEqual([{ start: 2, count: 1, attempt: 1 }]);
    // Let the abandoned attempt end before the pools close.
    await new Promise((resolve) => setTimeout(resolve, 2500));
  });

  it('run again after a crash, takes the recorded outcomes and runs only the rest', async () => {
    await fileJob('g-again', 4, '');
    const input = group('g-again', 4);
    await runGroup(env.deps, input);
    const before = await Promise.all([0, 1, 2, 3].map((index) => startedAt('g-again', index)));
    // As if the call had died before mini-batch 2 was recorded.
    const kept = [];
    for await (const page of listAttemptRecordPages(env.store, env.logs, 'g-again'))
      kept.push(...page.filter((record) => record.receipt.index !== 2));
    await env.store.delete(env.logs, jobFolder('g-again').groupRecords(0, 0));
    await writeGroupRecords(env.store, env.logs, 'g-again', { shard: 0, group: 0 }, kept);
    const again = await runGroup(env.deps, input);
    expect(again.counters).toMatchObject({ scheduled: 4, succeeded: 4 });
    const after = await Promise.all([0, 1, 2, 3].map((index) => startedAt('g-again', index)));
    expect(after[0]).toBe(before[0]);
    expect(after[1]).toBe(before[1]);
    expect(after[2]).not.toBe(before[2]);
    expect(after[3]).toBe(before[3]);
  });

  it('shows its progress before it returns: the job view reads only what was appended since', async () => {
    await fileJob('g-live', 3, '');
    const records = new GroupRecords(env.store, env.logs, 'g-live', 0, 0);
    await records.open();
    const progress = new GroupProgress(env.store, env.logs);
    const record = (index: number, attempt: number, status: 'succeeded' | 'failed') => ({
      receipt: {
        index,
        attempt,
        status,
        items: 1,
        succeeded: status === 'succeeded' ? 1 : 0,
        failed: status === 'succeeded' ? 0 : 1,
        rows: status === 'succeeded' ? 1 : 0,
        retryable: true,
        durationMs: 5,
      },
      failedItems: [],
      warnings: [],
      startedAt: new Date().toISOString(),
    });
    expect(await progress.counters('g-live', 0, 0, 1)).toMatchObject({ scheduled: 0, succeeded: 0 });
    records.add(record(0, 1, 'succeeded'));
    records.add(record(1, 1, 'failed'));
    await records.flush();
    // Mini-batch 1 may still be retried: started, not yet counted as failed.
    expect(await progress.counters('g-live', 0, 0, 1)).toMatchObject({
      scheduled: 2,
      succeeded: 1,
      failed: 0,
    });
    records.add(record(1, 2, 'failed'));
    await records.flush();
    expect(await progress.counters('g-live', 0, 0, 1)).toMatchObject({
      scheduled: 2,
      retried: 1,
      succeeded: 1,
      failed: 1,
    });
  });
});
