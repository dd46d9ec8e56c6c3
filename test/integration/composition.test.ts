import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runMiniBatch } from '../../src/activities/runMiniBatch';
import { jobRecordSchema, type JobRecord } from '../../src/storage/jobRecord';
import { activityDeps, type AppServices } from '../../src/composition';
import type { RunningAzurite } from '@parallel-job/functions-host';
import { jobFolder } from '../../src/storage/layout';
import { testAppServices } from '../support/activityJobs';
import { uniqueContainer, useAzurite } from '../support/azurite';
import { effectiveJob } from '../support/jobs';

// Two apps in one process, as the composition root builds them: each keeps its own pools, caches and
// clients, so what one has read, started or remembered never reaches the other.

let azurite: RunningAzurite;
const work = mkdtempSync(path.join(os.tmpdir(), 'pj-two-apps-'));
const apps: AppServices[] = [];

beforeAll(async () => {
  azurite = await useAzurite();
  for (const name of ['a', 'b']) {
    const containers = {
      logs: uniqueContainer(`logs${name}`),
      inputs: uniqueContainer(`inputs${name}`),
      outputs: uniqueContainer(`outputs${name}`),
    };
    const services = testAppServices(azurite.connectionString, containers, path.join(work, name));
    for (const container of Object.values(containers)) await services.store.ensureContainer(container);
    apps.push(services);
  }
});

afterAll(async () => {
  for (const services of apps) await services.pools.closeAll();
  await azurite.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The same job id in an app, over its own input, whose task echoes the file's text. */
async function writeJob(services: AppServices, text: string): Promise<JobRecord> {
  const { store, containers } = services;
  await store.write(containers.inputs, 'data/a.txt', text);
  const record: JobRecord = {
    jobId: 'same-job',
    generation: 0,
    job: effectiveJob(
      {},
      { task: { code: 'tasks', entryScript: 'files.js', programArguments: '', argv: [] } },
    ),
    plan: {
      kind: 'files',
      input: { accountUrl: store.accountUrl, container: containers.inputs, prefix: 'data' },
      miniBatches: 1,
      bytes: text.length,
      pageSize: 1,
      pages: 1,
    },
    tasksRoot: path.resolve(__dirname, '../fixtures'),
    appendRow: { container: containers.outputs, blobs: ['same-job/out.txt'], miniBatchesPerBlob: 10 },
    createdAt: new Date().toISOString(),
  };
  const folder = jobFolder('same-job');
  await store.writeJson(containers.logs, folder.jobRecord, jobRecordSchema.parse(record));
  await store.writeJson(containers.logs, folder.planPage(0), {
    page: 0,
    first: 0,
    miniBatches: [{ kind: 'files', index: 0, files: [{ name: 'data/a.txt', size: text.length }] }],
  });
  return record;
}

describe('two apps in one process', () => {
  it('share no pool, cache or client', async () => {
    const [a, b] = apps as [AppServices, AppServices];
    expect(a.pools).not.toBe(b.pools);
    expect(a.sideInputCache).not.toBe(b.sideInputCache);
    expect(a.jobFiles).not.toBe(b.jobFiles);
    expect(a.scheduleBlobs).not.toBe(b.scheduleBlobs);
    expect(a.python).not.toBe(b.python);
    expect(a.store).not.toBe(b.store);
    expect(a.reads.progress).not.toBe(b.reads.progress);
    expect(a.reads.reports).not.toBe(b.reads.reports);

    // The same job id in both: each app reads its own job record and plan, runs on its own warm workers.
    await writeJob(a, 'text of app a');
    await writeJob(b, 'text of app b');
    const fromA = await runMiniBatch(activityDeps(a), { jobId: 'same-job', index: 0, attempt: 1 });
    const fromB = await runMiniBatch(activityDeps(b), { jobId: 'same-job', index: 0, attempt: 1 });
    expect(fromA.receipt.status).toBe('succeeded');
    expect(fromB.receipt.status).toBe('succeeded');
    const rows = async (services: AppServices) => {
      const { uncommitted } = await services.store.listBlocks(
        services.containers.outputs,
        'same-job/out.txt',
      );
      await services.store.commitBlocks(services.containers.outputs, 'same-job/out.txt', uncommitted);
      return services.store.readText(services.containers.outputs, 'same-job/out.txt');
    };
    expect(await rows(a)).toContain('text of app a');
    expect(await rows(b)).toContain('text of app b');
    expect(a.pools.size).toBe(1);
    expect(b.pools.size).toBe(1);
    expect(fromA.worker).not.toBe(fromB.worker);
  });
});
