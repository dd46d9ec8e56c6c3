import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobRecord } from '../../src/storage/jobRecord';
import type { RunMiniBatchDeps } from '../../src/activities/runMiniBatch';
import type { RunningAzurite } from '@parallel-job/functions-host';
import type { MiniBatchDescriptor, PlanSummary } from '../../src/plan/descriptor';
import type { EffectiveJob } from '../../src/job/effective';
import type { BlobStore } from '../../src/storage/blobStore';
import { jobFolder } from '../../src/storage/layout';
import { removeCacheFolder } from '../../src/storage/sideInputs';
import { activityDeps, createAppServices, type AppServices } from '../../src/composition';
import { settingsSchema } from '../../src/config';
import type { TaskPools } from '../../src/task/pool';
import { TEST_PYTHON } from './python';
import { uniqueContainer, useAzurite } from './azurite';
import { effectiveJob } from './jobs';

export interface JobSetup {
  jobId: string;
  kind: PlanSummary['kind'];
  descriptors: MiniBatchDescriptor[];
  entryScript: string;
  code?: string;
  pageSize?: number;
  settings?: Parameters<typeof effectiveJob>[0];
  job?: Partial<EffectiveJob>;
  appendRow?: boolean;
  /** More of the record, as planning would write it (side inputs, an owner). */
  record?: Partial<JobRecord>;
}

/**
 * An app's services over one Azurite with containers of its own, as the composition root builds them:
 * task code under test/fixtures, Python tasks on the tests' interpreter, workers' folders in `workDir`.
 */
export function testAppServices(
  connectionString: string,
  containers: { logs: string; inputs: string; outputs: string },
  workDir: string,
): AppServices {
  return createAppServices(
    settingsSchema.parse({
      AzureWebJobsStorage: connectionString,
      PARALLEL_JOB_LOGS_CONTAINER: containers.logs,
      PARALLEL_JOB_INPUTS_CONTAINER: containers.inputs,
      PARALLEL_JOB_OUTPUTS_CONTAINER: containers.outputs,
      PARALLEL_JOB_TASKS_ROOT: path.resolve(__dirname, '../fixtures'),
      PARALLEL_JOB_PYTHON: TEST_PYTHON,
      PARALLEL_JOB_WORK_DIR: workDir,
    }),
  );
}

/**
 * What the activity tests share: a real Azurite, warm pools over test/fixtures, containers of their own,
 * and a way to write what planning would have written for a job. Call at the top of a test file.
 */
export function useActivityJobs() {
  const tasksRoot = path.resolve(__dirname, '../fixtures');
  const logs = uniqueContainer('logs');
  const inputs = uniqueContainer('inputs');
  const outputs = uniqueContainer('outputs');
  let azurite: RunningAzurite;
  const env = {
    /** The workers' folders, Python attempts' data and the side-input cache of these tests. */
    workDir: mkdtempSync(path.join(os.tmpdir(), 'pj-activity-work-')),
    logs,
    inputs,
    outputs,
    store: undefined as unknown as BlobStore,
    pools: undefined as unknown as TaskPools,
    deps: undefined as unknown as RunMiniBatchDeps,
    /** Writes what planning would have: the job record and the plan pages. */
    writeJob: async (setup: JobSetup): Promise<JobRecord> =>
      writeJob(env.store, logs, inputs, outputs, tasksRoot, setup),
    upload: async (name: string, text: string): Promise<number> => {
      await env.store.write(inputs, name, text);
      return Buffer.byteLength(text);
    },
  };
  beforeAll(async () => {
    azurite = await useAzurite();
    const services = testAppServices(azurite.connectionString, { logs, inputs, outputs }, env.workDir);
    env.store = services.store;
    env.pools = services.pools;
    env.deps = activityDeps(services);
    for (const container of [logs, inputs]) await env.store.ensureContainer(container);
  });
  afterAll(async () => {
    await env.pools.closeAll();
    await azurite.stop();
    await removeCacheFolder(env.workDir);
  });
  return env;
}

async function writeJob(
  store: BlobStore,
  logs: string,
  inputs: string,
  outputs: string,
  tasksRoot: string,
  setup: JobSetup,
): Promise<JobRecord> {
  const pageSize = setup.pageSize ?? 2;
  const pages = Math.ceil(setup.descriptors.length / pageSize);
  const job = effectiveJob(setup.settings ?? {}, {
    task: { code: setup.code ?? 'tasks', entryScript: setup.entryScript, programArguments: '', argv: [] },
    ...setup.job,
  });
  const record: JobRecord = {
    jobId: setup.jobId,
    generation: 0,
    job,
    plan: {
      kind: setup.kind,
      input: { accountUrl: store.accountUrl, container: inputs, prefix: '' },
      miniBatches: setup.descriptors.length,
      bytes: 0,
      pageSize,
      pages,
    },
    tasksRoot,
    ...(setup.appendRow === false
      ? {}
      : {
          appendRow: {
            container: outputs,
            blobs: [`${setup.jobId}/parallel_run_step.txt`],
            miniBatchesPerBlob: 100,
          },
        }),
    createdAt: new Date().toISOString(),
    ...setup.record,
  };
  const folder = jobFolder(setup.jobId);
  await store.writeJson(logs, folder.jobRecord, record);
  for (let page = 0; page < pages; page += 1) {
    const first = page * pageSize;
    await store.writeJson(logs, folder.planPage(page), {
      page,
      first,
      miniBatches: setup.descriptors.slice(first, first + pageSize),
    });
  }
  return record;
}
