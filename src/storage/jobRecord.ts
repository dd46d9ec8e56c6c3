import { z } from 'zod';
import { JobNotFoundError } from '../errors';
import type { BlobStore } from './blobStore';
import { jobFolder } from './layout';
import { effectiveJobSchema } from '../job/effective';
import { planSummarySchema } from '../plan/descriptor';
import { pinnedSideInputSchema } from './sideInputs';

/**
 * Everything the activities of one job need, written once to the job folder by planning
 * (`jobFolder(jobId).jobRecord`) so that activity inputs stay tiny.
 */
export const jobRecordSchema = z.object({
  jobId: z.string(),
  /** 0 for a first run; n for the n-th re-run writing the same output. Part of every output block id. */
  generation: z.number().int().nonnegative(),
  /** The job this one re-runs (only its FAILED and PENDING mini-batches run). */
  rerunOf: z.string().optional(),
  job: effectiveJobSchema,
  plan: planSummarySchema,
  /** Absolute folder that holds the task code (the app's tasks root, or the spec's folder locally). */
  tasksRoot: z.string(),
  /** Where append_row output goes; absent for summary_only. */
  appendRow: z
    .object({
      container: z.string(),
      /** Output blob names; mini-batch i stages its rows on blobs[floor(i / miniBatchesPerBlob)]. */
      blobs: z.array(z.string()).min(1),
      miniBatchesPerBlob: z.number().int().positive(),
    })
    .optional(),
  createdAt: z.string(),
  /** The job whose output this one writes: itself, or for a re-run the job it completes. */
  outputOwner: z.string().optional(),
  /** The side inputs (models, lookup tables), pinned by planning; every host downloads these versions. */
  sideInputs: z.array(pinnedSideInputSchema).optional(),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

/** The output blob that mini-batch `index` appends to. */
export function appendRowBlobFor(
  record: JobRecord,
  index: number,
): { container: string; blob: string } | undefined {
  const target = record.appendRow;
  if (!target) return undefined;
  const blob =
    target.blobs[Math.floor(index / target.miniBatchesPerBlob)] ?? target.blobs[target.blobs.length - 1]!;
  return { container: target.container, blob };
}

/** The owner recorded on the job's output blobs (see outputOwner.ts). */
export function outputOwnerOf(record: JobRecord): string {
  return record.outputOwner ?? record.jobId;
}

export async function readJobRecord(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): Promise<JobRecord> {
  const name = jobFolder(jobId).jobRecord;
  if (!(await store.stat(logsContainer, name))) throw new JobNotFoundError(jobId);
  return store.readJson(logsContainer, name, jobRecordSchema);
}
