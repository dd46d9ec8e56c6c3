import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
  findEntryFiles,
  loadApp,
  readHostJson,
  readLocalSettings,
  resolveSettingRefs,
  type LoadedApp,
} from './appLoader';
import { startAzurite, type RunningAzurite } from './azurite';
import { parseConnectionString } from './connectionString';
import { openStorage, type LocalStorage, type StoragePorts } from './storage';
import { lockDataDir } from './dataLock';
import { durableClientInput, handleDurableApi, type ManagementUrlContext } from './durable/api';
import { DurableEngine, type EngineStats } from './durable/engine';
import { tryJsonParse } from './durable/history';
import { Journal } from './durable/journal';
import { Invoker, triggerBinding } from './invoker';
import { compileRoute, matchRoute, type CompiledRoute } from './routes';
import { startTriggers, type RunningTriggers } from './triggers';
import type { FunctionInfo, LogLine, Registration } from './types';
import { appEnvironments } from './nodeModule';
import { acquireSettlementServer, deliverServiceBusMessage, usesServiceBusSdkBinding } from './serviceBus';

export interface LocalHostOptions {
  /** Folder of the Functions app (package.json with "main", host.json, optional local.settings.json). */
  appDir: string;
  /** 0 picks a free port. Default: local.settings.json Host.LocalHttpPort, else 7071. */
  port?: number;
  /** Journal, blob receipts and persisted Azurite data. Default `<appDir>/.parallel-job`. */
  dataDir?: string;
  /** Azurite in memory or persisted under dataDir (default 'persist'). Durable state is always journaled. */
  storage?: 'memory' | 'persist';
  /**
   * Ports of the persisted storage (default 10000/10001/10002, the emulator's; 0 = any free port, kept
   * for later starts on the same data folder).
   */
  storagePorts?: Partial<StoragePorts>;
  /** Use this storage account instead of starting Azurite. */
  connectionString?: string;
  logger?: LogLine;
  /** No per-invocation and user log lines (start-up errors are still thrown). */
  quiet?: boolean;
  /**
   * Keys enforced for authLevel function/admin, the admin endpoints and the Durable management API. Also
   * read from FUNCTIONS_HOST_FUNCTION_KEY / FUNCTIONS_HOST_MASTER_KEY. None given: every route is open.
   */
  keys?: { function?: string; master?: string };
  /**
   * Largest request body the host reads; larger ones are answered 413 unread. Default: the app setting
   * FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (bytes), else 100 MB, as in the Azure Functions host.
   */
  maxRequestBodyBytes?: number;
  /** Poll interval of blob and queue triggers in ms (default 1000). */
  pollIntervalMs?: number;
  /** App settings for this host's lifetime; they win over the environment and local.settings.json. */
  settings?: Record<string, string>;
}

export interface LocalHostStats extends EngineStats {
  invocations: number;
}

export interface LocalHost {
  /** `http://127.0.0.1:<real port>` */
  url: string;
  connectionString: string;
  /** The persisted storage process, when this host uses one (not with `memory` or a given account). */
  storage?: { origin: LocalStorage['origin']; pid?: number; folder: string };
  functions: FunctionInfo[];
  /** Counters of the durable engine (episodes, events replayed, max history length...). */
  stats(): LocalHostStats;
  /** Resolves when no orchestration episode or activity is running or queued. */
  whenIdle(): Promise<void>;
  stop(): Promise<void>;
}

const adminBodySchema = z.object({
  input: z.unknown().optional(),
  triggerMetadata: z.record(z.string(), z.unknown()).optional(),
});

/** A connection string that names a real account (not the emulator shortcut). */
function namesRealAccount(value: string | undefined): value is string {
  if (!value?.trim()) return false;
  const fields = parseConnectionString(value);
  return (
    fields.get('usedevelopmentstorage')?.toLowerCase() !== 'true' &&
    (fields.has('accountname') || fields.has('blobendpoint'))
  );
}

function headerRecord(headers: http.IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

/** The Azure Functions host's default request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT). */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;

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

/** Equal keys, compared in constant time (hashes first, so lengths do not show either). */
function sameKey(given: string | undefined, key: string | undefined): boolean {
  if (given === undefined || key === undefined) return false;
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(key));
}

/** The key a request presents: `?code=`, `x-functions-key`, or the password of HTTP Basic credentials. */
function presentedKey(req: http.IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers['x-functions-key'];
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const password = basic
    ? Buffer.from(basic[1] as string, 'base64')
        .toString('utf8')
        .split(':')
        .slice(1)
        .join(':')
    : undefined;
  return query.get('code') ?? (Array.isArray(header) ? header[0] : header) ?? (password || undefined);
}

interface HttpFunction {
  registration: Registration;
  route: CompiledRoute;
  methods: string[];
  authLevel: string;
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

/**
 * Starts a Functions host for `appDir` in this process: loads the app, serves HTTP triggers and the
 * Durable HTTP API, runs orchestrations, activities and the other triggers.
 */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const appDir = path.resolve(options.appDir);
  const dataDir = path.resolve(options.dataDir ?? path.join(appDir, '.parallel-job'));
  const quiet = options.quiet ?? false;
  const log: LogLine = options.logger ?? ((line) => console.log(line));
  const environments = appEnvironments();
  const envBackup = new Map<string, (string | undefined)[]>();
  const setEnv = (name: string, value: string): void => {
    if (!envBackup.has(name))
      envBackup.set(
        name,
        environments.map((env) => env[name]),
      );
    for (const env of environments) env[name] = value;
  };
  const restoreEnv = (): void => {
    for (const [name, values] of envBackup) {
      environments.forEach((env, index) => {
        const value = values[index];
        if (value === undefined) delete env[name];
        else env[name] = value;
      });
    }
  };

  let azurite: RunningAzurite | LocalStorage | undefined;
  let storageInfo: LocalHost['storage'];
  let releaseDataDir: (() => void) | undefined;
  let server: http.Server | undefined;
  let releaseSettlement: (() => Promise<void>) | undefined;
  try {
    const settings = readLocalSettings(appDir);
    for (const [name, value] of Object.entries(settings))
      if (process.env[name] === undefined) setEnv(name, value);
    for (const [name, value] of Object.entries(options.settings ?? {})) setEnv(name, value);
    const hostJson = readHostJson(appDir);
    findEntryFiles(appDir); // fail before starting storage when "main" matches nothing
    fs.mkdirSync(dataDir, { recursive: true });
    releaseDataDir = lockDataDir(dataDir);

    let connectionString = options.connectionString;
    if (!connectionString && namesRealAccount(process.env.AzureWebJobsStorage))
      connectionString = process.env.AzureWebJobsStorage;
    if (!connectionString) {
      if (options.storage === 'memory') azurite = await startAzurite();
      else {
        const folder = path.join(dataDir, 'azurite');
        const storage = await openStorage({ folder, ports: options.storagePorts, log });
        storageInfo = { origin: storage.origin, pid: storage.pid, folder };
        azurite = storage;
      }
      connectionString = azurite.connectionString;
    }
    setEnv('AzureWebJobsStorage', connectionString);

    const app = await loadApp(appDir, (level, category, message) => {
      if (!quiet && level !== 'debug' && level !== 'trace') log(`[${category}] ${message}`);
    });
    const invoker = new Invoker(app, log, quiet);
    // SDK-type Service Bus triggers settle their messages over gRPC on the host.
    if ([...app.registrations.values()].some(usesServiceBusSdkBinding))
      releaseSettlement = await acquireSettlementServer(appDir);
    const durable = hostJson.extensions?.durableTask;
    const hubName = resolveSettingRefs(durable?.hubName ?? process.env.WEBSITE_SITE_NAME ?? 'TestHubName');
    const journal = new Journal(
      path.join(dataDir, 'durable', `${hubName.replace(/[^\w-]/g, '_')}.journal.ndjson`),
    );
    const engine = new DurableEngine({
      invoker,
      registrations: app.registrations,
      maxConcurrentActivities: durable?.maxConcurrentActivityFunctions ?? 10,
      journal,
      log,
      quiet,
      extraInputsFor: (registration) => extraInputsFor(registration),
    });

    // Key rules as in Azure: function-level routes take a function key or the master key, the admin
    // routes the master key, the Durable management API the Durable extension's system key
    // (durabletask_extension) or the master key. Azure serves the app's own Durable client calls
    // (/durabletask/) on the worker's loopback only; here they share the public port, so they are keyed
    // like the webhooks, and the app's client carries the system key as HTTP Basic credentials in its
    // base URL (the SDK adds no query or header to those calls). With keys set and no master key given, a
    // random one stands in, so the admin routes are never the open ones.
    const functionKey = options.keys?.function ?? process.env.FUNCTIONS_HOST_FUNCTION_KEY;
    const masterKey = options.keys?.master ?? process.env.FUNCTIONS_HOST_MASTER_KEY;
    const keyed = !!(functionKey || masterKey);
    const keys = {
      function: functionKey || undefined,
      master: masterKey || (keyed ? randomBytes(32).toString('hex') : undefined),
      durableSystem: keyed ? randomBytes(32).toString('hex') : undefined,
    };
    const bodyLimit =
      options.maxRequestBodyBytes ??
      (Number(process.env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT) || DEFAULT_MAX_REQUEST_BODY_BYTES);
    const routePrefix = (hostJson.extensions?.http?.routePrefix ?? 'api').replace(/^\/+|\/+$/g, '');
    const httpFunctions = collectHttpFunctions(app);
    let invocations = 0;
    let baseUrl = '';
    const urlContext = (): ManagementUrlContext => ({
      webhookBase: `${baseUrl}/runtime/webhooks/durabletask`,
      hubName,
      connectionName: 'Storage',
      code: keys.durableSystem,
    });
    const rpcBaseUrl = (): string => {
      if (!keys.durableSystem) return `${baseUrl}/durabletask/`;
      const url = new URL('/durabletask/', baseUrl);
      url.username = 'durabletask';
      url.password = keys.durableSystem;
      return url.href;
    };
    const extraInputsFor = (registration: Registration): Record<string, unknown> => {
      const inputs: Record<string, unknown> = {};
      for (const [name, binding] of Object.entries(registration.metadata.bindings)) {
        if (
          binding.direction === 'in' &&
          (binding.type === 'durableClient' || binding.type === 'orchestrationClient')
        ) {
          inputs[name] = durableClientInput(urlContext(), rpcBaseUrl());
        }
      }
      return inputs;
    };
    const invokeNonHttp = async (
      registration: Registration,
      trigger: unknown,
      triggerMetadata: Record<string, unknown> | undefined,
      reason: string,
    ): Promise<unknown> => {
      invocations += 1;
      const { result } = await invoker.invoke({
        registration,
        trigger,
        triggerMetadata,
        extraInputs: extraInputsFor(registration),
        reason,
      });
      return result;
    };

    const authorized = (
      /** anonymous, function, admin (master key only), system (Durable API: system or master key). */
      level: string,
      req: http.IncomingMessage,
      query: URLSearchParams,
    ): boolean => {
      if (level === 'anonymous' || !keyed) return true;
      const given = presentedKey(req, query);
      if (sameKey(given, keys.master)) return true;
      if (level === 'system') return sameKey(given, keys.durableSystem);
      if (level === 'admin') return false;
      return sameKey(given, keys.function);
    };

    /** A fault of the host or of the function: an id for the caller, the details for the log. */
    const internalError = (
      where: string,
      error: unknown,
    ): { code: string; message: string; error_id: string } => {
      const errorId = randomUUID();
      log(`${where} failed, error id ${errorId}: ${(error as Error)?.stack ?? String(error)}`);
      return {
        code: 'INTERNAL',
        message: `The request failed (error id ${errorId}); the details are in the host's log.`,
        error_id: errorId,
      };
    };

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      const url = new URL(req.url ?? '/', baseUrl);
      const pathname = url.pathname;
      const method = (req.method ?? 'GET').toUpperCase();
      const send = (status: number, payload?: unknown, headers: Record<string, string> = {}): void => {
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
      const body = await readBody(req, bodyLimit);
      if (body === 'too-large') {
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
            message: `Request bodies may be at most ${bodyLimit} bytes (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).`,
          },
        });
      }

      for (const prefix of ['/durabletask/', '/runtime/webhooks/durabletask/']) {
        if (pathname.startsWith(prefix)) {
          if (!authorized('system', req, url.searchParams)) return send(401);
          const reply = handleDurableApi(
            engine,
            {
              method,
              path: pathname.slice(prefix.length),
              query: url.searchParams,
              headers: req.headers,
              body: body.toString('utf8'),
            },
            urlContext(),
          );
          return send(reply.status, reply.body, reply.headers);
        }
      }

      const admin = /^\/admin\/functions\/([^/]+)\/?$/.exec(pathname);
      if (admin) {
        if (method !== 'POST') return send(405);
        if (!authorized('admin', req, url.searchParams)) return send(401);
        const name = decodeURIComponent(admin[1] as string);
        const registration = [...app.registrations.values()].find(
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
              appDir,
              registration,
              input: raw,
              triggerMetadata: parsed.data.triggerMetadata,
              invoke: (trigger, triggerMetadata) =>
                invokeNonHttp(
                  registration,
                  trigger,
                  triggerMetadata,
                  'This function was programmatically called via the host APIs.',
                ),
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
          await invokeNonHttp(
            registration,
            trigger,
            parsed.data.triggerMetadata,
            'This function was programmatically called via the host APIs.',
          );
          return send(202);
        } catch (error) {
          return send(500, { error: internalError(`Function '${registration.metadata.name}'`, error) });
        }
      }

      if (pathname === '/admin/host/status' && !authorized('admin', req, url.searchParams)) return send(401);
      if (pathname === '/' || pathname === '/admin/host/status') {
        return send(200, { state: 'Running', version: '4.x-local', functions: app.registrations.size });
      }
      if (pathname.startsWith('/admin/')) return send(authorized('admin', req, url.searchParams) ? 404 : 401);

      const prefix = routePrefix ? `/${routePrefix}` : '';
      if (
        pathname.toLowerCase().startsWith(prefix.toLowerCase() + '/') ||
        (prefix === '' && pathname.startsWith('/'))
      ) {
        const rest = pathname.slice(prefix.length);
        let methodMismatch = false;
        for (const fn of httpFunctions) {
          const params = matchRoute(fn.route, rest);
          if (!params) continue;
          if (!fn.methods.includes(method)) {
            methodMismatch = true;
            continue;
          }
          if (!authorized(fn.authLevel, req, url.searchParams)) return send(401);
          return invokeHttp(fn, req, url, params, body, res);
        }
        if (methodMismatch) return send(405);
      }
      return send(404);
    };

    const invokeHttp = async (
      fn: HttpFunction,
      req: http.IncomingMessage,
      url: URL,
      params: Record<string, string>,
      body: Buffer,
      res: http.ServerResponse,
    ): Promise<void> => {
      invocations += 1;
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
          extraInputs: extraInputsFor(fn.registration),
          reason: `This function was programmatically called via the host APIs.`,
        }));
      } catch (error) {
        const answer = JSON.stringify({
          error: internalError(`Function '${fn.registration.metadata.name}'`, error),
        });
        res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' }).end(answer);
        return;
      }
      const options = invoker.bindingOptions(fn.registration);
      if (options.return?.type !== 'http') {
        const output = options.extraOutputs.find((binding) => binding.type === 'http');
        if (output) result = context.extraOutputs.get(output.name);
      }
      const response: ResponseLike = isResponseLike(result)
        ? result
        : new invoker.lib.HttpResponse(result ?? {});
      const headers: Record<string, string | string[]> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const cookies = (response.cookies ?? []).map(
        (cookie) =>
          `${cookie.name}=${cookie.value}${cookie.path ? `; Path=${cookie.path}` : ''}${cookie.maxAge !== undefined ? `; Max-Age=${cookie.maxAge}` : ''}${cookie.httpOnly ? '; HttpOnly' : ''}${cookie.secure ? '; Secure' : ''}`,
      );
      if (cookies.length > 0) headers['set-cookie'] = cookies;
      const payload = Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, headers).end(payload);
    };

    server = http.createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        // The path only: a query may carry a key (?code=).
        const where = `HTTP request ${req.method} ${(req.url ?? '').split('?')[0]}`;
        const answer = JSON.stringify({ error: internalError(where, error) });
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(answer);
      });
    });
    server.keepAliveTimeout = 5_000;
    const defaultPort = Number(process.env.FUNCTIONS_HTTPWORKER_PORT ?? '') || 7071;
    const listenPort = options.port ?? defaultPort;
    await new Promise<void>((resolve, reject) => {
      const pending = server as http.Server;
      pending.once('error', reject);
      pending.listen(listenPort, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    baseUrl = `http://127.0.0.1:${port}`;
    // The durable SDK rewrites management URLs to localhost:7071 unless this names the real origin.
    setEnv('WEBSITE_HOSTNAME', `127.0.0.1:${port}`);

    await invoker.runAppHook('appStart');
    const resumed = engine.recover();
    if (resumed > 0 && !quiet)
      log(`Resuming ${resumed} unfinished orchestration instance(s) from ${journal.file}`);
    const functions = describeFunctions(app, httpFunctions, baseUrl, routePrefix);
    const triggers: RunningTriggers = startTriggers({
      app,
      hostJson,
      dataDir,
      connectionString,
      log,
      quiet,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      invoke: invokeNonHttp,
    });

    const runningServer = server;
    let stopped = false;
    return {
      url: baseUrl,
      connectionString,
      ...(storageInfo ? { storage: storageInfo } : {}),
      functions,
      stats: () => ({ ...engine.stats(), invocations }),
      whenIdle: () => engine.whenIdle(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await triggers.stop();
        await engine.stop();
        await new Promise<void>((resolve) => {
          runningServer.close(() => resolve());
          runningServer.closeAllConnections();
        });
        try {
          await invoker.runAppHook('appTerminate');
        } finally {
          await releaseSettlement?.();
          await azurite?.stop();
          releaseDataDir?.();
          restoreEnv();
        }
      },
    };
  } catch (error) {
    server?.close();
    await releaseSettlement?.();
    await azurite?.stop();
    releaseDataDir?.();
    restoreEnv();
    throw error;
  }
}

function collectHttpFunctions(app: LoadedApp): HttpFunction[] {
  const result: HttpFunction[] = [];
  for (const registration of app.registrations.values()) {
    const trigger = triggerBinding(registration);
    if (trigger.type !== 'httpTrigger') continue;
    const methods = Array.isArray(trigger.methods)
      ? (trigger.methods as string[]).map((m) => m.toUpperCase())
      : ['GET', 'POST'];
    const route =
      typeof trigger.route === 'string' && trigger.route ? trigger.route : registration.metadata.name;
    result.push({
      registration,
      route: compileRoute(route),
      methods,
      authLevel: typeof trigger.authLevel === 'string' ? trigger.authLevel.toLowerCase() : 'anonymous',
    });
  }
  return result.sort((a, b) => b.route.precedence - a.route.precedence);
}

function describeFunctions(
  app: LoadedApp,
  httpFunctions: HttpFunction[],
  baseUrl: string,
  routePrefix: string,
): FunctionInfo[] {
  const prefix = routePrefix ? `/${routePrefix}` : '';
  return [...app.registrations.values()]
    .map((registration): FunctionInfo => {
      const trigger = triggerBinding(registration);
      const fn = httpFunctions.find((candidate) => candidate.registration === registration);
      if (fn) {
        return {
          name: registration.metadata.name,
          trigger: trigger.type,
          url: `${baseUrl}${prefix}/${fn.route.template}`,
          methods: fn.methods,
          authLevel: fn.authLevel,
          detail: fn.route.template,
        };
      }
      const detail =
        (typeof trigger.queueName === 'string' ? resolveSettingRefs(trigger.queueName) : undefined) ??
        (typeof trigger.topicName === 'string'
          ? `${trigger.topicName}/${String(trigger.subscriptionName)}`
          : undefined) ??
        (trigger.path as string | undefined) ??
        (trigger.schedule as string | undefined);
      return { name: registration.metadata.name, trigger: trigger.type, ...(detail ? { detail } : {}) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Lines like `func start` prints: `Name: [GET,POST] http://...` or `Name: queueTrigger (q1)`. */
export function formatFunctionList(functions: FunctionInfo[]): string[] {
  const lines = ['Functions:', ''];
  for (const fn of functions) {
    if (fn.url) lines.push(`        ${fn.name}: [${(fn.methods ?? []).join(',')}] ${fn.url}`);
    else lines.push(`        ${fn.name}: ${fn.trigger}${fn.detail ? ` (${fn.detail})` : ''}`);
  }
  return lines;
}
