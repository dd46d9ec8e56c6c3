import path from 'node:path';
import { planJob } from '../plan/planner';
import { pinSideInputs } from '../storage/sideInputs';
import { sameAccount } from '../storage/access';
import { planActivityInputSchema, type PlanActivityOutput } from '../orchestration/contracts';
import type { BlobStore } from '../storage/blobStore';
import { resolveInputLocation } from '../storage/inputs';
import { jobFolder } from '../storage/layout';
import type { EffectiveJob } from '../job/effective';
import { appendRowBlob } from '../job/outputs';
import type { ActivityDeps } from './deps';
import { jobRecordSchema, outputOwnerOf, readJobRecord, type JobRecord } from '../storage/jobRecord';
import { claimOutputBlob } from '../storage/outputOwner';
import { manifestEntries } from './manifest';

/** Azure's limits per blob: 50,000 committed blocks, 100,000 uncommitted. */
const MAX_COMMITTED_BLOCKS = 50_000;
const MAX_UNCOMMITTED_BLOCKS = 100_000;

/**
 * Plans a job: lists and cuts the input into plan pages, works out where append_row output goes, and
 * writes the job record the other activities read. A re-run reuses the plan of the job it re-runs and
 * selects only that job's FAILED and PENDING mini-batches.
 */
/** What planning uses: the app's storage and places, and the side-input cap (PARALLEL_JOB_MAX_SIDE_INPUT_BYTES). */
export type PlanDeps = ActivityDeps & { maxSideInputBytes: number };

export async function planActivity(deps: PlanDeps, raw: unknown): Promise<PlanActivityOutput> {
  const input = planActivityInputSchema.parse(raw);
  const { store, logsContainer } = deps;
  await store.ensureContainer(logsContainer);

  if (input.rerunOf) return planRerun(deps, input.jobId, input.rerunOf, input.tasksRoot, input.createdAt);

  const job = input.job;
  const location = resolveInputLocation(job.inputData.path, { accountUrl: store.accountUrl });
  deps.access.assert(location, 'read', `inputs.${job.inputData.name}.path`);
  const plan = await planJob(
    store.forAccount(location.accountUrl),
    {
      jobId: input.jobId,
      input: location,
      inputType: job.inputData.type,
      miniBatchSize: job.miniBatchSize,
      miniBatchSizeUnit: job.miniBatchSizeUnit,
      partitionKeys: job.partitionKeys,
      logsContainer,
    },
    // Plan pages and progress on the app's account, where shards, the job view and the planning
    // timeout read them; the input may be in another account.
    { logs: store },
  );
  const appendRow = appendRowTarget(store, job, plan.miniBatches);
  if (appendRow) {
    await checkOutputBlobs(deps, appendRow, input.jobId, `outputs.${job.appendRowTo!.output}.path`);
    // Attempts stage their rows on the output blob, so its container must exist before the first one.
    await store.ensureContainer(appendRow.container);
  }
  // Attempts publish their output folder files as they end: the containers must exist before the first.
  for (const output of Object.values(job.outputs)) {
    if (output.type !== 'uri_folder') continue;
    const place = resolveInputLocation(output.path, { accountUrl: store.accountUrl });
    if (sameAccount(place.accountUrl, store.accountUrl)) await store.ensureContainer(place.container);
  }
  // Pinned like the input: every attempt, on every host, reads these versions of the models and tables.
  const sideInputs = await pinSideInputs(store, deps.access, job, deps.maxSideInputBytes);
  const record: JobRecord = {
    jobId: input.jobId,
    generation: 0,
    job,
    plan,
    tasksRoot: input.tasksRoot,
    appendRow,
    createdAt: input.createdAt,
    outputOwner: input.jobId,
    ...(sideInputs.length ? { sideInputs } : {}),
  };
  await store.writeJson(logsContainer, jobFolder(input.jobId).jobRecord, jobRecordSchema.parse(record));
  return { plan, generation: 0, selected: plan.miniBatches };
}

async function planRerun(
  deps: ActivityDeps,
  jobId: string,
  previousId: string,
  tasksRoot: string,
  createdAt: string,
): Promise<PlanActivityOutput> {
  const { store, logsContainer } = deps;
  const previous = await readJobRecord(store, logsContainer, previousId);
  // The record is read back from storage: its places are checked again under today's settings.
  deps.access.assert(previous.plan.input, 'read', `inputs.${previous.job.inputData.name}.path`);
  if (previous.appendRow) {
    const field = `outputs.${previous.job.appendRowTo?.output ?? ''}.path`;
    await checkOutputBlobs(deps, previous.appendRow, outputOwnerOf(previous), field);
  }
  // Counted line by line: a large job's manifest is never held whole here.
  let selected = 0;
  for await (const entry of manifestEntries(store, logsContainer, previousId))
    if (entry.status !== 'SUCCEEDED') selected += 1;
  const from = jobFolder(previousId);
  const to = jobFolder(jobId);
  for (let page = 0; page < previous.plan.pages; page += 1) {
    await store.write(
      logsContainer,
      to.planPage(page),
      await store.read(logsContainer, from.planPage(page)),
      {
        contentType: 'application/json',
      },
    );
  }
  const record: JobRecord = {
    ...previous,
    jobId,
    generation: previous.generation + 1,
    rerunOf: previousId,
    tasksRoot,
    createdAt,
    outputOwner: outputOwnerOf(previous),
  };
  await store.writeJson(logsContainer, to.jobRecord, jobRecordSchema.parse(record));
  return { plan: previous.plan, generation: record.generation, selected };
}

/**
 * Refuses, before anything runs, output blobs outside the writable places or written by someone else
 * (finalize checks again before it commits).
 */
async function checkOutputBlobs(
  deps: ActivityDeps,
  target: NonNullable<JobRecord['appendRow']>,
  owner: string,
  field: string,
): Promise<void> {
  for (const blob of target.blobs) await claimOutputBlob(deps, target.container, blob, owner, field);
}

/**
 * Where append_row output goes. Large jobs get numbered files so that no blob needs more blocks than
 * Azure allows (every attempt stages one uncommitted block; each mini-batch commits one).
 */
function appendRowTarget(store: BlobStore, job: EffectiveJob, miniBatches: number): JobRecord['appendRow'] {
  const target = job.appendRowTo;
  if (!target) return undefined;
  const location = resolveInputLocation(target.path, { accountUrl: store.accountUrl });
  const file = appendRowBlob(location.prefix, target);
  const attempts = job.settings.maxRetries + 1;
  const perBlob = Math.min(MAX_COMMITTED_BLOCKS, Math.floor(MAX_UNCOMMITTED_BLOCKS / attempts));
  const count = Math.max(1, Math.ceil(miniBatches / perBlob));
  const extension = path.posix.extname(file);
  const stem = file.slice(0, file.length - extension.length);
  const blobs =
    count === 1
      ? [file]
      : Array.from({ length: count }, (_, i) => `${stem}_${String(i).padStart(5, '0')}${extension}`);
  return { container: location.container, blobs, miniBatchesPerBlob: perBlob };
}
