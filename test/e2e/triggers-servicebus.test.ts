import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { jobIdForMessage } from '../../src/triggers/fromMessage';
import { startProductHost, type ProductHost } from '../support/productHost';

/**
 * The Service Bus submission trigger through the local host's admin endpoint, the way Azure delivers it
 * with sdkBinding: the message goes to the worker as ModelBindingData, the extension builds the
 * received message and its settlement actions, and the function settles over gRPC on the host. The
 * admin call answers with that settlement. (No Service Bus emulator runs here: the admin endpoint
 * stands in for the broker.)
 */

let product: ProductHost;

beforeAll(async () => {
  product = await startProductHost({ pollIntervalMs: 50 });
  for (const name of ['a.txt', 'b.txt', 'c.txt']) await product.store.write('inputs', `sb/${name}`, name);
}, 30_000);

afterAll(async () => {
  await product?.stop();
});

const settlementSchema = z.strictObject({
  settlement: z.enum(['completed', 'deadLettered', 'abandoned', 'deferred']),
  reason: z.string().optional(),
  description: z.string().optional(),
  error: z.string().optional(),
});

async function deliver(body: unknown, triggerMetadata: Record<string, unknown>) {
  const response = await fetch(`${product.url}/admin/functions/SubmitFromQueue`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: body, triggerMetadata }),
  });
  expect(response.status).toBe(202);
  return settlementSchema.parse(await response.json());
}

function spec(fields: Record<string, unknown> = {}) {
  return {
    name: 'from-queue',
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: 'inputs/sb' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    task: { type: 'run_function', code: '.', entry_script: 'noop.js' },
    ...fields,
  };
}

/** The job a message id starts (`msg.<id>.<hash>`). */
function jobOf(messageId: string): string {
  const derived = jobIdForMessage(messageId);
  if (!('jobId' in derived)) throw new Error(`no job id for message ${messageId}`);
  return derived.jobId;
}

async function jobCount(): Promise<number> {
  return (await product.client.list({ top: 100 })).jobs.length;
}

test('a good message starts the job, which completes; the message is completed', async () => {
  const messageId = `good-${randomUUID()}`;
  const before = await jobCount();

  const outcome = await deliver(spec(), { messageId });

  expect(outcome).toEqual({ settlement: 'completed' });
  expect(await jobCount()).toBe(before + 1);
  const view = await product.client.wait(jobOf(messageId), { intervalMs: 100 });
  expect(view.status).toBe('Completed');
  expect(view.counters).toMatchObject({ miniBatches: 3, succeeded: 3, failed: 0, itemsSucceeded: 3 });
});

test('the same message id again starts nothing and is completed', async () => {
  const messageId = `dup-${randomUUID()}`;
  expect(await deliver(spec(), { messageId })).toEqual({ settlement: 'completed' });
  const first = await product.client.wait(jobOf(messageId), { intervalMs: 100 });
  const before = await jobCount();

  // The redelivery carries a different body: a duplicate is recognised by its id alone.
  const again = await deliver(spec({ name: 'renamed' }), { messageId, deliveryCount: 2 });

  expect(again).toEqual({ settlement: 'completed' });
  expect(await jobCount()).toBe(before);
  const view = await product.client.get(jobOf(messageId));
  expect(view.name).toBe('from-queue');
  expect(view.created_time).toBe(first.created_time);
});

test('a bad spec is dead-lettered with SPEC_INVALID and the field path; no job starts', async () => {
  const messageId = `bad-${randomUUID()}`;
  const before = await jobCount();

  const outcome = await deliver(spec({ mini_batch_size: 'ten' }), { messageId });

  expect(outcome.settlement).toBe('deadLettered');
  expect(outcome.reason).toBe('SPEC_INVALID');
  expect(outcome.description).toContain('mini_batch_size');
  expect(await jobCount()).toBe(before);
  await expect(product.client.get(jobOf(messageId))).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
});

test('a YAML text body with two problems names both in the description', async () => {
  const messageId = `yaml-${randomUUID()}`;
  const yaml = [
    'name: yaml-from-queue',
    'type: parallel',
    'inputs:',
    '  data: {type: uri_folder, path: inputs/sb}',
    'input_data: ${{inputs.data}}',
    'mini_batch_size: "1"',
    'retry_settings: {max_retries: -4}',
    'task: {type: run_function, code: ".", entry_script: noop.js, program_arguments: 7}',
  ].join('\n');

  const outcome = await deliver(yaml, { messageId, contentType: 'application/yaml' });

  expect(outcome).toMatchObject({ settlement: 'deadLettered', reason: 'SPEC_INVALID' });
  expect(outcome.description).toContain('retry_settings.max_retries');
  expect(outcome.description).toContain('task.program_arguments');
});

test('a spec_blob reference to a stored spec starts the job', async () => {
  const messageId = `blob-${randomUUID()}`;
  await product.store.write('jobs', `specs/${messageId}.json`, JSON.stringify(spec({ name: 'from-blob' })));

  const outcome = await deliver({ spec_blob: `jobs/specs/${messageId}.json` }, { messageId });

  expect(outcome).toEqual({ settlement: 'completed' });
  const view = await product.client.wait(jobOf(messageId), { intervalMs: 100 });
  expect(view).toMatchObject({ name: 'from-blob', status: 'Completed' });
});

test('a broken spec_blob reference is dead-lettered and starts nothing', async () => {
  const before = await jobCount();

  const missing = await deliver(
    { spec_blob: 'jobs/specs/not-there.yml' },
    { messageId: `m-${randomUUID()}` },
  );
  const elsewhere = await deliver({ spec_blob: 'logs/x.yml' }, { messageId: `e-${randomUUID()}` });
  const foreign = await deliver(
    { spec_blob: 'https://another.blob.core.windows.net/jobs/x.yml' },
    { messageId: `f-${randomUUID()}` },
  );

  expect(missing).toMatchObject({ settlement: 'deadLettered', reason: 'SPEC_BLOB_NOT_FOUND' });
  expect(missing.description).toContain('jobs/specs/not-there.yml');
  expect(elsewhere).toMatchObject({ settlement: 'deadLettered', reason: 'SPEC_BLOB_REFUSED' });
  expect(foreign).toMatchObject({ settlement: 'deadLettered', reason: 'SPEC_BLOB_REFUSED' });
  expect(await jobCount()).toBe(before);
});

test('a host started after another in the same process still settles (the settlement client is per process)', async () => {
  await product.stop();
  product = await startProductHost({ pollIntervalMs: 50 });

  const outcome = await deliver(spec({ retry_settings: { max_retries: 'x' } }), {
    messageId: `r-${randomUUID()}`,
  });

  expect(outcome).toMatchObject({ settlement: 'deadLettered', reason: 'SPEC_INVALID' });
  expect(outcome.description).toContain('retry_settings.max_retries');
});
