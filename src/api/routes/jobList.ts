import type { HttpRequest } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import type { AppServices } from '../../composition';
import { SpecValidationError } from '../../errors';
import { jobStatusSchema } from '../../job/status';
import { OrchestratorNames } from '../../orchestration/contracts';
import { decodeCursor, encodeCursor, readJobIndexPage, type JobIndexCursor } from '../../storage/jobIndex';
import { toView, type JobReads } from '../status';
import { isTerminalStatus, type JobView } from '../wire';
import { origin } from './requests';

/** Status reads in flight while a page is listed. */
const STATUS_READS = 16;

/** The status filter of a list request (`?status=`), checked against the job statuses. */
export function statusFilter(request: HttpRequest): JobView['status'] | undefined {
  const wanted = request.query.get('status');
  if (!wanted) return undefined;
  const parsed = jobStatusSchema.safeParse(wanted);
  if (!parsed.success) {
    throw new SpecValidationError([
      {
        path: 'status',
        message: `unknown status '${wanted}': use one of ${jobStatusSchema.options.join(', ')}`,
      },
    ]);
  }
  return parsed.data;
}

/**
 * One page of jobs, newest first, from the job index: one index page and one status read per job listed.
 * With `?status=`, index pages are read until `top` jobs match or the index ends, so a rare status can
 * cost a scan of the index. `next` is the query of the next page, with a continuation token. Jobs
 * submitted before the index existed are not listed (GET /api/jobs/{id} still finds them).
 * The API (`GET /api/jobs`) and the jobs page both read it, so they show the same jobs.
 */
export async function listJobs(
  request: HttpRequest,
  client: DurableClient,
  services: AppServices,
): Promise<{ jobs: JobView[]; next?: string }> {
  const wanted = statusFilter(request);
  const top = Math.min(Math.max(Number(request.query.get('top') ?? 50) || 50, 1), 500);
  const token = request.query.get('continuation');
  // A filter reads more index entries than it keeps: larger pages, fewer listing calls.
  const cursor = token ? decodeCursor(token) : { s: 0, p: wanted ? Math.max(top, 100) : top };
  const { store, containers } = services;
  const base = origin(request);
  const jobs: JobView[] = [];
  let marker = cursor.m;
  let skip = cursor.s;
  let next: JobIndexCursor | undefined;
  for (;;) {
    const page = await readJobIndexPage(store, containers.logs, { marker, pageSize: cursor.p });
    let at = skip;
    while (at < page.ids.length && jobs.length < top) {
      const ids = page.ids.slice(at, at + Math.min(STATUS_READS, top - jobs.length));
      at += ids.length;
      const views = await Promise.all(ids.map((id) => listedView(client, services.reads, id, base, wanted)));
      for (const view of views) if (view && !jobs.some((job) => job.id === view.id)) jobs.push(view);
    }
    if (jobs.length >= top) {
      if (at < page.ids.length) next = { ...(marker ? { m: marker } : {}), s: at, p: cursor.p };
      else if (page.nextMarker) next = { m: page.nextMarker, s: 0, p: cursor.p };
      break;
    }
    if (!page.nextMarker) break;
    marker = page.nextMarker;
    skip = 0;
  }
  const query = next
    ? `top=${top}${wanted ? `&status=${wanted}` : ''}&continuation=${encodeCursor(next)}`
    : undefined;
  return { jobs, ...(query ? { next: query } : {}) };
}

/** The job's view if it exists and has the wanted status; shards are read only for listed running jobs. */
async function listedView(
  client: DurableClient,
  reads: JobReads,
  id: string,
  base: string,
  wanted: string | undefined,
): Promise<JobView | undefined> {
  let status: Awaited<ReturnType<DurableClient['getStatus']>> | undefined;
  try {
    status = await client.getStatus(id, { showInput: true });
  } catch (error) {
    // An index entry whose start failed (or whose instance was purged) names no instance.
    if (error instanceof Error && /\bHTTP 404\b/.test(error.message)) return undefined;
    throw error;
  }
  if (!status?.runtimeStatus || status.name !== OrchestratorNames.root) return undefined;
  const view = await toView(client, status, base, { liveCounters: false });
  if (wanted && view.status !== wanted) return undefined;
  return isTerminalStatus(view.status) ? view : toView(client, status, base, reads);
}
