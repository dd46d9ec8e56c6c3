import { BlobServiceClient } from '@azure/storage-blob';
import {
  listAttemptRecordPages,
  writeGroupRecords,
  type FailedItem,
} from '../../../src/activities/attemptRecord';
import type { MiniBatchReceipt } from '../../../src/activities/contracts';
import { finalizeActivity } from '../../../src/activities/finalize';
import type { ActivityDeps } from '../../../src/activities/deps';
import type { JobRecord } from '../../../src/storage/jobRecord';
import { manifestEntries, readManifest, type Manifest } from '../../../src/activities/manifest';
import type { FinalizeActivityInput } from '../../../src/orchestration/contracts';
import { planPageSchema, type MiniBatchDescriptor } from '../../../src/plan/descriptor';
import { AccessPolicy } from '../../../src/storage/access';
import { BlobStore } from '../../../src/storage/blobStore';
import { jobFolder, outputBlockId } from '../../../src/storage/layout';
import { uniqueContainer, useAzuriteStore } from '../../support/azurite';
import { effectiveJob, receiptOfStatus } from '../../support/jobs';
import { jobEnd } from '../../support/records';

// The finalize of the log files before it streamed them, kept runnable for the bench.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { finalizeReportsInMemory } = require('../../../bench/finalize-in-memory') as {
  finalizeReportsInMemory: (
    modules: unknown,
    store: BlobStore,
    logsContainer: string,
    record: JobRecord,
    status: string,
    write?: boolean,
  ) => Promise<{ manifest: Manifest; csv: string; failedItems: string }>;
};
const inMemoryModules = { listAttemptRecordPages, readManifest, planPageSchema, jobFolder };

const env = useAzuriteStore();
let deps: ActivityDeps;
const logs = uniqueContainer('logs');
const outputs = uniqueContainer('outputs');

beforeAll(async () => {
  const access = new AccessPolicy({
    appAccountUrl: env.store.accountUrl,
    readable: [],
    writable: [outputs],
    reserved: { [logs]: 'the job logs container' },
    reservedPrefixes: {},
  });
  deps = { store: env.store, logsContainer: logs, access };
  for (const container of [logs, outputs]) await env.store.ensureContainer(container);
});

/** Writes what planning would have: the job record and plan pages of file mini-batches of two files. */
async function writeJob(
  jobId: string,
  miniBatches: number,
  options: { rerunOf?: string; generation?: number; perBlob?: number; outputOwner?: string } = {},
): Promise<JobRecord> {
  const pageSize = 1000;
  const pages = Math.ceil(miniBatches / pageSize);
  const record: JobRecord = {
    jobId,
    generation: options.generation ?? 0,
    ...(options.rerunOf ? { rerunOf: options.rerunOf } : {}),
    job: effectiveJob({}),
    plan: {
      kind: 'files',
      input: { accountUrl: env.store.accountUrl, container: 'inputs', prefix: '' },
      miniBatches,
      bytes: 0,
      pageSize,
      pages,
    },
    tasksRoot: '/app/tasks',
    appendRow: {
      container: outputs,
      blobs: Array.from(
        { length: Math.max(1, Math.ceil(miniBatches / (options.perBlob ?? 100_000))) },
        (_, i) => `${options.outputOwner ?? jobId}/out_${String(i).padStart(5, '0')}.txt`,
      ),
      miniBatchesPerBlob: options.perBlob ?? 100_000,
    },
    createdAt: new Date().toISOString(),
    outputOwner: options.outputOwner ?? jobId,
  };
  const folder = jobFolder(jobId);
  await env.store.writeJson(logs, folder.jobRecord, record);
  for (let page = 0; page < pages; page += 1) {
    const first = page * pageSize;
    const descriptors: MiniBatchDescriptor[] = [];
    for (let index = first; index < Math.min(miniBatches, first + pageSize); index += 1)
      descriptors.push({
        kind: 'files',
        index,
        files: [
          { name: `in/${index}-a.txt`, size: 1 },
          { name: `in/${index}-b.txt`, size: 1 },
        ],
      });
    await env.store.writeJson(logs, folder.planPage(page), { page, first, miniBatches: descriptors });
  }
  return record;
}

function receipt(
  index: number,
  attempt: number,
  status: MiniBatchReceipt['status'],
  rows = 0,
): MiniBatchReceipt {
  return receiptOfStatus(index, attempt, status, {
    rows,
    durationMs: 10 + index,
    ...(status === 'failed' ? { code: 'TASK_TIMEOUT', message: `mini-batch ${index} timed out` } : {}),
  });
}

/** Mini-batches per shard folder of seeded records (shards cover the plan in index order). */
const SEED_SHARD = 1000;
let seededGroups = 0;

/** Attempt records as group calls leave them: a file per call, in the folder of the shard of their indexes. */
async function seedMany(
  jobId: string,
  attempts: ReadonlyArray<{ r: MiniBatchReceipt; failed?: FailedItem[] }>,
  perShard = SEED_SHARD,
  perGroup = 250,
): Promise<void> {
  const byShard = new Map<number, typeof attempts>();
  for (const one of attempts) {
    const shard = Math.floor(one.r.index / perShard);
    byShard.set(shard, [...(byShard.get(shard) ?? []), one]);
  }
  const files: Array<{ shard: number; records: typeof attempts }> = [];
  for (const [shard, all] of byShard) {
    for (let i = 0; i < all.length; i += perGroup) files.push({ shard, records: all.slice(i, i + perGroup) });
  }
  await inParallel(files, 16, ({ shard, records }) =>
    writeGroupRecords(
      env.store,
      logs,
      jobId,
      { shard, group: seededGroups++ },
      records.map(({ r, failed }) => ({
        receipt: r,
        failedItems: failed ?? [],
        warnings: [],
        startedAt: '2026-01-01T00:00:00.000Z',
      })),
    ),
  );
}

/** One attempt's record, in shards of four mini-batches (small jobs read in several pages). */
async function seed(jobId: string, r: MiniBatchReceipt, failedItems: FailedItem[] = []): Promise<void> {
  await seedMany(jobId, [{ r, failed: failedItems }], 4);
}

/** Runs `work` over `items` with `width` in flight. */
async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

function end(jobId: string, step?: FinalizeActivityInput['step']): FinalizeActivityInput {
  return jobEnd(jobId, {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    ...(step ? { step } : {}),
  });
}

async function readLogs(jobId: string): Promise<{ manifest: Manifest; csv: string; failedItems: string }> {
  const folder = jobFolder(jobId);
  return {
    manifest: await readManifest(env.store, logs, jobId),
    csv: await env.store.readText(logs, folder.processedMiniBatches),
    failedItems: await env.store.readText(logs, folder.failedItems),
  };
}

/** 12 mini-batches: retried, partial, failed outright, never run, succeeded with rows. */
async function seedSmallJob(jobId: string): Promise<JobRecord> {
  const record = await writeJob(jobId, 12);
  for (let index = 0; index < 12; index += 1) {
    if (index === 7 || index === 11) continue; // never ran: PENDING
    if (index % 4 === 0) {
      await seed(jobId, { ...receipt(index, 1, 'failed'), code: 'TASK_RUN_FAILED', message: 'flaky' });
      await seed(jobId, receipt(index, 2, 'succeeded', 1));
      await env.store.stageBlock(
        outputs,
        record.appendRow!.blobs[0]!,
        outputBlockId(0, index, 2),
        Buffer.from(`row ${index}\n`),
      );
    } else if (index % 4 === 1) {
      await seed(jobId, receipt(index, 1, 'partial'), [
        { item: { id: `${index}-b` }, error: 'Error: bad record' },
      ]);
    } else if (index % 4 === 2) {
      await seed(jobId, receipt(index, 1, 'failed'));
    } else {
      await seed(jobId, receipt(index, 1, 'succeeded', 1));
      await env.store.stageBlock(
        outputs,
        record.appendRow!.blobs[0]!,
        outputBlockId(0, index, 1),
        Buffer.from(`row ${index}\n`),
      );
    }
  }
  return record;
}

/** What the in-memory finalize writes for a Completed job, without writing it: what the streamed one must match. */
const completedReportsInMemory = (record: JobRecord) =>
  finalizeReportsInMemory(inMemoryModules, env.store, logs, record, 'Completed', false);

describe('finalize against Azurite', () => {
  it('streams the same manifest, CSV and failed items as the in-memory finalize, in several pages and blocks', async () => {
    const record = await seedSmallJob('job-small');
    const expected = await completedReportsInMemory(record);
    const pages: number[] = [];
    await finalizeActivity(deps, end('job-small'), {
      blockChars: 64,
      onPage: (n) => pages.push(n),
    });

    expect(await readLogs('job-small')).toEqual(expected);
    expect(expected.manifest.miniBatches.map((e) => e.status)).toEqual([
      'SUCCEEDED',
      'FAILED',
      'FAILED',
      'SUCCEEDED',
      'SUCCEEDED',
      'FAILED',
      'FAILED',
      'PENDING',
      'SUCCEEDED',
      'FAILED',
      'FAILED',
      'PENDING',
    ]);
    expect(expected.failedItems.split('\n')[1]).toBe(
      '{"mini_batch":2,"attempt":1,"item":"in/2-a.txt","error":"TASK_TIMEOUT: mini-batch 2 timed out"}',
    );
    // 13 attempt records, a shard of four mini-batches at a time; the manifest was staged in many blocks.
    expect(pages).toEqual([5, 4, 4]);
    const folder = jobFolder('job-small');
    expect((await env.store.listBlocks(logs, folder.manifest)).committed.length).toBeGreaterThan(5);
    expect((await env.store.listBlocks(logs, folder.processedMiniBatches)).committed.length).toBeGreaterThan(
      5,
    );
    // The line-by-line reader gives what the whole-document reader gives.
    const streamed = [];
    for await (const entry of manifestEntries(env.store, logs, 'job-small')) streamed.push(entry);
    expect(streamed).toEqual(expected.manifest.miniBatches);
    // The output holds the winning attempts' rows in mini-batch order.
    expect(await env.store.readText(outputs, record.appendRow!.blobs[0]!)).toBe(
      'row 0\nrow 3\nrow 4\nrow 8\n',
    );
    const result = JSON.parse(await env.store.readText(logs, folder.jobResult)) as {
      status: string;
      log_files: object;
    };
    expect(result.status).toBe('Completed');
    expect(Object.keys(result.log_files).sort()).toEqual([
      'failed_items',
      'job_progress_overview',
      'job_result',
      'manifest',
      'processed_mini_batches',
      'user_logs',
    ]);
  });

  it('writes job_result.json as Finalizing first, and the same blobs when a step runs again', async () => {
    await seedSmallJob('job-steps');
    const folder = jobFolder('job-steps');
    await finalizeActivity(deps, end('job-steps', 'begin'));
    const first = JSON.parse(await env.store.readText(logs, folder.jobResult)) as { status: string };
    expect(first.status).toBe('Finalizing');
    for (const step of ['reports', 'reports', 'output', 'output', 'end'] as const)
      await finalizeActivity(deps, end('job-steps', step), { blockChars: 100 });
    const once = await readLogs('job-steps');
    await finalizeActivity(deps, end('job-steps', 'reports'), { blockChars: 100 });
    expect(await readLogs('job-steps')).toEqual(once);
    expect(JSON.parse(await env.store.readText(logs, folder.jobResult)).status).toBe('Completed');
  });

  it('fails a step on a storage fault (a leased manifest) and succeeds when the step runs again', async () => {
    const record = await seedSmallJob('job-leased');
    const expected = await completedReportsInMemory(record);
    const name = jobFolder('job-leased').manifest;
    await env.store.write(logs, name, '{}');
    const blob = BlobServiceClient.fromConnectionString(env.azurite.connectionString)
      .getContainerClient(logs)
      .getBlobClient(name);
    const lease = blob.getBlobLeaseClient();
    await lease.acquireLease(-1);
    await expect(
      finalizeActivity(deps, end('job-leased', 'reports'), { blockChars: 64 }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^STORAGE_/),
    });
    await lease.releaseLease();
    await finalizeActivity(deps, end('job-leased', 'reports'), { blockChars: 64 });
    expect(await readLogs('job-leased')).toEqual(expected);
  });

  it('re-runs keep the previous SUCCEEDED entries, from a streamed or an older one-line manifest', async () => {
    for (const [previousId, oldFormat] of [
      ['job-prev-streamed', false],
      ['job-prev-oneline', true],
    ] as const) {
      const previous = await seedSmallJob(previousId);
      if (oldFormat)
        await finalizeReportsInMemory(inMemoryModules, env.store, logs, previous, 'Failed', true);
      else await finalizeActivity(deps, { ...end(previousId, 'reports'), status: 'Failed' });
      const rerunId = `${previousId}-rerun`;
      const record = await writeJob(rerunId, 12, {
        rerunOf: previousId,
        generation: 1,
        outputOwner: previousId,
      });
      await seed(rerunId, receipt(2, 1, 'succeeded', 0));
      await seed(rerunId, receipt(5, 1, 'failed'));
      await seed(rerunId, receipt(7, 1, 'partial', 0), [{ item: 'x', error: 'still bad' }]);
      const expected = await completedReportsInMemory(record);
      await finalizeActivity(deps, end(rerunId, 'reports'), { blockChars: 32 });
      expect(await readLogs(rerunId)).toEqual(expected);
      expect(expected.manifest.miniBatches.map((e) => `${e.status}${e.generation ?? ''}`)).toEqual([
        'SUCCEEDED0',
        'FAILED',
        'SUCCEEDED1',
        'SUCCEEDED0',
        'SUCCEEDED0',
        'FAILED1',
        'FAILED',
        'FAILED1',
        'SUCCEEDED0',
        'FAILED',
        'FAILED',
        'PENDING',
      ]);
    }
  });

  it('finalizes 20,000 mini-batches a page of attempt records at a time, block by block', async () => {
    const jobId = 'job-large';
    const total = 20_000;
    const record = await writeJob(jobId, total, { perBlob: 5_000 });
    const withRows = [0, 4_999, 5_000, 12_345, 19_998];
    const attempts: Array<{ r: MiniBatchReceipt; failed?: FailedItem[] }> = [];
    for (let index = 0; index < total; index += 1) {
      if (index % 1_000 === 500) {
        attempts.push({ r: receipt(index, 1, 'failed') });
        attempts.push({
          r: receipt(index, 2, 'partial'),
          failed: [{ item: `in/${index}-b.txt`, error: 'bad' }],
        });
      } else if (index % 2_000 !== 1_999) {
        attempts.push({ r: receipt(index, 1, 'succeeded', withRows.includes(index) ? 1 : 0) });
      }
    }
    await seedMany(jobId, attempts);
    for (const index of withRows) {
      const blob = record.appendRow!.blobs[Math.floor(index / 5_000)]!;
      await env.store.stageBlock(outputs, blob, outputBlockId(0, index, 1), Buffer.from(`row ${index}\n`));
    }

    const pages: number[] = [];
    await finalizeActivity(deps, end(jobId), {
      blockChars: 256 * 1024,
      onPage: (n) => pages.push(n),
    });
    // Never more than one shard's attempt records at once, and the log files left memory block by block
    // (a heap measure would be noise here: the in-process Azurite keeps every blob on the same heap).
    expect(pages).toHaveLength(total / SEED_SHARD);
    expect(Math.max(...pages)).toBeLessThanOrEqual(SEED_SHARD + 1);
    expect(pages.reduce((a, b) => a + b, 0)).toBe(attempts.length);
    const folder = jobFolder(jobId);
    expect((await env.store.listBlocks(logs, folder.manifest)).committed.length).toBeGreaterThanOrEqual(4);
    expect(
      (await env.store.listBlocks(logs, folder.processedMiniBatches)).committed.length,
    ).toBeGreaterThanOrEqual(2);

    const written = await readLogs(jobId);
    expect(written.manifest.miniBatches).toHaveLength(total);
    const count = (status: string): number =>
      written.manifest.miniBatches.filter((e) => e.status === status).length;
    expect([count('SUCCEEDED'), count('FAILED'), count('PENDING')]).toEqual([19_970, 20, 10]);
    expect(written.csv.split('\n')).toHaveLength(attempts.length + 2);
    expect(written.failedItems.split('\n')).toHaveLength(21);
    expect(written.failedItems.split('\n')[0]).toBe(
      '{"mini_batch":500,"attempt":2,"item":"in/500-b.txt","error":"bad"}',
    );
    const expected = await completedReportsInMemory(record);
    expect(written).toEqual(expected);
    const rows = [];
    for (const blob of record.appendRow!.blobs) rows.push(await env.store.readText(outputs, blob));
    expect(rows).toEqual(['row 0\nrow 4999\n', 'row 5000\n', 'row 12345\n', 'row 19998\n']);
  }, 300_000);
});
