import { z } from 'zod';
import { EventType, EventTypeName, parseJsonText, type HistoryEvent } from './history';
import {
  InstanceExistsError,
  UnknownOrchestratorError,
  type DurableEngine,
  type PublicStatus,
} from './engine';

export interface ApiRequest {
  method: string;
  /** Path below the API base, e.g. `instances/abc/raiseEvent/Approve`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface ManagementUrlContext {
  /** `http://127.0.0.1:<port>/runtime/webhooks/durabletask` */
  webhookBase: string;
  hubName: string;
  connectionName: string;
  /** System key appended as `code=` when keys are configured. */
  code?: string;
}

const PAGE_SIZE = 100;
const statusSchema = z.enum([
  'Pending',
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Terminated',
  'Suspended',
]);

/** .NET `ToString("s") + "Z"`: no fractional seconds. */
function formatTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

export function managementUrls(context: ManagementUrlContext, instanceId: string): Record<string, string> {
  const suffix = `taskHub=${encodeURIComponent(context.hubName)}&connection=${encodeURIComponent(context.connectionName)}${context.code ? `&code=${encodeURIComponent(context.code)}` : ''}`;
  const base = `${context.webhookBase}/instances/${instanceId}`;
  return {
    id: instanceId,
    statusQueryGetUri: `${base}?${suffix}`,
    sendEventPostUri: `${base}/raiseEvent/{eventName}?${suffix}`,
    terminatePostUri: `${base}/terminate?reason={text}&${suffix}`,
    rewindPostUri: `${base}/rewind?reason={text}&${suffix}`,
    purgeHistoryDeleteUri: `${base}?${suffix}`,
    restartPostUri: `${base}/restart?${suffix}`,
    suspendPostUri: `${base}/suspend?reason={text}&${suffix}`,
    resumePostUri: `${base}/resume?reason={text}&${suffix}`,
  };
}

/** The durableClient input binding value (§4.1 of the reference). */
export function durableClientInput(
  context: ManagementUrlContext,
  rpcBaseUrl: string,
): Record<string, unknown> {
  const code = context.code ? `?code=${encodeURIComponent(context.code)}` : '';
  const codeAnd = context.code ? `&code=${encodeURIComponent(context.code)}` : '';
  return {
    taskHubName: context.hubName,
    creationUrls: {
      createNewInstancePostUri: `${context.webhookBase}/orchestrators/{functionName}[/{instanceId}]${code}`,
      createAndWaitOnNewInstancePostUri: `${context.webhookBase}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}${codeAnd}`,
    },
    managementUrls: managementUrls(context, 'INSTANCEID'),
    baseUrl: context.webhookBase,
    requiredQueryStringParameters: context.code ? `code=${encodeURIComponent(context.code)}` : '',
    rpcBaseUrl,
  };
}

function historyForStatus(history: HistoryEvent[], showOutput: boolean): Record<string, unknown>[] {
  const scheduled = new Map<number, HistoryEvent>();
  const result: Record<string, unknown>[] = [];
  for (const event of history) {
    const type = event.EventType;
    if (type === EventType.OrchestratorStarted || type === EventType.OrchestratorCompleted) continue;
    if (type === EventType.TaskScheduled || type === EventType.SubOrchestrationInstanceCreated) {
      scheduled.set(event.EventId, event);
      continue;
    }
    const { EventType: _type, EventId: _id, IsPlayed: _played, Timestamp, ...fields } = event;
    const item: Record<string, unknown> = {
      EventType: EventTypeName[type] ?? String(type),
      Timestamp,
      ...fields,
    };
    if (type === EventType.ExecutionStarted) item.FunctionName = event.Name;
    if (typeof event.TaskScheduledId === 'number') {
      const origin = scheduled.get(event.TaskScheduledId);
      if (origin) {
        item.FunctionName = origin.Name;
        item.ScheduledTime = origin.Timestamp;
        if (origin.InstanceId) item.InstanceId = origin.InstanceId;
      }
    }
    if (!showOutput) delete item.Result;
    result.push(item);
  }
  return result;
}

function statusPayload(
  engine: DurableEngine,
  instanceId: string,
  options: { showInput: boolean; showHistory: boolean; showHistoryOutput: boolean },
): Record<string, unknown> | undefined {
  const instance = engine.getInstance(instanceId);
  if (!instance) return undefined;
  const payload: Record<string, unknown> = {
    name: instance.name,
    instanceId: instance.instanceId,
    runtimeStatus: engine.publicStatus(instance),
    input: options.showInput ? parseJsonText(instance.input) : null,
    customStatus: parseJsonText(instance.customStatus),
    output: parseJsonText(instance.output),
    createdTime: formatTime(instance.createdTime),
    lastUpdatedTime: formatTime(instance.lastUpdatedTime),
  };
  if (options.showHistory)
    payload.historyEvents = historyForStatus(instance.history, options.showHistoryOutput);
  return payload;
}

function parseFilter(query: URLSearchParams): { from?: Date; to?: Date; statuses?: PublicStatus[] } | string {
  const filter: { from?: Date; to?: Date; statuses?: PublicStatus[] } = {};
  const from = query.get('createdTimeFrom');
  const to = query.get('createdTimeTo');
  if (from) filter.from = new Date(from);
  if (to) filter.to = new Date(to);
  if ((filter.from && isNaN(filter.from.getTime())) || (filter.to && isNaN(filter.to.getTime()))) {
    return 'createdTimeFrom and createdTimeTo must be ISO 8601 times.';
  }
  const statuses = query
    .getAll('runtimeStatus')
    .flatMap((value) => value.split(','))
    .filter(Boolean);
  if (statuses.length > 0) {
    const parsed = z.array(statusSchema).safeParse(statuses);
    if (!parsed.success) return `runtimeStatus must be among ${statusSchema.options.join(', ')}.`;
    filter.statuses = parsed.data;
  }
  return filter;
}

function bool(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = query.get(name);
  if (value === null || value === '' || value === 'undefined') return fallback;
  return value.toLowerCase() === 'true';
}

function header(headers: ApiRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Serves the Durable Functions HTTP API the JS SDK client and createCheckStatusResponse URLs call. */
export function handleDurableApi(
  engine: DurableEngine,
  request: ApiRequest,
  urls: ManagementUrlContext,
): ApiResponse {
  let segments: string[];
  try {
    segments = request.path
      .split('/')
      .filter((segment) => segment.length > 0)
      .map(decodeURIComponent);
  } catch {
    return { status: 400, body: { message: 'The path has a malformed percent-encoding.' } };
  }
  const method = request.method.toUpperCase();
  const [resource, id, action, eventName] = segments;

  if (resource === 'orchestrators' && method === 'POST' && id)
    return startOrchestration(engine, request, urls, id, action);
  if (resource !== 'instances')
    return { status: 404, body: { message: `No durable API route for ${request.path}.` } };
  if (!id) return queryOrPurgeInstances(engine, request, method);
  if (!action) return getOrPurgeInstance(engine, request, urls, method, id);
  if (method !== 'POST') return { status: 405 };
  return instanceOperation(engine, request, id, action, eventName);
}

/** POST orchestrators/<name>[/<instanceId>] with an optional JSON input. */
function startOrchestration(
  engine: DurableEngine,
  request: ApiRequest,
  urls: ManagementUrlContext,
  name: string,
  instanceId: string | undefined,
): ApiResponse {
  const input = request.body.trim() === '' ? null : request.body;
  if (input !== null) {
    try {
      JSON.parse(input);
    } catch {
      return { status: 400, body: { message: 'The request body must be JSON.' } };
    }
  }
  try {
    const newId = engine.startNew(name, instanceId, input);
    const links = managementUrls(urls, newId);
    return { status: 202, headers: { Location: links.statusQueryGetUri as string }, body: links };
  } catch (error) {
    if (error instanceof UnknownOrchestratorError) return { status: 400, body: { message: error.message } };
    if (error instanceof InstanceExistsError) return { status: 409, body: { message: error.message } };
    throw error;
  }
}

/** GET instances (paged with x-ms-continuation-token) or DELETE instances (purge the finished ones). */
function queryOrPurgeInstances(engine: DurableEngine, request: ApiRequest, method: string): ApiResponse {
  const filter = parseFilter(request.query);
  if (typeof filter === 'string') return { status: 400, body: { message: filter } };
  const matches = engine.query({
    createdTimeFrom: filter.from,
    createdTimeTo: filter.to,
    runtimeStatus: filter.statuses,
  });
  if (method === 'DELETE') {
    const purgeable = matches.filter((instance) =>
      ['Completed', 'Failed', 'Terminated'].includes(instance.status),
    );
    for (const instance of purgeable) engine.purge(instance.instanceId);
    return purgeable.length === 0
      ? { status: 404, body: { instancesDeleted: 0 } }
      : { status: 200, body: { instancesDeleted: purgeable.length } };
  }
  if (method !== 'GET') return { status: 405 };
  const token = header(request.headers, 'x-ms-continuation-token');
  const start = token ? Number(Buffer.from(token, 'base64').toString('utf8')) || 0 : 0;
  const top = Number(request.query.get('top')) || PAGE_SIZE;
  const page = matches.slice(start, start + top);
  const options = {
    showInput: bool(request.query, 'showInput', false),
    showHistory: false,
    showHistoryOutput: false,
  };
  const body = page.map((instance) => statusPayload(engine, instance.instanceId, options));
  const headers: Record<string, string> = {};
  if (start + top < matches.length)
    headers['x-ms-continuation-token'] = Buffer.from(String(start + top)).toString('base64');
  return { status: 200, headers, body };
}

/** GET instances/<id> (202 while it runs) or DELETE instances/<id>. */
function getOrPurgeInstance(
  engine: DurableEngine,
  request: ApiRequest,
  urls: ManagementUrlContext,
  method: string,
  id: string,
): ApiResponse {
  if (method === 'GET') {
    const payload = statusPayload(engine, id, {
      showInput: bool(request.query, 'showInput', true),
      showHistory: bool(request.query, 'showHistory', false),
      showHistoryOutput: bool(request.query, 'showHistoryOutput', false),
    });
    if (!payload) return { status: 404, body: { message: `No instance with ID '${id}' was found.` } };
    const running = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'].includes(
      String(payload.runtimeStatus),
    );
    const link = managementUrls(urls, id).statusQueryGetUri as string;
    return running
      ? { status: 202, headers: { Location: link, 'Retry-After': '5' }, body: payload }
      : { status: 200, body: payload };
  }
  if (method === 'DELETE') {
    return engine.purge(id)
      ? { status: 200, body: { instancesDeleted: 1 } }
      : { status: 404, body: { instancesDeleted: 0 } };
  }
  return { status: 405 };
}

/** POST instances/<id>/<terminate|suspend|resume|raiseEvent/<name>|rewind>. */
function instanceOperation(
  engine: DurableEngine,
  request: ApiRequest,
  id: string,
  action: string,
  eventName: string | undefined,
): ApiResponse {
  const reason = request.query.get('reason') ?? '';
  let outcome: 'ok' | 'gone' | 'missing';
  switch (action) {
    case 'terminate':
      outcome = engine.terminate(id, reason);
      break;
    case 'suspend':
      outcome = engine.suspend(id, reason);
      break;
    case 'resume':
      outcome = engine.resume(id, reason);
      break;
    case 'raiseEvent': {
      if (!eventName) return { status: 400, body: { message: 'An event name is required.' } };
      const data = request.body.trim() === '' ? null : request.body;
      if (data !== null) {
        try {
          JSON.parse(data);
        } catch {
          return { status: 400, body: { message: 'Only application/json request content is supported.' } };
        }
      }
      outcome = engine.raiseEvent(id, eventName, data);
      break;
    }
    case 'rewind':
      return { status: 501, body: { message: 'Rewind is not supported by the local host.' } };
    default:
      return { status: 404, body: { message: `Unknown instance operation '${action}'.` } };
  }
  if (outcome === 'missing')
    return { status: 404, body: { message: `No instance with ID '${id}' was found.` } };
  if (outcome === 'gone')
    return { status: 410, body: { message: `The instance '${id}' has already finished.` } };
  return { status: 202 };
}
