import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { JobNotFoundError } from '../errors';
import {
  jobOutcomeSchema,
  OrchestratorNames,
  rootInputSchema,
  rootStatusSchema,
  shardInstanceId,
  shardStatusSchema,
} from '../orchestration/contracts';
import { addCounters, emptyCounters, type Counters } from '../orchestration/counters';
import type { JobStatus } from '../job/status';
import type { JobView, PlanningView } from './wire';
import type { BlobStore } from '../storage/blobStore';
import { readPlanProgress } from '../plan/progress';
import { GroupProgress } from './groupProgress';
import { MiniBatchReports } from './miniBatches';

/**
 * What the read model uses of the app: where the job folders are and its reader of running groups'
 * progress and reports (the app's services hold one: `services.reads`).
 */
export interface JobReads {
  folders: JobFolders;
  progress: GroupProgress;
  /** Mini-batch reports, kept for a while (the status page and `GET /api/jobs/{id}/mini-batches`). */
  reports: MiniBatchReports;
}

/** An app's read model over its store and logs container. */
export function createJobReads(store: BlobStore, logsContainer: string): JobReads {
  return {
    folders: { store, logsContainer },
    progress: new GroupProgress(store, logsContainer),
    reports: new MiniBatchReports({ store, containers: { logs: logsContainer } }),
  };
}

/** How a view is read: with the app's reads, and whether to count what running shards have done so far. */
export type ViewOptions = { liveCounters?: boolean } & Partial<JobReads>;

export async function getJobView(
  client: DurableClient,
  options: ViewOptions,
  jobId: string,
  baseUrl?: string,
): Promise<JobView> {
  let status: DurableOrchestrationStatus | undefined;
  try {
    status = await client.getStatus(jobId, { showInput: true });
  } catch {
    status = undefined;
  }
  if (!status?.runtimeStatus || status.name !== OrchestratorNames.root) throw new JobNotFoundError(jobId);
  return toView(client, status, baseUrl, options);
}

/** Where the job folders are: a store and its logs container. */
export interface JobFolders {
  store: BlobStore;
  logsContainer: string;
}

/** Planning's progress as the view shows it, or undefined when none was recorded yet. */
async function planningOf(folders: JobFolders, jobId: string): Promise<PlanningView | undefined> {
  const progress = await readPlanProgress(folders.store, folders.logsContainer, jobId);
  if (!progress) return undefined;
  return {
    listed: progress.listed,
    mini_batches: progress.miniBatches,
    pages: progress.pages,
    updated_at: progress.updatedAt,
    done: progress.done,
  };
}

/**
 * The job as the API shows it. Counters of a running job add the running shards' (one status call each)
 * and their running group calls' records so far (one read of the bytes appended since the last view);
 * a Preparing job gets planning's progress (one small read). `liveCounters: false` skips all three: the
 * status stays exact, the counters then lag until a shard ends. Without the app's reads (a client-only
 * use), counters come from the shards alone and planning's progress is not shown.
 */
export async function toView(
  client: DurableClient,
  status: DurableOrchestrationStatus,
  baseUrl?: string,
  options: ViewOptions = {},
): Promise<JobView> {
  const input = rootInputSchema.safeParse(status.input);
  const live = rootStatusSchema.safeParse(status.customStatus);
  const outcome = jobOutcomeSchema.safeParse(status.output);
  const runtime = String(status.runtimeStatus);
  let counters = live.success ? live.data.counters : emptyCounters();
  if (live.success && !outcome.success && options.liveCounters !== false) {
    const reader = options.progress;
    const progress =
      reader && input.success ? { reader, maxRetries: input.data.job.settings.maxRetries } : undefined;
    counters = await withRunningShards(client, status.instanceId, counters, live.data.shards, progress);
  }
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
  if (view.status === 'Preparing' && options.liveCounters !== false) {
    const { folders } = options;
    const planning = folders ? await planningOf(folders, view.id) : undefined;
    if (planning) view.planning = planning;
  }
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
  /** Reads the running group calls' records; their retries count as final past the job's max_retries. */
  progress: { reader: GroupProgress; maxRetries: number } | undefined,
): Promise<Counters> {
  let total = counters;
  for (const shard of shards) {
    try {
      const parsed = shardStatusSchema.safeParse(
        (await client.getStatus(shardInstanceId(jobId, shard))).customStatus,
      );
      if (!parsed.success) continue;
      total = addCounters(total, { ...parsed.data.counters, miniBatches: 0 });
      const { group } = parsed.data;
      if (progress && group !== undefined) {
        const running = await progress.reader.counters(jobId, shard, group, progress.maxRetries);
        total = addCounters(total, { ...running, miniBatches: 0 });
      }
    } catch {
      // A shard that is just starting has no status yet; a group file being read can lag: counters
      // catch up when the group returns.
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
