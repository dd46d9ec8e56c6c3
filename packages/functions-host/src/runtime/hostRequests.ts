import type http from 'node:http';
import { z } from 'zod';
import type { LoadedApp } from './appLoader';
import { handleDurableApi } from '../durable/api';
import type { DurableEngine } from '../durable/engine';
import { tryJsonParse } from '../durable/history';
import { isAuthorized, type HostKeys } from './hostKeys';
import { internalError, type FunctionCalls } from './hostInvocations';
import { triggerBinding } from './invoker';
import { matchRoute, type CompiledRoute } from './routes';
import { deliverServiceBusMessage, usesServiceBusSdkBinding } from './serviceBus';
import type { LogLine, Registration } from './types';

export interface HttpFunction {
  registration: Registration;
  route: CompiledRoute;
  methods: string[];
  authLevel: string;
}

/** What the request handlers of a host share. */
export interface HostRequestContext {
  appDir: string;
  app: LoadedApp;
  engine: DurableEngine;
  calls: FunctionCalls;
  keys: HostKeys;
  log: LogLine;
  bodyLimit: number;
  routePrefix: string;
  httpFunctions: HttpFunction[];
}

/** The Azure Functions host's default request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT). */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;

const adminBodySchema = z.object({
  input: z.unknown().optional(),
  triggerMetadata: z.record(z.string(), z.unknown()).optional(),
});

type Send = (status: number, payload?: unknown, headers?: Record<string, string>) => void;

/** One request as the routes see it. */
interface RoutedRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  pathname: string;
  method: string;
  body: Buffer;
  send: Send;
}

interface ResponseLike {
  status: number;
  headers: Headers;
  cookies?: {
    name: string;
    value: string;
    path?: string;
    maxAge?: number;
    httpOnly?: boolean;
    secure?: boolean;
  }[];
  arrayBuffer(): Promise<ArrayBuffer>;
}

function isResponseLike(value: unknown): value is ResponseLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ResponseLike).arrayBuffer === 'function' &&
    typeof (value as ResponseLike).status === 'number'
  );
}

function headerRecord(headers: http.IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

/**
 * The body, or 'too-large' as soon as it is known to pass `limit`: from Content-Length before anything
 * is read, else when the chunks read so far pass it. Reading then stops (the stream is paused).
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? '');
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      done();
      reject(error);
    };
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

function sender(res: http.ServerResponse): Send {
  return (status, payload, headers = {}) => {
    if (payload === undefined) {
      res.writeHead(status, headers).end();
      return;
    }
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    res.writeHead(status, {
      'Content-Type':
        typeof payload === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      ...headers,
    });
    res.end(text);
  };
}

function answerTooLarge(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  send: Send,
  limit: number,
): void {
  // Answered without reading the rest. Then nothing more is read: the answer goes out with a FIN,
  // and the socket is destroyed a moment later (at once, unread data would turn the close into a
  // reset that can discard the answer before the client reads it).
  res.once('finish', () => {
    const socket = req.socket;
    socket.pause();
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  return send(413, {
    error: {
      code: 'REQUEST_TOO_LARGE',
      message: `Request bodies may be at most ${limit} bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).`,
    },
  });
}

/** Serves one request: the Durable API, the admin endpoints, the host status, then the HTTP triggers. */
export async function handleRequest(
  host: HostRequestContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', host.calls.clientUrls.baseUrl);
  const pathname = url.pathname;
  const method = (req.method ?? 'GET').toUpperCase();
  const send = sender(res);
  const body = await readBody(req, host.bodyLimit);
  if (body === 'too-large') return answerTooLarge(req, res, send, host.bodyLimit);
  const request: RoutedRequest = { req, res, url, pathname, method, body, send };

  if (routeDurableApi(host, request)) return;
  const admin = /^\/admin\/functions\/([^/]+)\/?$/.exec(pathname);
  if (admin) return routeAdminInvocation(host, request, decodeURIComponent(admin[1] as string));
  if (routeHostStatus(host, request)) return;
  return routeHttpTrigger(host, request);
}

function routeDurableApi(host: HostRequestContext, request: RoutedRequest): boolean {
  const { req, url, pathname, method, body, send } = request;
  for (const prefix of ['/durabletask/', '/runtime/webhooks/durabletask/']) {
    if (pathname.startsWith(prefix)) {
      if (!isAuthorized(host.keys, 'system', req, url.searchParams)) {
        send(401);
        return true;
      }
      const reply = handleDurableApi(
        host.engine,
        {
          method,
          path: pathname.slice(prefix.length),
          query: url.searchParams,
          headers: req.headers,
          body: body.toString('utf8'),
        },
        host.calls.clientUrls.managementContext(),
      );
      send(reply.status, reply.body, reply.headers);
      return true;
    }
  }
  return false;
}

const ADMIN_REASON = 'This function was programmatically called via the host APIs.';

/** POST /admin/functions/<name>: delivers an input to a non-HTTP, non-durable function. */
async function routeAdminInvocation(
  host: HostRequestContext,
  request: RoutedRequest,
  name: string,
): Promise<void> {
  const { req, url, method, body, send } = request;
  if (method !== 'POST') return send(405);
  if (!isAuthorized(host.keys, 'admin', req, url.searchParams)) return send(401);
  const registration = [...host.app.registrations.values()].find(
    (r) => r.metadata.name.toLowerCase() === name.toLowerCase(),
  );
  if (!registration) return send(404, { message: `No function named '${name}'.` });
  const type = triggerBinding(registration).type;
  if (['httpTrigger', 'orchestrationTrigger', 'activityTrigger', 'entityTrigger'].includes(type)) {
    return send(400, {
      message: `'${name}' has a ${type}; the admin endpoint delivers only to non-HTTP, non-durable functions.`,
    });
  }
  const parsed = adminBodySchema.safeParse(tryJsonParse(body.toString('utf8') || '{}'));
  if (!parsed.success)
    return send(400, {
      message: 'Body must be {"input": <string or JSON>, "triggerMetadata"?: {...}}.',
    });
  const raw = parsed.data.input;
  if (type === 'serviceBusTrigger' && usesServiceBusSdkBinding(registration)) {
    // Answers how the function settled the message instead of only whether it ran.
    try {
      const outcome = await deliverServiceBusMessage({
        appDir: host.appDir,
        registration,
        input: raw,
        triggerMetadata: parsed.data.triggerMetadata,
        invoke: (trigger, triggerMetadata) =>
          host.calls.nonHttp(registration, trigger, triggerMetadata, ADMIN_REASON),
      });
      return send(202, outcome);
    } catch (error) {
      return send(400, { message: (error as Error)?.message ?? String(error) });
    }
  }
  let trigger: unknown = typeof raw === 'string' ? tryJsonParse(raw) : raw;
  if (type === 'blobTrigger')
    trigger = Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw ?? null));
  try {
    await host.calls.nonHttp(registration, trigger, parsed.data.triggerMetadata, ADMIN_REASON);
    return send(202);
  } catch (error) {
    return send(500, { error: internalError(host.log, `Function '${registration.metadata.name}'`, error) });
  }
}

/** `/` and /admin/host/status, and the other /admin/ paths (none: 404 to the master key). */
function routeHostStatus(host: HostRequestContext, request: RoutedRequest): boolean {
  const { req, url, pathname, send } = request;
  if (pathname === '/admin/host/status' && !isAuthorized(host.keys, 'admin', req, url.searchParams)) {
    send(401);
    return true;
  }
  if (pathname === '/' || pathname === '/admin/host/status') {
    send(200, { state: 'Running', version: '4.x-local', functions: host.app.registrations.size });
    return true;
  }
  if (pathname.startsWith('/admin/')) {
    send(isAuthorized(host.keys, 'admin', req, url.searchParams) ? 404 : 401);
    return true;
  }
  return false;
}

/** The HTTP trigger whose route and method match, else 405 (route only) or 404. */
async function routeHttpTrigger(host: HostRequestContext, request: RoutedRequest): Promise<void> {
  const { req, res, url, pathname, method, body, send } = request;
  const prefix = host.routePrefix ? `/${host.routePrefix}` : '';
  if (
    pathname.toLowerCase().startsWith(prefix.toLowerCase() + '/') ||
    (prefix === '' && pathname.startsWith('/'))
  ) {
    const rest = pathname.slice(prefix.length);
    let methodMismatch = false;
    for (const fn of host.httpFunctions) {
      const params = matchRoute(fn.route, rest);
      if (!params) continue;
      if (!fn.methods.includes(method)) {
        methodMismatch = true;
        continue;
      }
      if (!isAuthorized(host.keys, fn.authLevel, req, url.searchParams)) return send(401);
      return invokeHttp(host, fn, req, url, params, body, res);
    }
    if (methodMismatch) return send(405);
  }
  return send(404);
}

function setCookieValue(cookie: NonNullable<ResponseLike['cookies']>[number]): string {
  return `${cookie.name}=${cookie.value}${cookie.path ? `; Path=${cookie.path}` : ''}${cookie.maxAge !== undefined ? `; Max-Age=${cookie.maxAge}` : ''}${cookie.httpOnly ? '; HttpOnly' : ''}${cookie.secure ? '; Secure' : ''}`;
}

async function invokeHttp(
  host: HostRequestContext,
  fn: HttpFunction,
  req: http.IncomingMessage,
  url: URL,
  params: Record<string, string>,
  body: Buffer,
  res: http.ServerResponse,
): Promise<void> {
  const { invoker, clientUrls } = host.calls;
  host.calls.count += 1;
  const request = new invoker.lib.HttpRequest({
    method: (req.method ?? 'GET').toUpperCase(),
    url: url.toString(),
    headers: headerRecord(req.headers),
    query: Object.fromEntries(url.searchParams),
    params,
    body: body.length > 0 ? { bytes: body } : undefined,
  });
  let result: unknown;
  let context;
  try {
    ({ result, context } = await invoker.invoke({
      registration: fn.registration,
      trigger: request,
      extraInputs: clientUrls.extraInputsFor(fn.registration),
      reason: `This function was programmatically called via the host APIs.`,
    }));
  } catch (error) {
    const answer = JSON.stringify({
      error: internalError(host.log, `Function '${fn.registration.metadata.name}'`, error),
    });
    res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' }).end(answer);
    return;
  }
  const options = invoker.bindingOptions(fn.registration);
  if (options.return?.type !== 'http') {
    const output = options.extraOutputs.find((binding) => binding.type === 'http');
    if (output) result = context.extraOutputs.get(output.name);
  }
  const response: ResponseLike = isResponseLike(result) ? result : new invoker.lib.HttpResponse(result ?? {});
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const cookies = (response.cookies ?? []).map(setCookieValue);
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const payload = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, headers).end(payload);
}
