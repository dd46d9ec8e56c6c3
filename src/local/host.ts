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
  /** Keys enforced for authLevel function/admin. Also read from FUNCTIONS_HOST_FUNCTION_KEY / FUNCTIONS_HOST_MASTER_KEY. */
  keys?: { function?: string; master?: string };
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

const DEV_STORAGE = 'UseDevelopmentStorage=true';

/** A connection string that names a real account (not the emulator shortcut). */
function namesRealAccount(value: string | undefined): value is string {
  return (
    !!value &&
    value.trim() !== '' &&
    !value.includes(DEV_STORAGE) &&
    /AccountName=|BlobEndpoint=/i.test(value)
  );
}

function headerRecord(headers: http.IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
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

    const keys = {
      function: options.keys?.function ?? process.env.FUNCTIONS_HOST_FUNCTION_KEY,
      master: options.keys?.master ?? process.env.FUNCTIONS_HOST_MASTER_KEY,
    };
    const routePrefix = (hostJson.extensions?.http?.routePrefix ?? 'api').replace(/^\/+|\/+$/g, '');
    const httpFunctions = collectHttpFunctions(app);
    let invocations = 0;
    let baseUrl = '';
    const urlContext = (): ManagementUrlContext => ({
      webhookBase: `${baseUrl}/runtime/webhooks/durabletask`,
      hubName,
      connectionName: 'Storage',
      code: keys.master,
    });
    const extraInputsFor = (registration: Registration): Record<string, unknown> => {
      const inputs: Record<string, unknown> = {};
      for (const [name, binding] of Object.entries(registration.metadata.bindings)) {
        if (
          binding.direction === 'in' &&
          (binding.type === 'durableClient' || binding.type === 'orchestrationClient')
        ) {
          inputs[name] = durableClientInput(urlContext(), `${baseUrl}/durabletask/`);
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

    const authorized = (level: string, req: http.IncomingMessage, query: URLSearchParams): boolean => {
      const given = query.get('code') ?? (req.headers['x-functions-key'] as string | undefined);
      if (level === 'anonymous') return true;
      if (level === 'admin') return !keys.master || given === keys.master;
      if (!keys.function && !keys.master) return true;
      return given !== undefined && (given === keys.function || given === keys.master);
    };

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
      const url = new URL(req.url ?? '/', baseUrl);
      const pathname = url.pathname;
      const method = (req.method ?? 'GET').toUpperCase();
      const body = await readBody(req);
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

      for (const [prefix, needsKey] of [
        ['/durabletask/', false],
        ['/runtime/webhooks/durabletask/', true],
      ] as const) {
        if (pathname.startsWith(prefix)) {
          if (needsKey && !authorized('admin', req, url.searchParams)) return send(401);
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
          return send(500, { message: (error as Error)?.message ?? String(error) });
        }
      }

      if (pathname === '/' || pathname === '/admin/host/status') {
        return send(200, { state: 'Running', version: '4.x-local', functions: app.registrations.size });
      }

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
      } catch {
        res.writeHead(500).end();
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
        log(`HTTP request ${req.method} ${req.url} failed: ${(error as Error)?.stack ?? String(error)}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
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
