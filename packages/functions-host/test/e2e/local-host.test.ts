import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import { BlobServiceClient } from '@azure/storage-blob';
import { startChildLocalHost, type ChildLocalHost } from '../../src/hostChild';

// Conformance of the embedded host, observed only through HTTP, the Durable HTTP API and the SDK client
// (the fixture app exposes client calls as HTTP functions). Storage clients only put blobs and messages in.
const appDir = path.join(__dirname, '..', 'fixtures', 'conformance-app');
const MASTER = 'master-key-for-tests';
const FUNCTION_KEY = 'function-key-for-tests';

let host: ChildLocalHost;
let dataDir: string;
const logs: string[] = [];

interface Status {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  historyEvents?: { EventType: string; FunctionName?: string }[];
}

async function call(
  pathname: string,
  init: RequestInit = {},
): Promise<{ status: number; json: unknown; text: string; headers: Headers }> {
  const response = await fetch(pathname.startsWith('http') ? pathname : `${host.url}${pathname}`, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

const webhook = (rest: string): string =>
  `${host.url}/runtime/webhooks/durabletask/${rest}${rest.includes('?') ? '&' : '?'}code=${MASTER}`;

async function start(name: string, input?: unknown, instanceId?: string): Promise<string> {
  const reply = await call(`/api/start/${name}${instanceId ? `/${instanceId}` : ''}`, {
    method: 'POST',
    body: input === undefined ? '' : JSON.stringify(input),
  });
  expect(reply.status).toBe(202);
  return (reply.json as { id: string }).id;
}

async function status(instanceId: string, query = ''): Promise<Status> {
  const reply = await call(webhook(`instances/${instanceId}${query}`));
  expect([200, 202]).toContain(reply.status);
  return reply.json as Status;
}

async function until<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const finished = (instanceId: string, timeoutMs?: number): Promise<Status> =>
  until(
    () => status(instanceId),
    (s) => ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus),
    timeoutMs,
  );

async function observations(): Promise<{
  attempts: Record<string, number>;
  blobCalls: { name: string; text: string }[];
  queueCalls: { message: { id: string }; dequeueCount: number }[];
  timerCalls: { isPastDue: boolean }[];
  serviceBusCalls: { message: unknown }[];
  hooks: { appStart: number; preInvocation: number; postInvocation: number };
}> {
  return (await call('/api/observations')).json as never;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-host-'));
  host = await startChildLocalHost({
    appDir,
    port: 0,
    dataDir,
    storage: 'memory',
    logger: (line) => logs.push(line),
    keys: { function: FUNCTION_KEY, master: MASTER },
    pollIntervalMs: 200,
  });
});

afterAll(async () => {
  await host?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('app loading and HTTP', () => {
  it('lists every function with its trigger and URL', () => {
    const byName = new Map(host.functions.map((fn) => [fn.name, fn]));
    expect(byName.get('Hello')).toMatchObject({
      trigger: 'httpTrigger',
      url: `${host.url}/api/hello/{name}`,
    });
    expect(byName.get('Chain')?.trigger).toBe('orchestrationTrigger');
    expect(byName.get('SayHello')?.trigger).toBe('activityTrigger');
    expect(byName.get('QueueWorker')).toMatchObject({
      trigger: 'queueTrigger',
      detail: 'conformance-q',
    });
    expect(byName.get('EverySecond')?.trigger).toBe('timerTrigger');
    expect(byName.get('OrdersFromServiceBus')?.trigger).toBe('serviceBusTrigger');
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves routes with parameters, query, body and methods', async () => {
    const hello = await call('/api/hello/Ada?punct=!');
    expect(hello).toMatchObject({ status: 200, text: 'Hello, Ada!' });
    expect(logs.some((line) => line.includes('[Hello]') && line.includes('greeting Ada'))).toBe(true);

    const echo = await call('/api/items/42/a/b?x=1', { method: 'PUT', body: JSON.stringify({ k: 'v' }) });
    expect(echo.status).toBe(201);
    expect(echo.headers.get('x-echo')).toBe('yes');
    expect(echo.json).toEqual({ method: 'PUT', id: '42', rest: 'a/b', query: { x: '1' }, body: { k: 'v' } });

    expect((await call('/api/items/notanumber', { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await call('/api/hello/Ada', { method: 'DELETE' })).status).toBe(405);
    expect((await call('/api/nothing-here')).status).toBe(404);
  });

  it('enforces authLevel when keys are configured', async () => {
    expect((await call('/api/keyed')).status).toBe(401);
    expect((await call('/api/keyed?code=wrong')).status).toBe(401);
    expect(await call(`/api/keyed?code=${FUNCTION_KEY}`)).toMatchObject({ status: 200, text: 'secret' });
    expect((await call('/api/keyed', { headers: { 'x-functions-key': MASTER } })).status).toBe(200);
    expect((await call(`${host.url}/runtime/webhooks/durabletask/instances/x`)).status).toBe(401);
  });

  it('keys the Durable management routes and the admin routes; the app client calls still work', async () => {
    for (const route of [
      '/durabletask/instances/',
      '/durabletask/instances/x',
      '/runtime/webhooks/durabletask/instances/',
      '/admin/host/status',
      '/admin/functions/Hello',
      '/admin/anything',
    ]) {
      const method = route.startsWith('/admin/functions') ? 'POST' : 'GET';
      expect({ route, status: (await call(route, { method })).status }).toEqual({ route, status: 401 });
      const withFunctionKey = await call(route, { method, headers: { 'x-functions-key': FUNCTION_KEY } });
      expect({ route, status: withFunctionKey.status }).toEqual({ route, status: 401 });
      const wrongBasic = `Basic ${Buffer.from(`durabletask:${FUNCTION_KEY}`).toString('base64')}`;
      expect((await call(route, { method, headers: { authorization: wrongBasic } })).status).toBe(401);
    }
    expect((await call(`/durabletask/instances/?code=${MASTER}`)).status).toBe(200);
    expect((await call('/admin/host/status', { headers: { 'x-functions-key': MASTER } })).status).toBe(200);
    expect((await call(`/admin/anything?code=${MASTER}`)).status).toBe(404);
    // The SDK client inside the app reaches /durabletask/ with the host's system key.
    const id = await start('Chain');
    expect((await finished(id)).runtimeStatus).toBe('Completed');
    expect((await call(`/api/client/list?status=Completed`)).status).toBe(200);
  });

  it('answers a failing function with 500, a code and an error id; the details go to the log only', async () => {
    const reply = await call('/api/boom');
    expect(reply.status).toBe(500);
    const error = (reply.json as { error: { code: string; error_id: string } }).error;
    expect(error).toMatchObject({ code: 'INTERNAL', error_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(reply.text).not.toMatch(/db-7|refused|internal detail|at /);
    expect(logs.some((line) => line.includes(error.error_id) && line.includes('db-7.internal refused'))).toBe(
      true,
    );
  });

  it('ran the appStart hook once and the invocation hooks around calls', async () => {
    const { hooks } = await observations();
    expect(hooks.appStart).toBe(1);
    expect(hooks.preInvocation).toBeGreaterThan(0);
    // The response body is serialized after the post hook, as in the worker, so this call counts in both.
    expect(hooks.postInvocation).toBe(hooks.preInvocation);
  });
});

describe('durable functions', () => {
  it('chains activities and answers with check-status links on this host', async () => {
    const reply = await call('/api/start/Chain', { method: 'POST' });
    expect(reply.status).toBe(202);
    const links = reply.json as Record<string, string>;
    expect(reply.headers.get('location')).toBe(links.statusQueryGetUri);
    expect(links.statusQueryGetUri).toContain(
      `${host.url}/runtime/webhooks/durabletask/instances/${links.id}`,
    );
    // The Durable extension's system key, as in Azure; never the master key.
    expect(links.statusQueryGetUri).toMatch(/[?&]code=[0-9a-f]{64}(&|$)/);
    expect(links.statusQueryGetUri).not.toContain(MASTER);
    await finished(links.id as string);
    const done = await call(links.statusQueryGetUri as string);
    expect(done.status).toBe(200);
    expect(done.json).toMatchObject({
      name: 'Chain',
      runtimeStatus: 'Completed',
      output: ['Hello Tokyo', 'Hello Seattle', 'Hello London'],
    });
    expect((done.json as Status).createdTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('fans out to 1,000 activities and back in', async () => {
    const id = await start('FanOut', { count: 1000 }, 'fan-1000');
    const done = await finished(id, 60_000);
    expect(done).toMatchObject({ runtimeStatus: 'Completed', output: 999 * 1000 });
    const withHistory = await status(id, '?showHistory=true');
    const completions = (withHistory.historyEvents ?? []).filter((e) => e.EventType === 'TaskCompleted');
    expect(completions).toHaveLength(1000);
    expect(completions[0]?.FunctionName).toBe('Double');
  });

  it('retries with backoff and succeeds on the third attempt', async () => {
    const id = await start('Retry', { key: 'third-time', failTimes: 2, attempts: 5, firstMs: 150 });
    const done = await finished(id);
    const output = done.output as { ok: boolean; attempt: number; elapsedMs: number };
    expect(output.ok).toBe(true);
    expect(output.attempt).toBe(3);
    expect(output.elapsedMs).toBeGreaterThanOrEqual(150 + 300); // 150 ms, then 150 x 2
    expect((await observations()).attempts['third-time']).toBe(3);
  });

  it('retries until the attempts are exhausted and surfaces the last error', async () => {
    const id = await start('Retry', { key: 'never', failTimes: 99, attempts: 3, firstMs: 50 });
    const done = await finished(id);
    const output = done.output as { ok: boolean; message: string };
    expect(output.ok).toBe(false);
    expect(output.message).toContain("Activity function 'Flaky' failed: flaky failure 3");
    expect((await observations()).attempts.never).toBe(3);
  });

  it('fans out to sub-orchestrations with explicit and generated ids', async () => {
    const explicit = await start('SubFanOut', { children: 10, perChild: 20, explicitIds: true }, 'subs');
    expect(await finished(explicit)).toMatchObject({ runtimeStatus: 'Completed', output: 10 * 380 });
    expect(await status('subs-child-3')).toMatchObject({
      name: 'FanOut',
      runtimeStatus: 'Completed',
      output: 380,
    });

    const generated = await start('SubFanOut', { children: 120, perChild: 2, explicitIds: false });
    expect(await finished(generated)).toMatchObject({ runtimeStatus: 'Completed', output: 120 * 2 });
    // The SDK client's getStatusBy follows continuation tokens (pages of 100).
    const list = (await call('/api/client/list?status=Completed')).json as {
      instanceId: string;
      name: string;
    }[];
    const children = list.filter((s) => s.name === 'FanOut' && s.instanceId.includes(':'));
    expect(children.length).toBe(120);
  });

  it('races a durable timer against an external event: the event wins', async () => {
    const id = await start('TimerOrEvent', { timeoutMs: 20_000 });
    await until(
      () => status(id),
      (s) => s.runtimeStatus === 'Running',
    );
    const raised = await call(`/api/client/raise/${id}/Approve`, {
      method: 'POST',
      body: JSON.stringify({ by: 'alice' }),
    });
    expect(raised.status).toBe(202);
    expect(await finished(id)).toMatchObject({ runtimeStatus: 'Completed', output: 'approved:alice' });
  });

  it('races a durable timer against an external event: the timer wins', async () => {
    const id = await start('TimerOrEvent', { timeoutMs: 300 });
    expect(await finished(id)).toMatchObject({ runtimeStatus: 'Completed', output: 'timed out' });
  });

  it('buffers an event raised before anyone waits for it', async () => {
    const id = await start('Stages', undefined, 'early-event');
    await call(`/api/client/raise/${id}/go`, { method: 'POST', body: JSON.stringify('early') });
    expect(await finished(id)).toMatchObject({ output: 'Hello early' });
  });

  it('runs a monitor loop with continueAsNew, carrying custom status', async () => {
    const id = await start('Monitor', { iteration: 0, stopAt: 3 }, 'monitor');
    const done = await finished(id);
    expect(done).toMatchObject({
      runtimeStatus: 'Completed',
      output: 'stopped after 3',
      customStatus: { iteration: 3 },
    });
    expect(done.input).toEqual({ iteration: 3, stopAt: 3 });
    const history = (await status(id, '?showHistory=true')).historyEvents ?? [];
    expect(history.filter((e) => e.EventType === 'ExecutionStarted')).toHaveLength(1); // fresh history per execution
  });

  it('shows custom status while running, suspends and resumes', async () => {
    const id = await start('Stages', undefined, 'stages');
    const waiting = await until(
      () => status(id),
      (s) => s.customStatus !== null,
    );
    expect(waiting).toMatchObject({ runtimeStatus: 'Running', customStatus: { stage: 'waiting for go' } });

    expect((await call(`/api/client/suspend/${id}`, { method: 'POST' })).status).toBe(202);
    await until(
      () => status(id),
      (s) => s.runtimeStatus === 'Suspended',
    );
    await call(`/api/client/raise/${id}/go`, { method: 'POST', body: JSON.stringify('Grace') });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await status(id)).toMatchObject({
      runtimeStatus: 'Suspended',
      customStatus: { stage: 'waiting for go' },
    });

    expect((await call(`/api/client/resume/${id}`, { method: 'POST' })).status).toBe(202);
    expect(await finished(id)).toMatchObject({
      runtimeStatus: 'Completed',
      output: 'Hello Grace',
      customStatus: { stage: 'done' },
    });
  });

  it('terminates a running instance', async () => {
    const id = await start('WaitForever', undefined, 'forever');
    await until(
      () => status(id),
      (s) => s.customStatus === 'waiting',
    );
    expect((await call(`/api/client/terminate/${id}/enough`, { method: 'POST' })).status).toBe(202);
    expect(await finished(id)).toMatchObject({ runtimeStatus: 'Terminated', output: 'enough' });
    expect(
      (await call(webhook(`instances/${id}/raiseEvent/never`), { method: 'POST', body: '1' })).status,
    ).toBe(410);
    expect((await call(webhook(`instances/${id}/terminate`), { method: 'POST' })).status).toBe(410);
  });

  it('reports a failing orchestrator the way Azure does, also to its parent', async () => {
    const id = await start('Failing', undefined, 'failing');
    expect(await finished(id)).toMatchObject({
      runtimeStatus: 'Failed',
      output: "Orchestrator function 'Failing' failed: orchestrator blew up",
    });
    const parent = await start('ParentOfFailing', undefined, 'parent');
    const done = await finished(parent);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.output).toMatch(/^caught: Orchestrator function 'Failing' failed: orchestrator blew up/);
    expect(await status('parent-failing-child')).toMatchObject({ runtimeStatus: 'Failed' });
  });

  it('rejects starting an unknown orchestrator and a running id', async () => {
    expect((await call(webhook('orchestrators/NoSuchThing'), { method: 'POST' })).status).toBe(400);
    await start('WaitForever', undefined, 'busy');
    expect((await call(webhook('orchestrators/WaitForever/busy'), { method: 'POST' })).status).toBe(409);
    await call(`/api/client/terminate/busy`, { method: 'POST' });
  });

  it('lists with filters and continuation tokens on the HTTP API', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    const first = await call(
      webhook(`instances/?runtimeStatus=Completed,Failed&createdTimeFrom=${from}&top=2`),
    );
    expect(first.status).toBe(200);
    expect(first.json).toHaveLength(2);
    const token = first.headers.get('x-ms-continuation-token');
    expect(token).toBeTruthy();
    const second = await call(
      webhook(`instances/?runtimeStatus=Completed,Failed&createdTimeFrom=${from}&top=2`),
      {
        headers: { 'x-ms-continuation-token': token as string },
      },
    );
    const ids = (list: unknown): string[] => (list as Status[]).map((s) => s.instanceId);
    expect(ids(second.json)).toHaveLength(2);
    expect(ids(second.json)).not.toEqual(expect.arrayContaining(ids(first.json)));
    const future = await call(
      webhook(`instances/?createdTimeFrom=${new Date(Date.now() + 3_600_000).toISOString()}`),
    );
    expect(future.json).toEqual([]);
    const running = (await call('/api/client/list?status=Running')).json as { runtimeStatus: string }[];
    expect(running.every((s) => s.runtimeStatus === 'Running')).toBe(true);
  });

  it('purges one instance and instances by filter', async () => {
    const purged = await call('/api/client/purge/failing', { method: 'POST' });
    expect(purged.json).toEqual({ instancesDeleted: 1 });
    expect((await call(webhook('instances/failing'))).status).toBe(404);
    expect((await call(webhook('instances/failing'), { method: 'DELETE' })).status).toBe(404);

    const byFilter = await call(webhook('instances/?runtimeStatus=Terminated'), { method: 'DELETE' });
    expect(byFilter.status).toBe(200);
    expect((byFilter.json as { instancesDeleted: number }).instancesDeleted).toBeGreaterThanOrEqual(2);
    expect((await call(webhook('instances/forever'))).status).toBe(404);
  });

  it('exposes engine counters', async () => {
    const stats = await host.stats();
    expect(stats.episodes).toBeGreaterThan(0);
    expect(stats.eventsReplayed).toBeGreaterThan(0);
    expect(stats.maxHistoryLength).toBeGreaterThan(2000); // the 1,000-activity fan-out
  });
});

describe('storage, timer and admin triggers', () => {
  it('fires a blob trigger once per blob version', async () => {
    const container = BlobServiceClient.fromConnectionString(host.connectionString).getContainerClient(
      'conformance-in',
    );
    await container.createIfNotExists();
    await container.getBlockBlobClient('a.txt').upload('first', 5);
    const callsFor = async (name: string): Promise<string[]> =>
      (await observations()).blobCalls.filter((c) => c.name === name).map((c) => c.text);
    await until(
      () => callsFor('a.txt'),
      (calls) => calls.length >= 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 800)); // several more polls
    expect(await callsFor('a.txt')).toEqual(['first']);

    await container.getBlockBlobClient('a.txt').upload('second', 6);
    await until(
      () => callsFor('a.txt'),
      (calls) => calls.length >= 2,
    );
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await callsFor('a.txt')).toEqual(['first', 'second']);
  });

  it('moves a failing queue message to the poison queue after maxDequeueCount', async () => {
    const service = QueueServiceClient.fromConnectionString(host.connectionString);
    const queue = service.getQueueClient('conformance-q');
    await queue.createIfNotExists();
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');
    await queue.sendMessage(encode({ id: 'good' }));
    await queue.sendMessage(encode({ id: 'bad', fail: true }));
    const poison = service.getQueueClient('conformance-q-poison');
    const poisoned = await until(
      async () => ((await poison.exists()) ? (await poison.peekMessages()).peekedMessageItems : []),
      (items) => items.length > 0,
    );
    expect(JSON.parse(Buffer.from(poisoned[0]?.messageText ?? '', 'base64').toString())).toEqual({
      id: 'bad',
      fail: true,
    });
    const calls = (await observations()).queueCalls;
    expect(calls.filter((c) => c.message.id === 'bad').map((c) => c.dequeueCount)).toEqual([1, 2, 3]);
    expect(calls.filter((c) => c.message.id === 'good').map((c) => c.dequeueCount)).toEqual([1]);
  });

  it('runs a timer trigger on startup and on its schedule', async () => {
    const calls = await until(
      async () => (await observations()).timerCalls,
      (list) => list.length >= 2,
      10_000,
    );
    expect(calls.length).toBeGreaterThanOrEqual(2);
  });

  it('delivers messages to non-HTTP functions through the admin endpoint', async () => {
    const admin = (name: string, body: unknown, code = MASTER): Promise<{ status: number; json: unknown }> =>
      call(`/admin/functions/${name}?code=${code}`, { method: 'POST', body: JSON.stringify(body) });
    expect(
      (
        await admin('OrdersFromServiceBus', {
          input: JSON.stringify({ id: 'o-1' }),
          triggerMetadata: { messageId: 'm-1' },
        })
      ).status,
    ).toBe(202);
    expect((await admin('OrdersFromServiceBus', { input: { id: 'o-2' } })).status).toBe(202);
    const failed = await admin('OrdersFromServiceBus', { input: { id: 'o-3', fail: true } });
    expect(failed).toMatchObject({ status: 500, json: { error: { code: 'INTERNAL' } } });
    expect(JSON.stringify(failed.json)).not.toContain('cannot process order');
    const errorId = (failed.json as { error: { error_id: string } }).error.error_id;
    expect(logs.some((line) => line.includes(errorId) && line.includes('cannot process order o-3'))).toBe(
      true,
    );
    expect((await admin('NoSuchFunction', { input: 'x' })).status).toBe(404);
    expect((await admin('Hello', { input: 'x' })).status).toBe(400);
    expect((await admin('OrdersFromServiceBus', { input: 'x' }, 'wrong')).status).toBe(401);
    const calls = (await observations()).serviceBusCalls;
    expect(calls).toEqual([
      { message: { id: 'o-1' }, metadata: { messageId: 'm-1' } },
      { message: { id: 'o-2' }, metadata: null },
    ]);
  });
});
