import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { planActivity } from '../../../src/activities/plan';
import { toView } from '../../../src/api/status';
import type { JobView } from '../../../src/api/wire';
import { main } from '../../../src/cli/main';
import { StorageTransientError } from '../../../src/errors';
import { OrchestratorNames, type RootStatus } from '../../../src/orchestration/contracts';
import { emptyCounters } from '../../../src/orchestration/counters';
import type { PlanProgress } from '../../../src/plan/descriptor';
import { planJob, readPlanPage, type PlanRequest } from '../../../src/plan/planner';
import { planProgressSink, readPlanProgress } from '../../../src/plan/progress';
import { AccessPolicy } from '../../../src/storage/access';
import { jobFolder } from '../../../src/storage/layout';
import { effectiveJob } from '../../support/jobs';
import { uniqueContainer, useAzuriteStore } from '../../support/azurite';

const env = useAzuriteStore();
const logs = uniqueContainer('logs');
const BLOBS = 40;

beforeAll(async () => {
  await env.store.ensureContainer(logs);
});

/** A uri_folder input of `BLOBS` small files under `data/`. */
async function seed(): Promise<string> {
  const container = uniqueContainer('plan');
  await env.store.ensureContainer(container);
  await Promise.all(
    Array.from({ length: BLOBS }, (_, i) =>
      env.store.write(container, `data/f-${String(i).padStart(3, '0')}.txt`, 'x'),
    ),
  );
  return container;
}

/** 40 files listed 2 a request (20 listing pages), 3 files a mini-batch, 4 mini-batches a plan page. */
function request(container: string, jobId: string): PlanRequest {
  return {
    jobId,
    input: { accountUrl: env.store.accountUrl, container, prefix: 'data' },
    inputType: 'uri_folder',
    miniBatchSize: 3,
    miniBatchSizeUnit: 'files',
    logsContainer: logs,
    pageSize: 4,
    listPageSize: 2,
  };
}

/** The root's status while it waits for planning, as the Durable client reports it. */
function preparing(jobId: string): DurableOrchestrationStatus {
  const customStatus: RootStatus = {
    phase: 'Preparing',
    counters: emptyCounters(),
    shards: [],
    reasons: [],
    startedAt: new Date().toISOString(),
  };
  return {
    name: OrchestratorNames.root,
    instanceId: jobId,
    createdTime: new Date(),
    lastUpdatedTime: new Date(),
    input: undefined,
    output: undefined,
    runtimeStatus: 'Running',
    customStatus,
    history: undefined,
  } as unknown as DurableOrchestrationStatus;
}

/** No shards run while Preparing: the view asks the Durable client nothing. */
const noClient = {} as DurableClient;

/** Writes of the progress blob through `store.writeJson`, with their bodies. */
function watchProgressWrites(jobId: string, fail = false): { bodies: PlanProgress[]; restore(): void } {
  const original = env.store.writeJson.bind(env.store);
  const name = jobFolder(jobId).planProgress;
  const bodies: PlanProgress[] = [];
  const spy = jest.spyOn(env.store, 'writeJson').mockImplementation((container, blob, value, options) => {
    if (blob !== name) return original(container, blob, value, options);
    bodies.push(value as PlanProgress);
    if (fail) return Promise.reject(new StorageTransientError(container, blob, 503, 'server busy'));
    return original(container, blob, value, options);
  });
  return { bodies, restore: () => spy.mockRestore() };
}

/** The progress blob holds the last record of a complete plan of the `BLOBS` files. */
async function expectFinalRecord(jobId: string, miniBatches: number): Promise<void> {
  expect(await readPlanProgress(env.store, logs, jobId)).toMatchObject({
    listed: BLOBS,
    miniBatches,
    done: true,
  });
}

describe('planning progress', () => {
  it('is recorded while a listing of many pages is cut, and the job view shows it while Preparing', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const real = planProgressSink(env.store, logs, jobId);
    const records: PlanProgress[] = [];
    let midway: JobView | undefined;
    const summary = await planJob(env.store, request(container, jobId), {
      intervalMs: 5,
      sink: async (progress) => {
        await real(progress);
        records.push(progress);
        // The view, read while planning goes on.
        if (!progress.done && !midway)
          midway = await toView(noClient, preparing(jobId), undefined, {
            folders: { store: env.store, logsContainer: logs },
          });
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

    expect(midway?.status).toBe('Preparing');
    expect(midway?.planning).toEqual({
      listed: records[0]!.listed,
      mini_batches: records[0]!.miniBatches,
      pages: records[0]!.pages,
      updated_at: records[0]!.updatedAt,
      done: false,
    });
    const after = await toView(noClient, preparing(jobId), undefined, {
      folders: { store: env.store, logsContainer: logs },
    });
    expect(after.planning).toMatchObject({ listed: BLOBS, mini_batches: 14, pages: 4, done: true });
    // The job list reads no blobs per job.
    const listed = await toView(noClient, preparing(jobId), undefined, {
      liveCounters: false,
      folders: { store: env.store, logsContainer: logs },
    });
    expect(listed.planning).toBeUndefined();
  });

  it('writes once every interval, not per listing page: a short plan writes only its last record', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const writes = watchProgressWrites(jobId);
    const started = Date.now();
    try {
      await planJob(env.store, request(container, jobId));
    } finally {
      writes.restore();
    }
    const elapsed = Date.now() - started;
    expect(writes.bodies.length).toBeLessThanOrEqual(1 + Math.floor(elapsed / 2000));
    expect(writes.bodies[writes.bodies.length - 1]).toMatchObject({ listed: BLOBS, done: true });
    await expectFinalRecord(jobId, 14);
  });

  it('never fails planning when a progress write fails', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const writes = watchProgressWrites(jobId, true);
    let summary;
    try {
      summary = await planJob(env.store, request(container, jobId), { intervalMs: 5 });
    } finally {
      writes.restore();
    }
    expect(writes.bodies.length).toBeGreaterThanOrEqual(1);
    expect(summary).toMatchObject({ miniBatches: 14, items: BLOBS, pages: 4 });
    expect((await readPlanPage(env.store, logs, jobId, 3)).miniBatches).toHaveLength(2);
    expect(await readPlanProgress(env.store, logs, jobId)).toBeUndefined();
  });

  it('is written by the plan activity to the app account, where the view reads it', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    const access = new AccessPolicy({
      appAccountUrl: env.store.accountUrl,
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
      { store: env.store, logsContainer: logs, access, maxSideInputBytes: 1024 ** 3 },
      { jobId, job, tasksRoot: '/app/tasks', createdAt: new Date().toISOString() },
    );
    await expectFinalRecord(jobId, 4);
  });

  it('shows in the CLI: the progress line of a waiting submit, and status', async () => {
    const container = await seed();
    const jobId = `job-${container}`;
    await planJob(env.store, request(container, jobId));
    const view = await toView(noClient, preparing(jobId), undefined, {
      folders: { store: env.store, logsContainer: logs },
    });
    const midway: JobView = {
      ...view,
      planning: {
        listed: 120_000,
        mini_batches: 12_000,
        pages: 12,
        updated_at: view.created_time,
        done: false,
      },
    };
    const ended: JobView = { ...view, status: 'Failed', runtime_status: 'Completed', reasons: ['stop'] };
    delete ended.planning;
    // An app that answers the view while Preparing twice, then the ended job.
    let gets = 0;
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST') {
        res.end(JSON.stringify({ id: jobId, created: true, warnings: [], status_url: '', view_url: '' }));
        return;
      }
      gets += 1;
      res.end(JSON.stringify(gets === 1 ? midway : gets === 2 ? view : ended));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cli = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      await main(['node', 'parallel-job', ...args, '--endpoint', endpoint], {
        out: (line) => out.push(line),
        err: (line) => err.push(line),
        interactive: false,
      });
      return { out, err };
    };
    try {
      const spec = path.join(__dirname, '../../fixtures/specs/thresholds-and-flags.yml');
      const submitted = await cli('submit', spec, '--wait');
      expect(submitted.err).toEqual(
        expect.arrayContaining([
          'Preparing: listed 120,000 inputs, 12,000 mini-batches so far',
          `Preparing: listed ${BLOBS} inputs, 14 mini-batches in all`,
        ]),
      );
      gets = 1;
      const status = await cli('status', jobId);
      expect(status.out).toContain(`  planning: listed ${BLOBS} inputs, 14 mini-batches in all`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
