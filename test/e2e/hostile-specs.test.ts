import { randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import { z } from 'zod';
import { jobIdForMessage } from '../../src/triggers/fromMessage';
import { scheduleRejectionRecordSchema } from '../../src/triggers/schedules/definition';
import { rejectionRecordSchema } from '../../src/triggers/shared';
import { startProductHost, type ProductHost } from '../support/productHost';

/**
 * A job spec is untrusted input. Hostile specs and requests go to the app on the local host over HTTP and
 * through each trigger (blob upload, Service Bus message through the admin endpoint, schedule blob):
 * each is refused with a 4xx, a dead letter or a rejection record naming the field; blobs planted in
 * every container a job may never touch are byte-identical afterwards; the host answers after each case.
 */

let product: ProductHost;

/** Containers jobs may never use, each with a planted blob (the name a hostile spec aims at). */
const planted: Record<string, string> = {
  'app-package': 'released-package.zip',
  'azure-webjobs-secrets': 'host.json',
  'azure-webjobs-hosts': 'locks/lease',
  'paralleljob-leases': 'default/lease-0',
  jobs: 'nightly.yml',
  logs: 'someone-else/job_result.json',
  schedules: 'hourly.yml',
};
const plantedBytes = (container: string) => Buffer.from(`planted in ${container}: ${'x'.repeat(4096)}`);

beforeAll(async () => {
  product = await startProductHost({ pollIntervalMs: 100 });
  for (const [container, blob] of Object.entries(planted)) {
    await product.store.ensureContainer(container);
    await product.store.write(container, blob, plantedBytes(container));
  }
  await product.store.write('outputs', 'precious/report.txt', 'written by a person, not by a job\n');
  for (const name of ['a.txt', 'b.txt']) await product.store.write('inputs', `hostile/${name}`, name);
}, 30_000);

afterEach(async () => {
  // The host is alive and answering after every case.
  const response = await fetch(`${product.url}/api/jobs?top=1`);
  await response.text();
  if (response.status !== 200) throw new Error(`the host answered ${response.status} after the case`);
});

afterAll(async () => {
  await product?.stop();
});

const spec = (fields: Record<string, unknown> = {}) => ({
  type: 'parallel',
  inputs: { data: { type: 'uri_folder', path: 'inputs/hostile' } },
  outputs: { out: { type: 'uri_folder' } },
  input_data: '${{inputs.data}}',
  mini_batch_size: '1',
  retry_settings: { max_retries: 0, timeout: 30 },
  task: { type: 'run_function', code: '.', entry_script: 'files.js', append_row_to: '${{outputs.out}}' },
  ...fields,
});
const withOutput = (path: string, type = 'uri_file') => spec({ outputs: { out: { type, path } } });
const withInput = (path: string, type = 'uri_folder') => spec({ inputs: { data: { type, path } } });

const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${product.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => errorSchema.parse(JSON.parse(text)) };
}

async function jobCount(): Promise<number> {
  return (await product.client.list({ top: 500 })).jobs.length;
}

/** Submits `body`; expects a 400 with an issue at `field` whose message matches `message`. */
async function refused(body: unknown, field: string, message: RegExp, route = '/api/jobs') {
  const before = await jobCount();
  const answer = await call('POST', route, body);
  expect(answer.status).toBe(400);
  const issues = answer.json().error.issues ?? [];
  expect(issues).toEqual(expect.arrayContaining([{ path: field, message: expect.stringMatching(message) }]));
  expect(await jobCount()).toBe(before);
}

describe('over HTTP, places a job may not touch', () => {
  it.each([
    ['app-package/released-package.zip', /deployment package/],
    ['azure-webjobs-secrets/host.json', /Functions host/],
    ['azure-webjobs-hosts/locks/lease', /Functions host/],
    ['paralleljob-leases/default/lease-0', /task hub/],
    ['jobs/evil.yml', /uploaded spec starts a job/],
    ['logs/someone-else/job_result.json', /logs container/],
    ['schedules/hourly.yml', /schedules container/],
    ['inputs/copy.txt', /not a place jobs may write; jobs may write outputs/],
  ])('an output at %s is refused', async (path, why) => {
    await refused(withOutput(path), 'outputs.out.path', why);
  });

  it('an output folder inside a forbidden container is refused too', async () => {
    await refused(withOutput('azure-webjobs-secrets/x', 'uri_folder'), 'outputs.out.path', /Functions host/);
  });

  it('an output blob that a job did not create is not overwritten', async () => {
    await refused(
      withOutput('outputs/precious/report.txt'),
      'outputs.out.path',
      /already exists and was written by something other than a job/,
    );
  });

  it.each([
    ['azure-webjobs-secrets/', /Functions host/],
    ['logs/someone-else', /logs container/],
    ['jobs', /uploaded spec starts a job/],
    ['inputs/../logs/someone-else', /"\." or "\.\." segment/],
    ['inputs/hostile/..\\..\\logs', /looks like a local path/],
  ])('an input at %s is refused', async (path, why) => {
    await refused(withInput(path), 'inputs.data.path', why);
  });

  it('an encoded ../ in an emulator URL is resolved and refused for the container it reaches', async () => {
    const account = new URL(product.host.connectionString.match(/BlobEndpoint=([^;]+)/)![1]!);
    const url = `${account.origin}${account.pathname.replace(/\/$/, '')}/inputs/%2e%2e/logs/someone-else`;
    await refused(withInput(url), 'inputs.data.path', /logs container/);
  });

  it.each([
    ['https://evil.blob.example.test/data/x', /not an Azure blob storage endpoint/],
    ['https://evil.example.test/x.blob.core.windows.net/data', /not an Azure blob storage endpoint/],
    ['http://someaccount.blob.core.windows.net/data/x', /use https/],
    ['https://someaccount.blob.core.windows.net/data/x', /not a place jobs may read/],
  ])('an input on another host %s is refused before any request is sent', async (url, why) => {
    await refused(withInput(url), 'inputs.data.path', why);
    // The plan preview lists with the app's identity: it refuses the same way.
    await refused(withInput(url), 'inputs.data.path', why, '/api/plan');
  });

  it('a side input (not input_data) is checked as well', async () => {
    const body = spec({
      inputs: {
        data: { type: 'uri_folder', path: 'inputs/hostile' },
        secrets: { type: 'uri_folder', path: 'azure-webjobs-secrets/' },
      },
    });
    await refused(body, 'inputs.secrets.path', /Functions host/);
  });
});

describe('over HTTP, numbers beyond what the platform can do', () => {
  it.each([
    [{ resources: { instance_count: 100_000_000 } }, 'resources.instance_count', /at most 1,000.*instances/],
    [{ max_concurrency_per_instance: 100_000 }, 'max_concurrency_per_instance', /at most 64.*worker thread/],
    [
      { resources: { instance_count: 100 }, max_concurrency_per_instance: 64 },
      'max_concurrency_per_instance',
      /100 x 64 = 6,400.*at most 4,096/,
    ],
    [
      { retry_settings: { max_retries: 100_000, timeout: 30 } },
      'retry_settings.max_retries',
      /at most 99.*blocks/,
    ],
    [
      { retry_settings: { max_retries: 0, timeout: 259_200 } },
      'retry_settings.timeout',
      /at most 1740 seconds.*functionTimeout \(00:30:00\)/,
    ],
    [{ mini_batch_size: '1000000' }, 'mini_batch_size', /at most 10,000 files/],
  ])('%j is refused', async (fields, field, why) => {
    await refused(spec(fields), field, why);
  });

  it('a tabular mini-batch larger than one worker should hold is refused', async () => {
    const body = spec({
      inputs: { data: { type: 'mltable', path: 'inputs/hostile' } },
      mini_batch_size: '1gb',
    });
    await refused(body, 'mini_batch_size', /at most 268,435,456 bytes/);
  });

  it('a spec larger than the limit is refused unread (413)', async () => {
    const before = await jobCount();
    const answer = await call('POST', '/api/jobs', spec({ description: 'x'.repeat(300 * 1024) }));
    expect(answer.status).toBe(413);
    expect(answer.json().error).toMatchObject({
      code: 'REQUEST_TOO_LARGE',
      message: expect.stringMatching(/at most 262,144 bytes/),
    });
    expect(await jobCount()).toBe(before);
  });
});

describe('over HTTP, ids', () => {
  it.each([
    'msg.order-1.0123456789abcdef',
    'sched.nightly.0123456789abcdef.20261124T030000Z',
    'a.b',
    '../jobs/evil',
    'x'.repeat(101),
    'é',
  ])('a client cannot choose the id %s', async (id) => {
    await refused(spec(), 'id', /not a valid job id/, `/api/jobs?id=${encodeURIComponent(id)}`);
  });

  it('a re-run cannot be given an id that leaves the job folders', async () => {
    const id = `hostile-rerun-${randomUUID().slice(0, 8)}`;
    expect((await call('POST', `/api/jobs?id=${id}`, spec())).status).toBe(202);
    await product.client.wait(id, { intervalMs: 100 });
    const answer = await call('POST', `/api/jobs/${id}/rerun?id=${encodeURIComponent('../jobs/evil')}`);
    expect(answer.status).toBe(400);
    expect(answer.json().error.issues).toEqual([
      { path: 'id', message: expect.stringMatching(/not a valid job id/) },
    ]);
  });

  it.each(['..%2Fjobs%2Fevil', '%2E%2E', 'a..b', 'bad%20id'])(
    'the route id %s is refused before use',
    async (raw) => {
      for (const [method, path] of [
        ['GET', `/api/jobs/${raw}`],
        ['POST', `/api/jobs/${raw}/rerun`],
        ['POST', `/api/jobs/${raw}/cancel`],
        ['GET', `/api/jobs/${raw}/files/logs/job_result`],
      ] as const) {
        const answer = await call(method, path);
        // 400 from the id rule, or 404 where the host's router already refuses the shape.
        expect([400, 404]).toContain(answer.status);
        expect(answer.text).not.toMatch(/at .*\.js:\d+/);
      }
    },
  );
});

describe('through the triggers', () => {
  const invokeAdmin = async (name: string, body: unknown) => {
    const response = await fetch(`${product.url}/admin/functions/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as unknown };
  };

  it('a blob upload aiming at the deployment package is rejected with a record naming the field', async () => {
    const name = `hostile-${randomUUID().slice(0, 8)}.yml`;
    const written = await product.store.write(
      'jobs',
      name,
      stringify(withOutput('app-package/released-package.zip')),
    );
    const answer = await invokeAdmin('SubmitFromBlob', {
      input: stringify(withOutput('app-package/released-package.zip')),
      triggerMetadata: { name, blobTrigger: `jobs/${name}`, properties: { etag: written.etag } },
    });
    expect(answer.status).toBe(202);
    const record = await product.store.readJson('jobs', `_rejected/${name}.json`, rejectionRecordSchema);
    expect(record.code).toBe('SPEC_INVALID');
    expect(record.issues).toEqual([
      { path: 'outputs.out.path', message: expect.stringMatching(/deployment package/) },
    ]);
  });

  it('a message aiming at the Functions host secrets is dead-lettered naming the field', async () => {
    const messageId = `hostile-${randomUUID()}`;
    const answer = await invokeAdmin('SubmitFromQueue', {
      input: withInput('azure-webjobs-secrets/'),
      triggerMetadata: { messageId },
    });
    expect(answer.body).toMatchObject({ settlement: 'deadLettered', reason: 'SPEC_INVALID' });
    expect((answer.body as { description: string }).description).toMatch(
      /inputs\.data\.path.*Functions host/,
    );
    const derived = jobIdForMessage(messageId);
    await expect(product.client.get('jobId' in derived ? derived.jobId : 'none')).rejects.toMatchObject({
      code: 'JOB_NOT_FOUND',
    });
  });

  it('a schedule whose job writes into the jobs container is rejected with job.* field paths', async () => {
    const name = `hostile-${randomUUID().slice(0, 8)}`;
    const occurrence = new Date(Math.floor(Date.now() / 1000) * 1000 + 1500);
    const cron = `${occurrence.getUTCSeconds()} ${occurrence.getUTCMinutes()} ${occurrence.getUTCHours()} ${occurrence.getUTCDate()} ${occurrence.getUTCMonth() + 1} *`;
    await product.store.write(
      'schedules',
      `${name}.yml`,
      stringify({ cron, job: withOutput('jobs/evil.yml') }),
    );
    await new Promise((resolve) => setTimeout(resolve, occurrence.getTime() + 200 - Date.now()));
    const answer = await invokeAdmin('RunSchedules', {
      input: {
        isPastDue: false,
        scheduleStatus: {
          last: new Date(occurrence.getTime() - 30_000).toISOString(),
          next: new Date().toISOString(),
        },
      },
    });
    expect(answer.status).toBe(202);
    const record = await product.store.readJson(
      'schedules',
      `_rejected/${name}.json`,
      scheduleRejectionRecordSchema,
    );
    expect(record.code).toBe('SCHEDULE_INVALID');
    expect(record.issues).toEqual([
      { path: 'job.outputs.out.path', message: expect.stringMatching(/uploaded spec starts a job/) },
    ]);
  });

  it('message ids that read alike start different jobs, and a redelivery starts nothing', async () => {
    const tag = randomUUID().slice(0, 8);
    const ids = [`order#${tag}`, `order ${tag}`, `order/${tag}`, `order-${tag}`];
    for (const messageId of ids) {
      const answer = await invokeAdmin('SubmitFromQueue', { input: spec(), triggerMetadata: { messageId } });
      expect(answer.body).toEqual({ settlement: 'completed' });
    }
    const jobs = ids.map((messageId) => {
      const derived = jobIdForMessage(messageId);
      if (!('jobId' in derived)) throw new Error(`no job for ${messageId}`);
      return derived.jobId;
    });
    expect(new Set(jobs).size).toBe(4);
    for (const job of jobs)
      expect((await product.client.wait(job, { intervalMs: 100 })).status).toBe('Completed');
    const before = await jobCount();
    const again = await invokeAdmin('SubmitFromQueue', {
      input: spec(),
      triggerMetadata: { messageId: ids[0] },
    });
    expect(again.body).toEqual({ settlement: 'completed' });
    expect(await jobCount()).toBe(before);
  });
});

describe('afterwards', () => {
  it('every blob planted where jobs may not write is byte-identical', async () => {
    for (const [container, blob] of Object.entries(planted))
      expect((await product.store.read(container, blob)).equals(plantedBytes(container))).toBe(true);
    expect((await product.store.read('outputs', 'precious/report.txt')).toString()).toBe(
      'written by a person, not by a job\n',
    );
  });
});
