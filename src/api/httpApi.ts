import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppServices } from '../composition';
import {
  DownloadLinkError,
  JobFileNotFoundError,
  JobNotFoundError,
  JobStateError,
  ParallelJobError,
  RequestTooLargeError,
  SpecValidationError,
} from '../errors';
import { Events, OrchestratorNames, rootInputSchema } from '../orchestration/contracts';
import { previewPlan } from '../plan/preview';
import type { InputLocation } from '../plan/descriptor';
import { blobPathProblem, sameAccount } from '../storage/access';
import { resolveInputLocation } from '../storage/inputs';
import { jobFolder } from '../storage/layout';
import { checkJobId } from '../submit/ids';
import { decodeCursor, encodeCursor, readJobIndexPage, type JobIndexCursor } from './jobIndex';
import { jobPlaceIssues } from '../submit/places';
import { resolveJob } from '../job/resolve';
import { specToYaml } from '../job/dump';
import type { JobSpec } from '../job/schema';
import { limitIssues, MAX_SPEC_BYTES } from '../job/limits';
import { jobStatusSchema } from '../job/status';
import { getJobView, toView } from './status';
import { isTerminalStatus, type JobView, type MiniBatchReport } from './wire';
import { cachedMiniBatchReport } from './miniBatches';
import { parseSubmission, rerunJob, submitJob } from '../submit/submit';
import { linkSecret, signLink, verifyLink, type LinkTarget } from './links';
import { fileHeaders, pageHeaders, scriptNonce } from './serving';
import { renderFolderPage } from './pages/folderPage';
import { renderJobsPage } from './pages/jobsPage';
import { renderStatusPage } from './pages/statusPage';

/** The HTTP API's handlers: functions/http.ts only routes to these. */

const json = (status: number, body: unknown): HttpResponseInit => ({ status, jsonBody: body });

/**
 * A ParallelJobError answers with its code and its message, which is written for the caller. Anything
 * else is a fault of the app: the caller gets a fixed message and an error id, the log gets the details.
 */
export function errorResponse(error: unknown, context?: InvocationContext): HttpResponseInit {
  if (error instanceof SpecValidationError) {
    return json(400, { error: { code: error.code, message: error.message, issues: error.issues } });
  }
  if (error instanceof JobNotFoundError || error instanceof JobFileNotFoundError)
    return json(404, { error: error.toJSON() });
  if (error instanceof JobStateError) return json(409, { error: error.toJSON() });
  if (error instanceof RequestTooLargeError) return json(413, { error: error.toJSON() });
  if (error instanceof DownloadLinkError) return json(403, { error: error.toJSON() });
  if (error instanceof ParallelJobError) return json(error.retryable ? 503 : 400, { error: error.toJSON() });
  const errorId = randomUUID();
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  (context ? context.error.bind(context) : console.error)(`Request failed, error id ${errorId}: ${detail}`);
  return json(500, {
    error: {
      code: 'INTERNAL',
      message: `The app failed to answer this request (error id ${errorId}). Try again; if it keeps failing, give the error id to whoever runs the app: the details are in its logs.`,
      error_id: errorId,
    },
  });
}

async function handle(
  context: InvocationContext | undefined,
  work: () => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  try {
    return await work();
  } catch (error) {
    return errorResponse(error, context);
  }
}

const origin = (request: HttpRequest): string => new URL(request.url).origin;

/** The `{id}` of a job route, checked against the one id rule before it reaches the durable store or storage. */
const jobIdParam = (request: HttpRequest): string => checkJobId(request.params.id ?? '');

function links(request: HttpRequest, id: string): Record<string, string> {
  const base = `${origin(request)}/api/jobs/${encodeURIComponent(id)}`;
  return {
    status_url: base,
    view_url: `${base}/view`,
    cancel_url: `${base}/cancel`,
    rerun_url: `${base}/rerun`,
  };
}

/** The body as text, refused unread past `limit` bytes (by its Content-Length, else while it streams in). */
async function boundedText(request: HttpRequest, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > limit) throw new RequestTooLargeError(limit);
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new RequestTooLargeError(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** YAML text as is, JSON bodies parsed; at most MAX_SPEC_BYTES. */
async function specBody(request: HttpRequest): Promise<unknown> {
  const text = await boundedText(request, MAX_SPEC_BYTES);
  const type = request.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new SpecValidationError([
        { path: '', message: `the body is not valid JSON: ${(error as Error).message}` },
      ]);
    }
  }
  return text;
}

/** `services` is read per call, so a settings problem answers as JSON like any other error. */
export function submitHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      const submitted = await submitJob(client, services, {
        spec: await specBody(request),
        jobId: request.query.get('id') ?? undefined,
        origin: 'client',
        source: 'in the request body',
      });
      const view = await getJobView(client, submitted.jobId, origin(request)).catch(() => undefined);
      return json(submitted.created ? 202 : 200, {
        id: submitted.jobId,
        created: submitted.created,
        warnings: submitted.warnings,
        job: view,
        ...links(request, submitted.jobId),
      });
    });
}

export function getHandler() {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => json(200, await getJobView(client, jobIdParam(request), origin(request))));
}

/**
 * A page of jobs, newest first, from the job index (one listing page, then one status read per job on
 * it). With `?status=`, index pages are read until `top` jobs match or the index ends, so a rare status
 * can cost a scan of the index. `next` carries a continuation token. Jobs submitted before the index
 * existed are not listed (GET /api/jobs/{id} still finds them).
 */
/** The status filter of a list request (`?status=`), checked against the job statuses. */
function statusFilter(request: HttpRequest): JobView['status'] | undefined {
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
 * The API and the jobs page both read it, so they show the same jobs.
 */
async function listJobs(
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
      const views = await Promise.all(ids.map((id) => listedView(client, id, base, wanted)));
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

export function listHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const { jobs, next } = await listJobs(request, client, appServices());
      return json(200, { jobs, next: next ? `${origin(request)}/api/jobs?${next}` : undefined });
    });
}

/** The jobs page (`GET /api/dashboard`): the same page of jobs as `GET /api/jobs`, for people. */
export function dashboardHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const { jobs, next } = await listJobs(request, client, appServices());
      const nonce = scriptNonce();
      return {
        status: 200,
        headers: pageHeaders(nonce),
        body: renderJobsPage({
          jobs,
          status: statusFilter(request),
          nextHref: next ? `?${next}` : undefined,
          nonce,
        }),
      };
    });
}

/** Status reads in flight while a page is listed. */
const STATUS_READS = 16;

/** The job's view if it exists and has the wanted status; shards are read only for listed running jobs. */
async function listedView(
  client: DurableClient,
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
  return isTerminalStatus(view.status) ? view : toView(client, status, base);
}

export function cancelHandler() {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const id = jobIdParam(request);
      const status = await client.getStatus(id).catch(() => undefined);
      if (!status?.runtimeStatus) throw new JobNotFoundError(id);
      if (!['Running', 'Pending', 'ContinuedAsNew'].includes(String(status.runtimeStatus))) {
        throw new JobStateError(
          `Job '${id}' has already ended (${String(status.runtimeStatus)}); nothing to cancel.`,
        );
      }
      // The job passes it on to its running shards, which let the attempts in flight finish.
      await client.raiseEvent(id, Events.cancel, { requestedAt: new Date().toISOString() });
      return json(202, { id, status: 'CancelRequested', ...links(request, id) });
    });
}

export function rerunHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const submitted = await rerunJob(
        client,
        appServices(),
        jobIdParam(request),
        request.query.get('id') ?? undefined,
      );
      return json(submitted.created ? 202 : 200, {
        id: submitted.jobId,
        created: submitted.created,
        rerun_of: request.params.id,
        ...links(request, submitted.jobId),
      });
    });
}

export function specHandler() {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const id = jobIdParam(request);
      const status = await client.getStatus(id, { showInput: true }).catch(() => undefined);
      const input = rootInputSchema.safeParse(status?.input);
      if (!input.success || !input.data.spec) throw new JobNotFoundError(id);
      return {
        status: 200,
        headers: { 'content-type': 'application/yaml' },
        body: specToYaml(input.data.spec as JobSpec),
      };
    });
}

export function planHandler(appServices: () => AppServices) {
  return (request: HttpRequest, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      const loaded = parseSubmission({ spec: await specBody(request), source: 'in the request body' });
      const job = resolveJob(loaded.spec, {
        jobId: 'plan-preview',
        outputRoot: `${services.containers.outputs}/plan-preview`,
      });
      // The preview lists the input with the app's identity: the same places and bounds as a submission.
      const issues = [...limitIssues(job), ...(await jobPlaceIssues(job, 'plan-preview', services))];
      if (issues.length) throw new SpecValidationError(issues, 'in the request body');
      const location = resolveInputLocation(job.inputData.path, { accountUrl: services.store.accountUrl });
      const preview = await previewPlan(services.store.forAccount(location.accountUrl), {
        jobId: 'plan-preview',
        input: location,
        inputType: job.inputData.type,
        miniBatchSize: job.miniBatchSize,
        miniBatchSizeUnit: job.miniBatchSizeUnit,
        partitionKeys: job.partitionKeys,
        logsContainer: services.containers.logs,
      });
      return json(200, { ...preview, warnings: [...loaded.warnings, ...preview.warnings] });
    });
}

/** The API's URL path prefix (`/api`), from a request to one of its routes, so links work behind any host. */
function apiPath(request: HttpRequest, route: '/jobs/' | '/download/'): string {
  const pathname = new URL(request.url).pathname;
  return pathname.slice(0, Math.max(0, pathname.indexOf(route)));
}

/** Builds signed download links (`GET <api>/download/{token}`) for one job's files. */
function downloadLinks(services: AppServices, request: HttpRequest, route: '/jobs/' | '/download/') {
  const secret = linkSecret(services.settings.PARALLEL_JOB_LINK_SECRET);
  const base = `${apiPath(request, route)}/download/`;
  return (target: LinkTarget): string => `${base}${signLink(secret, target)}`;
}

/**
 * `GET /api/jobs/{id}/mini-batches`: the job's mini-batches by state in bands, and its final failures by
 * code (miniBatchReportSchema). The status page renders the same report, read through the same cache.
 */
export function miniBatchesHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const view = await getJobView(client, jobIdParam(request), origin(request));
      return json(200, await cachedMiniBatchReport(appServices(), view));
    });
}

/** How long the status page waits for the mini-batch report before it is served without it. */
const PAGE_WAITS_FOR_REPORT_MS = 2000;
const delay = (ms: number): Promise<undefined> =>
  new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());

export function viewHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      const view = await getJobView(client, jobIdParam(request), origin(request));
      const link = downloadLinks(services, request, '/jobs/');
      let miniBatches: MiniBatchReport | string | undefined;
      try {
        // A large job's first listing takes seconds: the page does not wait for it (it keeps going, and
        // the page's next refresh finds it kept).
        const reading = cachedMiniBatchReport(services, view);
        reading.catch(() => undefined);
        miniBatches = await Promise.race([reading, delay(PAGE_WAITS_FOR_REPORT_MS)]);
      } catch (error) {
        // The page still shows the job's status and counters; the grid says why it is missing.
        if (!(error instanceof ParallelJobError)) throw error;
        miniBatches = error.message;
      }
      const nonce = scriptNonce();
      return {
        status: 200,
        headers: pageHeaders(nonce),
        body: renderStatusPage(view, {
          nonce,
          miniBatches,
          miniBatchesReading: miniBatches === undefined,
          fileHref: (kind, name, rest = '') => link({ jobId: view.id, kind, name, path: rest }),
        }),
      };
    });
}

function servedPlaceProblem(
  services: AppServices,
  id: string,
  kind: string,
  location: InputLocation,
): string | undefined {
  if (kind === 'logs') {
    const own =
      sameAccount(location.accountUrl, services.store.accountUrl) &&
      location.container === services.containers.logs &&
      location.prefix.startsWith(jobFolder(id).root) &&
      !blobPathProblem(location.prefix);
    return own ? undefined : "outside the job's log folder";
  }
  return services.access.problem(location, 'write');
}

/** Folder listings stop here; the rest is in storage. */
const MAX_LISTED = 1000;

const fileKindSchema = z.enum(['outputs', 'logs']);

/**
 * One of a job's outputs or log files (`kind` is outputs or logs, `name` a key of the job's `outputs` /
 * `log_files`, `path` a path inside a folder): a blob is streamed as text/plain or as a download, never
 * as a page; a folder is listed with signed links to its children.
 */
async function serveJobFile(
  services: AppServices,
  client: DurableClient,
  request: HttpRequest,
  target: { jobId: string; kind: string; name: string; path: string },
  link: (target: LinkTarget) => string,
): Promise<HttpResponseInit> {
  const { jobId: id, name } = target;
  const rest = target.path.replace(/^\/+/, '');
  const shown = [target.kind, name, rest].filter(Boolean).join('/');
  const kind = fileKindSchema.safeParse(target.kind);
  if (!kind.success) throw new JobFileNotFoundError(id, shown);
  const view = await getJobView(client, id, origin(request));
  const entries = kind.data === 'outputs' ? view.outputs : view.log_files;
  const url = Object.hasOwn(entries, name) ? entries[name] : undefined;
  if (!url || rest.split('/').some((segment) => segment === '..' || segment === '.'))
    throw new JobFileNotFoundError(id, shown);
  const location = resolveInputLocation(url, { accountUrl: services.store.accountUrl });
  const store = services.store.forAccount(location.accountUrl);
  const base = location.prefix.replace(/\/+$/, '');
  const blob = rest ? `${base}/${rest}` : base;
  // The links come from the job's status, which lives in storage: serve only the job's own log folder
  // and outputs in places jobs may write, whatever the status says.
  if (servedPlaceProblem(services, id, kind.data, { ...location, prefix: blob }))
    throw new JobFileNotFoundError(id, shown);
  const info = blob && !rest.endsWith('/') ? await store.stat(location.container, blob) : undefined;
  if (info) {
    return {
      status: 200,
      headers: fileHeaders(info.contentType, blob, info.size),
      body: Readable.from(await store.stream(location.container, blob)),
    };
  }
  const folder = blob ? `${blob.replace(/\/+$/, '')}/` : '';
  const children: Array<{ name: string; size?: number }> = [];
  for await (const entry of store.listFolder(location.container, folder)) {
    if (children.length >= MAX_LISTED) break;
    children.push(
      'folder' in entry
        ? { name: entry.folder.slice(folder.length) }
        : { name: entry.blob.name.slice(folder.length), size: entry.blob.size },
    );
  }
  if (children.length === 0) throw new JobFileNotFoundError(id, shown);
  const inside = rest ? `${rest.replace(/\/+$/, '')}/` : '';
  return {
    status: 200,
    headers: pageHeaders(),
    body: renderFolderPage({
      title: `${view.name}: ${shown}`,
      children,
      truncated: children.length >= MAX_LISTED,
      childHref: (child) => link({ jobId: id, kind: kind.data, name, path: `${inside}${child}` }),
    }),
  };
}

/** `GET /api/jobs/{id}/files/{kind}/{name}/{*rest}`: a job file for API clients, with a function key. */
export function fileHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      return serveJobFile(
        services,
        client,
        request,
        {
          jobId: jobIdParam(request),
          kind: request.params.kind ?? '',
          name: request.params.name ?? '',
          path: request.params.rest ?? '',
        },
        downloadLinks(services, request, '/jobs/'),
      );
    });
}

/**
 * `GET /api/download/{token}` (anonymous): the file or folder a signed link names, as the files route
 * serves it. The token is the only credential, so it is checked before anything is read.
 */
export function downloadHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      const target = verifyLink(
        linkSecret(services.settings.PARALLEL_JOB_LINK_SECRET),
        request.params.token ?? '',
      );
      return serveJobFile(
        services,
        client,
        request,
        { ...target, jobId: checkJobId(target.jobId) },
        downloadLinks(services, request, '/download/'),
      );
    });
}
