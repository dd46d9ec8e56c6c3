import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { z } from 'zod';
import { JobNotFoundError } from '../errors';
import {
  jobOutcomeSchema,
  rootInputSchema,
  rootStatusSchema,
  shardInstanceId,
  shardStatusSchema,
} from '../orchestration/contracts';
import { addCounters, emptyCounters, type Counters, type FirstError } from '../orchestration/progress';
import { jobStatusSchema, type JobStatus } from '../job/status';

/** A job as the API and the CLI show it: the seed's vocabulary, live counters, links. */
export interface JobView {
  id: string;
  name: string;
  display_name?: string;
  status: JobStatus;
  /** The Durable Functions runtime status behind `status`, for operators. */
  runtime_status: string;
  counters: Counters;
  reasons: string[];
  first_errors: FirstError[];
  created_time: string;
  last_updated_time: string;
  finished_at?: string;
  outputs: Record<string, string>;
  log_files: Record<string, string>;
  rerun_of?: string;
  studio_url?: string;
}

/**
 * States of a mini-batch on the job page, least to most severe: a band of the grid takes the colour of
 * its most severe member. `earlier`: a re-run does not run it (it succeeded in the job re-run);
 * `pending`: no attempt has ended yet (waiting or running: which one is not recorded anywhere);
 * `canceled`: never ran because the job was canceled or stopped; `retrying`: its last attempt failed and
 * a retry is due or running; `partial` and `failed`: final.
 */
export const miniBatchStateSchema = z.enum([
  'earlier',
  'succeeded',
  'pending',
  'canceled',
  'retrying',
  'partial',
  'failed',
]);
export type MiniBatchState = z.infer<typeof miniBatchStateSchema>;
export const MINI_BATCH_STATES = miniBatchStateSchema.options;

const count = z.number().int().nonnegative();

/** Consecutive mini-batches [first, last] summarised as one cell: its worst state and how many of each. */
export const miniBatchBandSchema = z.object({
  first: count,
  last: count,
  state: miniBatchStateSchema,
  counts: z.partialRecord(miniBatchStateSchema, count),
});
export type MiniBatchBand = z.infer<typeof miniBatchBandSchema>;

/** One final failure shown as an example of its code. */
export const failureExampleSchema = z.object({
  index: count,
  attempt: count,
  status: z.enum(['partial', 'failed']),
  /** Absent when neither the attempt listing nor the job's first errors carry it: see the attempt log. */
  message: z.string().optional(),
  /** True when the attempt wrote a bad-records log (table records that did not parse). */
  bad_records: z.boolean(),
});
export type FailureExample = z.infer<typeof failureExampleSchema>;

export const failureGroupSchema = z.object({
  code: z.string(),
  /** Mini-batches whose final attempt ended with this code. */
  count,
  examples: z.array(failureExampleSchema).max(3),
});
export type FailureGroup = z.infer<typeof failureGroupSchema>;

/**
 * `GET /api/jobs/{id}/mini-batches`: every mini-batch of the job's plan by state, in at most
 * `MAX_GRID_CELLS` bands of `band_size` consecutive mini-batches, and its final failures by error code.
 * The job page draws its grid, bar, failure groups and bad-records links from this and nothing else.
 */
export const miniBatchReportSchema = z.object({
  job_id: z.string(),
  status: jobStatusSchema,
  /** Planned mini-batches (0 while planning). For a re-run: the whole plan, `earlier` ones included. */
  total: count,
  band_size: z.number().int().positive(),
  counts: z.record(miniBatchStateSchema, count),
  bands: z.array(miniBatchBandSchema),
  failures: z.object({ total: count, groups: z.array(failureGroupSchema) }),
  /** Attempts with a bad-records log, in mini-batch order (the first ones only; see `bad_records_more`). */
  bad_records: z.array(z.object({ index: count, attempt: count })),
  /** True when more attempts may have bad-records logs than were looked for. */
  bad_records_more: z.boolean(),
});
export type MiniBatchReport = z.infer<typeof miniBatchReportSchema>;

const TERMINAL: readonly JobStatus[] = ['Completed', 'Failed', 'Canceled'];
export const isFinished = (status: JobStatus): boolean => TERMINAL.includes(status);

export async function getJobView(client: DurableClient, jobId: string, baseUrl?: string): Promise<JobView> {
  let status: DurableOrchestrationStatus | undefined;
  try {
    status = await client.getStatus(jobId, { showInput: true });
  } catch {
    status = undefined;
  }
  if (!status?.runtimeStatus || status.name !== 'ParallelJob') throw new JobNotFoundError(jobId);
  return toView(client, status, baseUrl);
}

/**
 * The job as the API shows it. `liveCounters: false` skips reading the running shards (one call each):
 * the status stays exact, the counters of a running job then lag until its next shard ends.
 */
export async function toView(
  client: DurableClient,
  status: DurableOrchestrationStatus,
  baseUrl?: string,
  options: { liveCounters?: boolean } = {},
): Promise<JobView> {
  const input = rootInputSchema.safeParse(status.input);
  const live = rootStatusSchema.safeParse(status.customStatus);
  const outcome = jobOutcomeSchema.safeParse(status.output);
  const runtime = String(status.runtimeStatus);
  let counters = live.success ? live.data.counters : emptyCounters();
  if (live.success && !outcome.success && options.liveCounters !== false)
    counters = await withRunningShards(client, status.instanceId, counters, live.data.shards);
  const view: JobView = {
    id: status.instanceId,
    name: input.success ? input.data.job.name : status.instanceId,
    display_name: input.success ? input.data.job.displayName : undefined,
    status: seedStatus(
      runtime,
      live.success ? { ...live.data, counters } : undefined,
      outcome.success ? outcome.data.status : undefined,
    ),
    runtime_status: runtime,
    counters: outcome.success ? outcome.data.counters : counters,
    reasons: outcome.success ? outcome.data.reasons : live.success ? live.data.reasons : [],
    first_errors: outcome.success ? outcome.data.errors : [],
    created_time: new Date(status.createdTime).toISOString(),
    last_updated_time: new Date(status.lastUpdatedTime).toISOString(),
    outputs: outcome.success ? outcome.data.outputs : {},
    log_files: outcome.success ? outcome.data.logFiles : {},
    rerun_of: input.success ? input.data.rerunOf : undefined,
  };
  if (outcome.success) view.finished_at = outcome.data.finishedAt;
  if (runtime === 'Failed' && typeof status.output === 'string') view.reasons = [status.output];
  if (runtime === 'Terminated')
    view.reasons = [
      `Terminated: ${typeof status.output === 'string' ? status.output : JSON.stringify(status.output ?? '')}`,
    ];
  if (baseUrl)
    view.studio_url = `${baseUrl.replace(/\/+$/, '')}/api/jobs/${encodeURIComponent(view.id)}/view`;
  return view;
}

/** The root's counters move when a shard ends; add what the running shards have done so far. */
async function withRunningShards(
  client: DurableClient,
  jobId: string,
  counters: Counters,
  shards: number[],
): Promise<Counters> {
  let total = counters;
  for (const shard of shards) {
    try {
      const parsed = shardStatusSchema.safeParse(
        (await client.getStatus(shardInstanceId(jobId, shard))).customStatus,
      );
      if (parsed.success) total = addCounters(total, { ...parsed.data.counters, miniBatches: 0 });
    } catch {
      // A shard that is just starting has no status yet.
    }
  }
  return total;
}

function seedStatus(
  runtime: string,
  /** The root's phase and running shards, with counters that include the running shards' work. */
  live: { phase: string; counters: Counters; shards: number[] } | undefined,
  ended: 'Completed' | 'Failed' | 'Canceled' | undefined,
): JobStatus {
  switch (runtime) {
    case 'Pending':
      return 'Starting';
    case 'Completed':
      return ended ?? 'Completed';
    case 'Failed':
      return 'Failed';
    case 'Terminated':
    case 'Canceled':
      return 'Canceled';
    case 'Suspended':
      return 'Queued';
    default:
      if (!live) return 'Starting';
      if (live.phase === 'Running')
        return live.counters.scheduled === 0 && live.shards.length === 0 ? 'Queued' : 'Running';
      return live.phase as JobStatus;
  }
}
