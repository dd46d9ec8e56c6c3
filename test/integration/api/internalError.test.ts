import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRequest, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { AppServices } from '../../../src/composition';
import { durableClientInput, type RunningAzurite } from '@parallel-job/functions-host';
import { BlobStore } from '../../../src/storage/blobStore';
import { getHandler, listHandler } from '../../../src/api/routes/jobs';
import { createJobReads } from '../../../src/api/status';
import { writeJobIndex } from '../../../src/storage/jobIndex';
import { uniqueContainer, useAzurite } from '../../support/azurite';

/**
 * A fault the app cannot name (here: its Durable backend is down, so the real Durable client fails with
 * a connection error) answers 500 with code INTERNAL, a fixed message and an error id; the details
 * (the cause, the address) go to the function's log under that id, never to the caller.
 */

let deadUrl: string;
let azurite: RunningAzurite;
let services: AppServices;

beforeAll(async () => {
  // Storage answers (the job index has one job); only the Durable backend is down.
  azurite = await useAzurite();
  const store = BlobStore.fromConnectionString(azurite.connectionString);
  const logs = uniqueContainer('logs');
  await writeJobIndex(store, logs, { id: 'job-1', created: new Date().toISOString() });
  services = { store, containers: { logs }, reads: createJobReads(store, logs) } as unknown as AppServices;
  // A port that nothing listens on any more.
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
afterAll(async () => {
  await azurite.stop();
});

function invocation(): { context: InvocationContext; client: df.DurableClient; logs: string[] } {
  const logs: string[] = [];
  const input = df.input.durableClient();
  const context = new InvocationContext({
    functionName: 'ListJobs',
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
    options: { extraInputs: [input] },
  });
  context.extraInputs.set(
    input,
    durableClientInput(
      { webhookBase: `${deadUrl}/runtime/webhooks/durabletask`, hubName: 'Hub', connectionName: 'Storage' },
      `${deadUrl}/durabletask/`,
    ),
  );
  return { context, client: df.getClient(context), logs };
}

describe('an internal fault', () => {
  it('answers 500 INTERNAL with an error id and no internal text; the log has the id and the cause', async () => {
    const { context, client, logs } = invocation();
    const answer = await listHandler(() => services)(
      new HttpRequest({ method: 'GET', url: 'http://127.0.0.1:7071/api/jobs' }),
      client,
      context,
    );
    expect(answer.status).toBe(500);
    const body = answer.jsonBody as { error: { code: string; message: string; error_id: string } };
    expect(body.error.code).toBe('INTERNAL');
    expect(body.error.error_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(body.error.message).toContain(body.error.error_id);
    const text = JSON.stringify(body);
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|durabletask|at /);
    expect(logs.filter((line) => line.includes(body.error.error_id))).toEqual([
      expect.stringMatching(/^error: .*ECONNREFUSED/s),
    ]);
  });

  it('still answers a known error with its own code and message (404 JOB_NOT_FOUND)', async () => {
    const { context, client } = invocation();
    const request = new HttpRequest({
      method: 'GET',
      url: 'http://127.0.0.1:7071/api/jobs/job-1',
      params: { id: 'job-1' },
    });
    const answer = await getHandler(() => services)(request, client, context);
    expect(answer.status).toBe(404);
    expect((answer.jsonBody as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
  });
});
