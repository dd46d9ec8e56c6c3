import { stringify } from 'yaml';
import { blobJobId, plainEtag } from '../../src/triggers/fromBlob';
import { scheduleRejectionRecordSchema } from '../../src/triggers/schedules/definition';
import { scheduleJobId } from '../../src/triggers/schedules/occurrences';
import { rejectionRecordSchema } from '../../src/triggers/shared';
import { startProductHost, type ProductHost } from '../support/productHost';

/**
 * The blob trigger and the schedules timer on the local host: uploads to jobs/ start jobs once per upload,
 * bad specs leave a rejection record, and timer ticks (delivered through the admin endpoint, since the
 * host's clock cannot be set) start one job per schedule occurrence however often they repeat.
 */

let product: ProductHost;
/** A yearly occurrence one minute before the host starts: the settings schedule fires for it once. */
const settingsOccurrence = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);

const jobTemplate = (fields: Record<string, unknown> = {}) => ({
  type: 'parallel',
  inputs: { data: { type: 'uri_folder', path: 'inputs/triggers' } },
  input_data: '${{inputs.data}}',
  mini_batch_size: '1',
  retry_settings: { max_retries: 0, timeout: 30 },
  task: { type: 'run_function', code: '.', entry_script: 'noop.js' },
  ...fields,
});

/** A 6-field cron that fires once a year, at `at` (UTC, whole seconds). */
const cronAt = (at: Date) =>
  `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} ${at.getUTCDate()} ${at.getUTCMonth() + 1} *`;

beforeAll(async () => {
  product = await startProductHost({
    pollIntervalMs: 100,
    settings: {
      PARALLEL_JOB_SCHEDULES: JSON.stringify({
        'from-settings': { cron: cronAt(settingsOccurrence), job: jobTemplate() },
      }),
    },
  });
  for (const name of ['a.txt', 'b.txt']) await product.store.write('inputs', `triggers/${name}`, name);
}, 30_000);

afterAll(async () => {
  await product?.stop();
});

async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function jobIds(prefix: string): Promise<string[]> {
  const { jobs } = await product.client.list({ top: 500 });
  return jobs
    .map((job) => job.id)
    .filter((id) => id.startsWith(prefix))
    .sort();
}

const jobExists = (id: string) =>
  product.client.get(id).then(
    (view) => view,
    () => undefined,
  );

async function invokeAdmin(name: string, body: unknown): Promise<number> {
  const response = await fetch(`${product.url}/admin/functions/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.text();
  return response.status;
}

/** The blob trigger delivery the host makes for an upload, sent again by hand. */
function deliverBlob(name: string, content: string, etag: string): Promise<number> {
  return invokeAdmin('SubmitFromBlob', {
    input: content,
    triggerMetadata: { name, blobTrigger: `jobs/${name}`, properties: { etag } },
  });
}

function tick(last: Date, isPastDue = false): Promise<number> {
  return invokeAdmin('RunSchedules', {
    input: { isPastDue, scheduleStatus: { last: last.toISOString(), next: new Date().toISOString() } },
  });
}

describe('blob trigger', () => {
  const specText = stringify(jobTemplate());

  it('starts a job named after the uploaded blob, once per upload, and a new run for a new upload', async () => {
    const first = await product.store.write('jobs', 'nightly-score.yml', specText);
    const firstId = blobJobId('nightly-score.yml', first.etag);
    const started = await eventually(() => jobExists(firstId), `job ${firstId}`);
    expect(started.name).toBe('nightly-score');
    const done = await product.client.wait(firstId, { intervalMs: 100 });
    expect(done.status).toBe('Completed');
    expect(done.counters).toMatchObject({ miniBatches: 2, itemsSucceeded: 2, itemsFailed: 0 });

    // The same upload delivered again (Event Grid delivers at least once) starts nothing.
    expect(await deliverBlob('nightly-score.yml', specText, first.etag)).toBe(202);
    expect(await jobIds('blob.nightly-score-')).toEqual([firstId]);
    expect((await product.client.get(firstId)).created_time).toBe(started.created_time);

    // Uploading the same name again is a new upload: a new etag, a second run.
    const second = await product.store.write('jobs', 'nightly-score.yml', specText);
    const secondId = blobJobId('nightly-score.yml', second.etag);
    expect(secondId).not.toBe(firstId);
    await eventually(() => jobExists(secondId), `job ${secondId}`);
    expect((await product.client.wait(secondId, { intervalMs: 100 })).status).toBe('Completed');
    expect(await jobIds('blob.nightly-score-')).toEqual([firstId, secondId].sort());
  });

  it('rejects a bad spec with a record of every problem and its field path, and starts nothing', async () => {
    const bad = stringify(jobTemplate({ mini_batch_size: 'ten', retry_settings: { timeout: 0 } }));
    const written = await product.store.write('jobs', 'broken.yaml', bad);
    const record = await eventually(
      async () => (await product.store.stat('jobs', '_rejected/broken.yaml.json')) && true,
      'the rejection record',
    ).then(() => product.store.readJson('jobs', '_rejected/broken.yaml.json', rejectionRecordSchema));
    expect(record).toMatchObject({ blob: 'jobs/broken.yaml', code: 'SPEC_INVALID' });
    // The listing gives the etag without quotes, an upload's answer with them: the same upload either way.
    expect(plainEtag(record.etag)).toBe(plainEtag(written.etag));
    expect(record.issues.map((issue) => issue.path).sort()).toEqual([
      'mini_batch_size',
      'retry_settings.timeout',
    ]);
    expect(record.message).toMatch(/mini_batch_size/);
    expect(await jobExists(blobJobId('broken.yaml', written.etag))).toBeUndefined();
    expect(await jobIds('blob.broken')).toEqual([]);

    // The record itself lands in jobs/ and fires the trigger too: it is ignored, not rejected in turn.
    expect(await deliverBlob('_rejected/broken.yaml.json', JSON.stringify(record), '"0x77"')).toBe(202);
    expect(await product.store.stat('jobs', '_rejected/_rejected/broken.yaml.json.json')).toBeUndefined();
  });

  it('ignores names that are not .yml, .yaml or .json', async () => {
    const written = await product.store.write('jobs', 'notes.txt', specText);
    expect(await deliverBlob('notes.txt', specText, written.etag)).toBe(202);
    expect(await jobExists(blobJobId('notes.txt', written.etag))).toBeUndefined();
    expect(await jobIds('blob.notes')).toEqual([]);
    expect(await product.store.stat('jobs', '_rejected/notes.txt.json')).toBeUndefined();
  });
});

describe('schedules', () => {
  /** Writes a schedule blob whose only occurrence is a second or two from now, and waits until it has passed. */
  async function scheduleJustDue(name: string, job: Record<string, unknown> = jobTemplate()): Promise<Date> {
    const occurrence = new Date(Math.floor(Date.now() / 1000) * 1000 + 2000);
    await product.store.write('schedules', `${name}.yml`, stringify({ cron: cronAt(occurrence), job }));
    await new Promise((resolve) => setTimeout(resolve, occurrence.getTime() + 200 - Date.now()));
    return occurrence;
  }

  it('a tick at an occurrence starts one job; a repeated tick and a late tick start nothing new', async () => {
    const occurrence = await scheduleJustDue('hourly-report');
    const id = scheduleJobId('hourly-report', occurrence);
    expect(await tick(new Date(occurrence.getTime() - 30_000))).toBe(202);
    const started = await eventually(() => jobExists(id), `job ${id}`);
    expect(started.name).toBe('hourly-report');
    expect((await product.client.wait(id, { intervalMs: 100 })).status).toBe('Completed');

    expect(await tick(new Date(occurrence.getTime() - 30_000))).toBe(202);
    expect(await tick(new Date(occurrence.getTime() - 3_600_000), true)).toBe(202);
    expect(await jobIds('sched.hourly-report.')).toEqual([id]);
    expect((await product.client.get(id)).created_time).toBe(started.created_time);
  });

  it('a broken schedule gets a rejection record and does not stop the others', async () => {
    await product.store.write(
      'schedules',
      'broken.yml',
      stringify({ cron: '0 3 * *', job: jobTemplate({ mini_batch_size: 'ten' }) }),
    );
    const occurrence = await scheduleJustDue('still-runs');
    expect(await tick(new Date(occurrence.getTime() - 30_000))).toBe(202);

    const record = await product.store.readJson(
      'schedules',
      '_rejected/broken.json',
      scheduleRejectionRecordSchema,
    );
    expect(record).toMatchObject({
      schedule: 'broken',
      origin: 'schedules/broken.yml',
      code: 'SCHEDULE_INVALID',
    });
    expect(record.issues.map((issue) => issue.path).sort()).toEqual(['cron']);
    expect(await jobIds('sched.broken')).toEqual([]);
    await eventually(() => jobExists(scheduleJobId('still-runs', occurrence)), 'the good schedule job');

    // Once the cron is fixed, the job template's own problem is reported, with its path under job.
    await product.store.write(
      'schedules',
      'broken.yml',
      stringify({ cron: '0 3 * * *', job: jobTemplate({ mini_batch_size: 'ten' }) }),
    );
    expect(await tick(new Date(Date.now() - 30_000))).toBe(202);
    const updated = await product.store.readJson(
      'schedules',
      '_rejected/broken.json',
      scheduleRejectionRecordSchema,
    );
    expect(updated.issues.map((issue) => issue.path)).toEqual(['job.mini_batch_size']);

    // Fixed: the record no longer describes anything and is removed.
    await product.store.write(
      'schedules',
      'broken.yml',
      stringify({ cron: '0 3 * * *', job: jobTemplate() }),
    );
    expect(await tick(new Date(Date.now() - 30_000))).toBe(202);
    expect(await product.store.stat('schedules', '_rejected/broken.json')).toBeUndefined();
  });

  it('a job the submission refuses (no such task module) rejects the schedule, and the record stays', async () => {
    const template = jobTemplate({ task: { type: 'run_function', code: '.', entry_script: 'not-there.js' } });
    const occurrence = await scheduleJustDue('no-task', template);
    expect(await tick(new Date(occurrence.getTime() - 30_000))).toBe(202);
    const record = await product.store.readJson(
      'schedules',
      '_rejected/no-task.json',
      scheduleRejectionRecordSchema,
    );
    expect(record).toMatchObject({ schedule: 'no-task', code: 'SCHEDULE_INVALID' });
    expect(record.issues.map((issue) => issue.path)).toEqual(['job.task.entry_script']);
    expect(await jobIds('sched.no-task')).toEqual([]);

    // The schedule reads as valid on the next tick, but it has not changed: its record is kept.
    expect(await tick(new Date(Date.now() - 10_000))).toBe(202);
    expect(await product.store.stat('schedules', '_rejected/no-task.json')).toBeDefined();
  });

  it('schedules declared in the app settings start their occurrence once', async () => {
    const id = scheduleJobId('from-settings', settingsOccurrence);
    expect(await tick(new Date(settingsOccurrence.getTime() - 10_000))).toBe(202);
    await eventually(() => jobExists(id), `job ${id}`);
    expect(await tick(new Date(settingsOccurrence.getTime() - 10_000), true)).toBe(202);
    expect(await jobIds('sched.from-settings.')).toEqual([id]);
  });
});
