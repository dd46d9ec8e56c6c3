import type { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import type { AppServices } from '../../composition';
import { JobNotFoundError, JobStateError } from '../../errors';
import { specToYaml } from '../../job/dump';
import type { JobSpec } from '../../job/schema';
import { Events, rootInputSchema } from '../../orchestration/contracts';
import { rerunJob, submitJob } from '../../submit/submit';
import { getJobView } from '../status';
import { handle, json } from './answers';
import { listJobs } from './jobList';
import { jobIdParam, jobLinks, origin, specBody } from './requests';

/**
 * The job routes: submit (`POST /api/jobs`), list (`GET /api/jobs`), get, cancel, re-run, the spec and
 * the mini-batch report of one job (`/api/jobs/{id}[/...]`).
 */

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
      const view = await getJobView(client, services.reads, submitted.jobId, origin(request)).catch(
        () => undefined,
      );
      return json(submitted.created ? 202 : 200, {
        id: submitted.jobId,
        created: submitted.created,
        warnings: submitted.warnings,
        job: view,
        ...jobLinks(request, submitted.jobId),
      });
    });
}

export function listHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const { jobs, next } = await listJobs(request, client, appServices());
      return json(200, { jobs, next: next ? `${origin(request)}/api/jobs?${next}` : undefined });
    });
}

export function getHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () =>
      json(200, await getJobView(client, appServices().reads, jobIdParam(request), origin(request))),
    );
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
      return json(202, { id, status: 'CancelRequested', ...jobLinks(request, id) });
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
        ...jobLinks(request, submitted.jobId),
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

/**
 * `GET /api/jobs/{id}/mini-batches`: the job's mini-batches by state in bands, and its final failures by
 * code (miniBatchReportSchema). The status page renders the same report, read through the same cache.
 */
export function miniBatchesHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const { reads } = appServices();
      // The report needs the job's status and errors, not its running counters.
      const view = await getJobView(
        client,
        { ...reads, liveCounters: false },
        jobIdParam(request),
        origin(request),
      );
      return json(200, await reads.reports.get(view));
    });
}
