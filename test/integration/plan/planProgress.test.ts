import { planActivity } from '../../../src/activities/plan';
import { StorageTransientError } from '../../../src/errors';
import type { PlanProgress } from '../../../src/plan/descriptor';
import { planJob, readPlanPage, type PlanRequest } from '../../../src/plan/planner';
import { planProgressSink, readPlanProgress } from '../../../src/plan/progress';
import type { RunningAzurite } from '../../../src/local/azurite';
import { AccessPolicy } from '../../../src/storage/access';
import { BlobStore } from '../../../src/storage/blobStore';
import { jobFolder } from '../../../src/storage/layout';
import { effectiveJob } from '../../support/jobs';
import { uniqueContainer, useAzurite } from '../../support/azurite';

let azurite: RunningAzurite;
let store: BlobStore;
const logs = uniqueContainer('logs');
const BLOBS = 40;

beforeAll(async () => {
  azurite = await useAzurite();
  store = BlobStore.fromConnectionString(azurite.connectionString);
  await store.ensureContainer(logs);
});
afterAll(async () => {
  await azurite.stop();
});

/** A uri_folder input of `BLOBS` small files under `data/`. */
async function seed(): Promise<string> {
  const container = uniqueContainer('plan');
  await store.ensureContainer(container);
  await Promise.all(
    Array.from({ length: BLOBS }, (_, i) =>
      store.write(container, `data/f-${String(i).padStart(3, '0')}.txt`, 'x'),
    ),
  );
  return container;
}

/** 40 files listed 2 a request (20 listing pages), 3 files a mini-batch, 4 mini-batches a plan page. */
function request(container: string, jobId: string): PlanRequest {
  return {
    jobId,
    input: { accountUrl: store.accountUrl, container, prefix: 'data' },
    inputType: 'uri_folder',
    miniBatchSize: 3,
    miniBatchSizeUnit: 'files',
    logsContainer: logs,
    pageSize: 4,
    listPageSize: 2,
  };
}

/** Writes of the progress blob through `store.writeJson`, with their bodies. */
function watchProgressWrites(jobId: string, fail = false): { bodies: PlanProgress[]; restore(): void } {
  const original = store.writeJson.bind(store);
  const name = jobFolder(jobId).planProgress;
  const bodies: PlanProgress[] = [];
  const spy = jest.spyOn(store, 'writeJson').mockImplementation((container, blob, value, options) => {
    if (blob !== name) return original(container, blob, value, options);
    bodies.push(value as PlanProgress);
    if (fail) return Promise.reject(new StorageTransientError(container, blob, 503, 'server busy'));
    return original(container, blob, value, options);
  });
  return { bodies, restore: () => spy.mockRestore() };
}

describe('planning progress', () => {
  it('is recorded while a listing of many pages is cut', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const real = planProgressSink(store, logs, jobId);
    const records: PlanProgress[] = [];
    const summary = await planJob(store, request(container, jobId), {
      intervalMs: 5,
      sink: async (progress) => {
        await real(progress);
        records.push(progress);
      },
    });

    expect(summary).toMatchObject({ miniBatches: 14, items: BLOBS, pages: 4 });
    expect(records.length).toBeGreaterThanOrEqual(2);
    const last = records[records.length - 1]!;
    expect(last).toMatchObject({ listed: BLOBS, miniBatches: 14, pages: 4, done: true });
    expect(records.slice(0, -1).every((r) => !r.done)).toBe(true);
    expect(records[0]!.listed).toBeLessThan(BLOBS);
    for (let i = 1; i < records.length; i += 1) {
      expect(records[i]!.listed).toBeGreaterThanOrEqual(records[i - 1]!.listed);
      expect(records[i]!.miniBatches).toBeGreaterThanOrEqual(records[i - 1]!.miniBatches);
      expect(Date.parse(records[i]!.updatedAt)).toBeGreaterThanOrEqual(Date.parse(records[i - 1]!.updatedAt));
    }
  });

  it('writes once every interval, not per listing page: a short plan writes only its last record', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const writes = watchProgressWrites(jobId);
    const started = Date.now();
    try {
      await planJob(store, request(container, jobId));
    } finally {
      writes.restore();
    }
    const elapsed = Date.now() - started;
    expect(writes.bodies.length).toBeLessThanOrEqual(1 + Math.floor(elapsed / 2000));
    expect(writes.bodies[writes.bodies.length - 1]).toMatchObject({ listed: BLOBS, done: true });
    expect(await readPlanProgress(store, logs, jobId)).toMatchObject({
      listed: BLOBS,
      miniBatches: 14,
      done: true,
    });
  });

  it('never fails planning when a progress write fails', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const writes = watchProgressWrites(jobId, true);
    let summary;
    try {
      summary = await planJob(store, request(container, jobId), { intervalMs: 5 });
    } finally {
      writes.restore();
    }
    expect(writes.bodies.length).toBeGreaterThanOrEqual(1);
    expect(summary).toMatchObject({ miniBatches: 14, items: BLOBS, pages: 4 });
    expect((await readPlanPage(store, logs, jobId, 3)).miniBatches).toHaveLength(2);
    expect(await readPlanProgress(store, logs, jobId)).toBeUndefined();
  });

  it('is written by the plan activity to the app account, where the view reads it', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const access = new AccessPolicy({
      appAccountUrl: store.accountUrl,
      readable: [container],
      writable: [],
      reserved: { [logs]: 'the job logs container' },
      reservedPrefixes: {},
    });
    const job = effectiveJob(
      {},
      { inputData: { name: 'data', type: 'uri_folder', path: `${container}/data`, mode: 'ro_mount' } },
    );
    delete job.appendRowTo;
    await planActivity(
      { store, logsContainer: logs, access },
      { jobId, job, tasksRoot: '/app/tasks', createdAt: new Date().toISOString() },
    );
    expect(await readPlanProgress(store, logs, jobId)).toMatchObject({
      listed: BLOBS,
      miniBatches: 4,
      done: true,
    });
  });
});
