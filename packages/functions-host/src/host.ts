import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  findEntryFiles,
  loadApp,
  readHostJson,
  readLocalSettings,
  resolveSettingRefs,
  type LoadedApp,
} from './runtime/appLoader';
import { startAzurite, type RunningAzurite } from './storage/azurite';
import { parseConnectionString } from './storage/connectionString';
import { openStorage, type LocalStorage, type StoragePorts } from './storage/localStorage';
import { StorageSupervisor } from './storage/storageSupervisor';
import { lockDataDir } from './dataLock';
import { DurableEngine, type EngineStats } from './durable/engine';
import { Journal } from './durable/journal';
import { EnvironmentOverrides } from './runtime/hostEnv';
import { DurableClientUrls, FunctionCalls, internalError } from './runtime/hostInvocations';
import { resolveHostKeys } from './runtime/hostKeys';
import {
  DEFAULT_MAX_REQUEST_BODY_BYTES,
  handleRequest,
  type HostRequestContext,
  type HttpFunction,
} from './runtime/hostRequests';
import { Invoker, triggerBinding } from './runtime/invoker';
import { compileRoute } from './runtime/routes';
import { startTriggers, type RunningTriggers } from './runtime/triggers';
import type { FunctionInfo, HostJson, LogLine } from './runtime/types';
import { acquireSettlementServer, usesServiceBusSdkBinding } from './runtime/serviceBus';

export { DEFAULT_MAX_REQUEST_BODY_BYTES } from './runtime/hostRequests';

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

/** A connection string that names a real account (not the emulator shortcut). */
function namesRealAccount(value: string | undefined): value is string {
  if (!value?.trim()) return false;
  const fields = parseConnectionString(value);
  return (
    fields.get('usedevelopmentstorage')?.toLowerCase() !== 'true' &&
    (fields.has('accountname') || fields.has('blobendpoint'))
  );
}

/** local.settings.json values the environment does not set, then the options' settings over all. */
function applyAppSettings(
  env: EnvironmentOverrides,
  appDir: string,
  settings: Record<string, string> = {},
): void {
  for (const [name, value] of Object.entries(readLocalSettings(appDir)))
    if (process.env[name] === undefined) env.set(name, value);
  for (const [name, value] of Object.entries(settings)) env.set(name, value);
}

interface HostStorage {
  connectionString: string;
  /** The storage this host started, to stop with it. */
  started?: RunningAzurite | LocalStorage | StorageSupervisor;
  /** Our own storage process, watched and started again when it dies. */
  supervisor?: StorageSupervisor;
  info?: LocalHost['storage'];
}

/** The given account, else a real one in AzureWebJobsStorage, else Azurite in memory or persisted. */
async function chooseStorage(options: LocalHostOptions, dataDir: string, log: LogLine): Promise<HostStorage> {
  let connectionString = options.connectionString;
  if (!connectionString && namesRealAccount(process.env.AzureWebJobsStorage))
    connectionString = process.env.AzureWebJobsStorage;
  if (connectionString) return { connectionString };
  if (options.storage === 'memory') {
    const azurite = await startAzurite();
    return { connectionString: azurite.connectionString, started: azurite };
  }
  const folder = path.join(dataDir, 'azurite');
  const storage = await openStorage({ folder, ports: options.storagePorts, log });
  if (storage.origin === 'external') {
    const info = { origin: storage.origin, folder };
    return { connectionString: storage.connectionString, started: storage, info };
  }
  const supervisor = new StorageSupervisor(storage, folder, log);
  supervisor.start();
  // The pid changes when the supervisor starts storage again.
  const info = {
    origin: storage.origin,
    folder,
    get pid() {
      return supervisor.storage.pid;
    },
  };
  return { connectionString: storage.connectionString, started: supervisor, supervisor, info };
}

/** The durable engine over the task hub's journal under dataDir. */
function createEngine(
  hostJson: HostJson,
  dataDir: string,
  app: LoadedApp,
  calls: FunctionCalls,
  log: LogLine,
  quiet: boolean,
  hubName: string,
  storage: StorageSupervisor | undefined,
): { engine: DurableEngine; journal: Journal } {
  const durable = hostJson.extensions?.durableTask;
  const journal = new Journal(
    path.join(dataDir, 'durable', `${hubName.replace(/[^\w-]/g, '_')}.journal.ndjson`),
  );
  const engine = new DurableEngine({
    invoker: calls.invoker,
    registrations: app.registrations,
    maxConcurrentActivities: durable?.maxConcurrentActivityFunctions ?? 10,
    journal,
    log,
    quiet,
    extraInputsFor: (registration) => calls.clientUrls.extraInputsFor(registration),
    appRequire: app.appRequire,
    storage,
  });
  return { engine, journal };
}

function createServer(context: HostRequestContext): http.Server {
  const server = http.createServer((req, res) => {
    handleRequest(context, req, res).catch((error: unknown) => {
      // The path only: a query may carry a key (?code=).
      const where = `HTTP request ${req.method} ${(req.url ?? '').split('?')[0]}`;
      const answer = JSON.stringify({ error: internalError(context.log, where, error) });
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(answer);
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}

/** Listens on 127.0.0.1 and answers the port it got. */
async function listen(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** What a host holds until it stops; each is released when set. */
interface HostResources {
  env: EnvironmentOverrides;
  storage?: RunningAzurite | LocalStorage | StorageSupervisor;
  releaseDataDir?: () => void;
  server?: http.Server;
  releaseSettlement?: () => Promise<void>;
}

function taskHubName(hostJson: HostJson): string {
  const durable = hostJson.extensions?.durableTask;
  return resolveSettingRefs(durable?.hubName ?? process.env.WEBSITE_SITE_NAME ?? 'TestHubName');
}

function requestBodyLimit(options: LocalHostOptions): number {
  return (
    options.maxRequestBodyBytes ??
    (Number(process.env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT) || DEFAULT_MAX_REQUEST_BODY_BYTES)
  );
}

/** host.json's extensions.http.routePrefix (default `api`) without its slashes. */
function httpRoutePrefix(hostJson: HostJson): string {
  return (hostJson.extensions?.http?.routePrefix ?? 'api').replace(/^\/+|\/+$/g, '');
}

/** Stops the triggers, then the engine and the server, then the app, then frees what the host held. */
async function stopHost(
  triggers: RunningTriggers,
  engine: DurableEngine,
  server: http.Server,
  invoker: Invoker,
  held: HostResources,
): Promise<void> {
  await triggers.stop();
  await engine.stop();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  try {
    await invoker.runAppHook('appTerminate');
  } finally {
    await held.releaseSettlement?.();
    await held.storage?.stop();
    held.releaseDataDir?.();
    held.env.restore();
  }
}

async function releaseAfterFailedStart(held: HostResources): Promise<void> {
  held.server?.close();
  await held.releaseSettlement?.();
  await held.storage?.stop();
  held.releaseDataDir?.();
  held.env.restore();
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
  const held: HostResources = { env: new EnvironmentOverrides() };
  try {
    applyAppSettings(held.env, appDir, options.settings);
    const hostJson = readHostJson(appDir);
    findEntryFiles(appDir); // fail before starting storage when "main" matches nothing
    fs.mkdirSync(dataDir, { recursive: true });
    held.releaseDataDir = lockDataDir(dataDir);

    const storage = await chooseStorage(options, dataDir, log);
    held.storage = storage.started;
    const connectionString = storage.connectionString;
    held.env.set('AzureWebJobsStorage', connectionString);

    const app = await loadApp(appDir, (level, category, message) => {
      if (!quiet && level !== 'debug' && level !== 'trace') log(`[${category}] ${message}`);
    });
    const invoker = new Invoker(app, log, quiet);
    // SDK-type Service Bus triggers settle their messages over gRPC on the host.
    if ([...app.registrations.values()].some(usesServiceBusSdkBinding))
      held.releaseSettlement = await acquireSettlementServer(appDir);
    const hubName = taskHubName(hostJson);
    const keys = resolveHostKeys(options.keys);
    const calls = new FunctionCalls(invoker, new DurableClientUrls(hubName, keys.durableSystem));
    const { engine, journal } = createEngine(
      hostJson,
      dataDir,
      app,
      calls,
      log,
      quiet,
      hubName,
      storage.supervisor,
    );

    const bodyLimit = requestBodyLimit(options);
    const routePrefix = httpRoutePrefix(hostJson);
    const httpFunctions = collectHttpFunctions(app);
    const context = { appDir, app, engine, calls, keys, log, bodyLimit, routePrefix, httpFunctions };
    held.server = createServer(context);
    const defaultPort = Number(process.env.FUNCTIONS_HTTPWORKER_PORT ?? '') || 7071;
    const port = await listen(held.server, options.port ?? defaultPort);
    const baseUrl = `http://127.0.0.1:${port}`;
    calls.clientUrls.baseUrl = baseUrl;
    // The durable SDK rewrites management URLs to localhost:7071 unless this names the real origin.
    held.env.set('WEBSITE_HOSTNAME', `127.0.0.1:${port}`);

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
      invoke: (registration, trigger, triggerMetadata, reason) =>
        calls.nonHttp(registration, trigger, triggerMetadata, reason),
    });

    const runningServer = held.server;
    let stopped = false;
    return {
      url: baseUrl,
      connectionString,
      ...(storage.info ? { storage: storage.info } : {}),
      functions,
      stats: () => ({ ...engine.stats(), invocations: calls.count }),
      whenIdle: () => engine.whenIdle(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopHost(triggers, engine, runningServer, invoker, held);
      },
    };
  } catch (error) {
    await releaseAfterFailedStart(held);
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
