import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import type { AppServices } from '../composition';
import {
  JobFileNotFoundError,
  JobNotFoundError,
  JobStateError,
  ParallelJobError,
  SpecValidationError,
} from '../errors';
import { Events, rootInputSchema } from '../orchestration/contracts';
import { previewPlan } from '../plan/preview';
import type { InputLocation } from '../plan/descriptor';
import { blobPathProblem, sameAccount } from '../storage/access';
import { resolveInputLocation } from '../storage/inputs';
import { jobFolder } from '../storage/layout';
import { checkJobId } from './ids';
import { jobPlaceIssues } from './places';
import { limitIssues } from '../spec/limits';
import { resolveJob } from '../spec/resolve';
import { specToYaml } from '../spec/dump';
import type { JobSpec } from '../spec/schema';
import { jobStatusSchema } from '../spec/status';
import { getJobView, isFinished, toView, type JobView } from './status';
import { parseSubmission, rerunJob, submitJob } from './submit';
import { renderFolderPage, renderStatusPage } from './statusPage';

/** The HTTP API's handlers: functions/http.ts only routes to these. */

const json = (status: number, body: unknown): HttpResponseInit => ({ status, jsonBody: body });

export function errorResponse(error: unknown): HttpResponseInit {
  if (error instanceof SpecValidationError) {
    return json(400, { error: { code: error.code, message: error.message, issues: error.issues } });
  }
  if (error instanceof JobNotFoundError || error instanceof JobFileNotFoundError)
    return json(404, { error: error.toJSON() });
  if (error instanceof JobStateError) return json(409, { error: error.toJSON() });
  if (error instanceof ParallelJobError) return json(error.retryable ? 503 : 400, { error: error.toJSON() });
  return json(500, {
    error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) },
  });
}

async function handle(work: () => Promise<HttpResponseInit>): Promise<HttpResponseInit> {
  try {
    return await work();
  } catch (error) {
    return errorResponse(error);
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

/** YAML text as is, JSON bodies parsed. */
async function specBody(request: HttpRequest): Promise<unknown> {
  const text = await request.text();
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
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => {
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
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => json(200, await getJobView(client, jobIdParam(request), origin(request))));
}

export function listHandler() {
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => {
      const wanted = request.query.get('status');
      if (wanted && !jobStatusSchema.safeParse(wanted).success) {
        throw new SpecValidationError([
          {
            path: 'status',
            message: `unknown status '${wanted}': use one of ${jobStatusSchema.options.join(', ')}`,
          },
        ]);
      }
      const top = Math.min(Math.max(Number(request.query.get('top') ?? 50) || 50, 1), 500);
      const skip = Math.max(Number(request.query.get('skip') ?? 0) || 0, 0);
      const all = (await client.getStatusBy({})).filter((s) => s.name === 'ParallelJob');
      all.sort((a, b) => new Date(b.createdTime).getTime() - new Date(a.createdTime).getTime());
      // Filter on views that read no shards, then read the running shards of the page's jobs only.
      const views: JobView[] = [];
      for (const status of all)
        views.push(await toView(client, status, origin(request), { liveCounters: false }));
      const filtered = wanted ? views.filter((v) => v.status === wanted) : views;
      const byId = new Map(all.map((status) => [status.instanceId, status]));
      const page = await Promise.all(
        filtered
          .slice(skip, skip + top)
          .map((view) =>
            isFinished(view.status)
              ? Promise.resolve(view)
              : toView(client, byId.get(view.id)!, origin(request)),
          ),
      );
      const next =
        skip + top < filtered.length
          ? `${origin(request)}/api/jobs?skip=${skip + top}&top=${top}${wanted ? `&status=${wanted}` : ''}`
          : undefined;
      return json(200, { jobs: page, total: filtered.length, next });
    });
}

export function cancelHandler() {
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => {
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
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => {
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
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => {
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
  return (request: HttpRequest) =>
    handle(async () => {
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

export function viewHandler() {
  return (request: HttpRequest, client: DurableClient) =>
    handle(async () => {
      const view = await getJobView(client, jobIdParam(request), origin(request));
      return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
        body: renderStatusPage(view, { key: request.query.get('code') ?? undefined }),
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

/**
 * One of a job's outputs or log files through the app (`kind` is outputs or logs, `name` a key of the
 * job's `outputs` / `log_files`, `rest` a path inside a folder): a blob is streamed, a folder is listed.
 * The status page links here, so its links work with the same function key as the page itself.
 */
export function fileHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient) =>
    handle(async (): Promise<HttpResponseInit> => {
      const id = jobIdParam(request);
      const kind = request.params.kind ?? '';
      const name = request.params.name ?? '';
      const rest = (request.params.rest ?? '').replace(/^\/+/, '');
      const shown = [kind, name, rest].filter(Boolean).join('/');
      const view = await getJobView(client, id, origin(request));
      const entries = kind === 'outputs' ? view.outputs : kind === 'logs' ? view.log_files : {};
      const url = Object.hasOwn(entries, name) ? entries[name] : undefined;
      if (!url || rest.split('/').some((segment) => segment === '..' || segment === '.'))
        throw new JobFileNotFoundError(id, shown);
      const services = appServices();
      const location = resolveInputLocation(url, { accountUrl: services.store.accountUrl });
      const store = services.store.forAccount(location.accountUrl);
      const base = location.prefix.replace(/\/+$/, '');
      const blob = rest ? `${base}/${rest}` : base;
      // The links come from the job's status, which lives in storage: serve only the job's own log folder
      // and outputs in places jobs may write, whatever the status says.
      if (servedPlaceProblem(services, id, kind, { ...location, prefix: blob }))
        throw new JobFileNotFoundError(id, shown);
      const info = blob && !rest.endsWith('/') ? await store.stat(location.container, blob) : undefined;
      if (info) {
        return {
          status: 200,
          headers: {
            'content-type': info.contentType ?? 'application/octet-stream',
            'content-length': String(info.size),
          },
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
      return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: renderFolderPage({
          title: `${view.name}: ${shown}`,
          folderPath: new URL(request.url).pathname.replace(/\/+$/, ''),
          children,
          truncated: children.length >= MAX_LISTED,
          key: request.query.get('code') ?? undefined,
        }),
      };
    });
}
