import type { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import type { AppServices } from '../../composition';
import { ParallelJobError } from '../../errors';
import { renderJobsPage } from '../pages/jobsPage';
import { renderStatusPage } from '../pages/statusPage';
import { pageHeaders, scriptNonce } from '../serving';
import { getJobView } from '../status';
import type { MiniBatchReport } from '../wire';
import { handle } from './answers';
import { downloadLinks } from './files';
import { listJobs, statusFilter } from './jobList';
import { jobIdParam, origin } from './requests';

/** The pages, for people: the jobs page and a job's status page, each served with its script's nonce. */

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

/** How long the status page waits for the mini-batch report before it is served without it. */
const PAGE_WAITS_FOR_REPORT_MS = 2000;
const delay = (ms: number): Promise<undefined> =>
  new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());

/** The status page (`GET /api/jobs/{id}/view`), with signed links to the job's files. */
export function viewHandler(appServices: () => AppServices) {
  return (request: HttpRequest, client: DurableClient, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      const view = await getJobView(client, services.reads, jobIdParam(request), origin(request));
      const link = downloadLinks(services, request, '/jobs/');
      let miniBatches: MiniBatchReport | string | undefined;
      try {
        // A large job's first listing takes seconds: the page does not wait for it (it keeps going, and
        // the page's next refresh finds it kept).
        const reading = services.reads.reports.get(view);
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
