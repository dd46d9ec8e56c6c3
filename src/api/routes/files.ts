import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppServices } from '../../composition';
import { JobFileNotFoundError } from '../../errors';
import type { InputLocation } from '../../plan/descriptor';
import { blobPathProblem, sameAccount } from '../../storage/access';
import { resolveInputLocation } from '../../storage/inputs';
import { jobFolder } from '../../storage/layout';
import { checkJobId } from '../../submit/ids';
import { linkSecret, signLink, verifyLink, type LinkTarget } from '../links';
import { renderFolderPage } from '../pages/folderPage';
import { fileHeaders, pageHeaders } from '../serving';
import { getJobView } from '../status';
import { handle } from './answers';
import { jobIdParam, origin } from './requests';

/**
 * A job's files: `GET /api/jobs/{id}/files/...` with a function key, and `GET /api/download/{token}` by
 * a signed link (the status page's links); and those links.
 */

/** The API's URL path prefix (`/api`), from a request to one of its routes, so links work behind any host. */
function apiPath(request: HttpRequest, route: '/jobs/' | '/download/'): string {
  const pathname = new URL(request.url).pathname;
  return pathname.slice(0, Math.max(0, pathname.indexOf(route)));
}

/** Builds signed download links (`GET <api>/download/{token}`) for one job's files. */
export function downloadLinks(services: AppServices, request: HttpRequest, route: '/jobs/' | '/download/') {
  const secret = linkSecret(services.settings.PARALLEL_JOB_LINK_SECRET);
  const base = `${apiPath(request, route)}/download/`;
  return (target: LinkTarget): string => `${base}${signLink(secret, target)}`;
}

/** Why the app does not serve this place as one of the job's files, or undefined when it does. */
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
  // The job's outputs and log files, not its running counters.
  const view = await getJobView(client, { ...services.reads, liveCounters: false }, id, origin(request));
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
