import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { nextContinuation } from '../../src/client/client';
import { JobNotFoundError, validationIssueSchema } from '../../src/errors';
import { parseJobText } from '../../src/job/load';
import { jobStatusSchema } from '../../src/job/status';
import { resolveInputLocation } from '../../src/storage/inputs';
import type { JobView } from '../../src/api/wire';
import { startProductHost, type ProductHost } from '../support/productHost';

/** The HTTP API as a user drives it: fetch for status codes and bodies, the client for the rest. */

let product: ProductHost;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'http-api-'));
const loadMarker = path.join(scratch, 'load-marker.txt');

beforeAll(async () => {
  // load-marker.js writes this file when it is loaded anywhere in the host's process.
  process.env.PJ_LOAD_MARKER = loadMarker;
  product = await startProductHost({ pollIntervalMs: 50 });
}, 30_000);

afterAll(async () => {
  await product?.stop();
  delete process.env.PJ_LOAD_MARKER;
});

const names = (count: number) =>
  Array.from({ length: count }, (_, i) => `f-${String(i).padStart(3, '0')}.txt`);

/** Uploads one small text file per entry under inputs/<prefix>/; returns the file names in order. */
async function uploadInputs(prefix: string, texts: string[]): Promise<string[]> {
  const files = names(texts.length);
  for (const [i, text] of texts.entries()) await product.store.write('inputs', `${prefix}/${files[i]}`, text);
  return files;
}

function jobSpec(
  prefix: string,
  entryScript: string,
  fields: { programArguments?: string; miniBatchSize?: string; concurrency?: number; name?: string } = {},
) {
  return {
    name: fields.name ?? `http-${prefix}`,
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: `inputs/${prefix}` } },
    outputs: { rows: { type: 'uri_folder' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: fields.miniBatchSize ?? '1',
    max_concurrency_per_instance: fields.concurrency ?? 2,
    retry_settings: { max_retries: 0, timeout: 30 },
    task: {
      type: 'run_function',
      code: '.',
      entry_script: entryScript,
      program_arguments: fields.programArguments ?? '',
      append_row_to: '${{outputs.rows}}',
    },
  };
}

async function post(route: string, body: string, contentType: string) {
  const response = await fetch(`${product.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const submitted = z.object({
  id: z.string(),
  created: z.boolean(),
  status_url: z.string(),
  view_url: z.string(),
});

async function waitEnded(id: string): Promise<JobView> {
  return product.client.wait(id, { intervalMs: 100 });
}

async function readLog(id: string, name: string): Promise<string> {
  return product.store.readText('logs', `${id}/${name}`);
}

const manifestSchema = z.object({
  status: z.string(),
  miniBatches: z.array(z.object({ index: z.number(), status: z.enum(['SUCCEEDED', 'FAILED', 'PENDING']) })),
});

/** The single append-row output blob of a finished job, as lines. */
async function outputLines(view: JobView): Promise<string[]> {
  const location = resolveInputLocation(view.outputs.rows!, { accountUrl: product.store.accountUrl });
  const text = await product.store.readText(location.container, location.prefix);
  return text.split('\n').filter(Boolean);
}

describe('submit', () => {
  it('accepts a YAML body and a JSON body with 202, the id and the status URLs, and runs both', async () => {
    const files = await uploadInputs('submit', ['a', 'b', 'c']);
    const spec = jobSpec('submit', 'slow.js', { programArguments: '--sleep_ms 10' });
    const yamlText = [
      'name: yaml-submit',
      'type: parallel',
      'inputs:',
      '  data: {type: uri_folder, path: inputs/submit}',
      'outputs:',
      '  rows: {type: uri_folder}',
      'input_data: ${{inputs.data}}',
      "mini_batch_size: '2'",
      'task:',
      '  code: .',
      '  entry_script: slow.js',
      '  program_arguments: --sleep_ms 10',
      '  append_row_to: ${{outputs.rows}}',
    ].join('\n');
    const fromYaml = await post('/api/jobs', yamlText, 'application/yaml');
    const fromJson = await post('/api/jobs', JSON.stringify(spec), 'application/json');
    for (const answer of [fromYaml, fromJson]) {
      expect(answer.status).toBe(202);
      const body = submitted.parse(answer.body);
      expect(body.created).toBe(true);
      expect(body.status_url).toBe(`${product.url}/api/jobs/${body.id}`);
      expect(body.view_url).toBe(`${product.url}/api/jobs/${body.id}/view`);
      const status = await fetch(body.status_url);
      expect(status.status).toBe(200);
    }
    const yamlId = submitted.parse(fromYaml.body).id;
    expect(yamlId).toMatch(/^yaml-submit-/);
    for (const id of [yamlId, submitted.parse(fromJson.body).id]) {
      const view = await waitEnded(id);
      expect(view.status).toBe('Completed');
      expect(await outputLines(view)).toEqual(files.map((f, i) => `${f},${'abc'[i]}`));
    }
  });

  it('answers a YAML spec with several mistakes with 400 and every problem, its field path, line and column', async () => {
    const yamlText = [
      'name: broken',
      'type: parallel',
      'inputs:',
      '  data: {type: uri_folder, path: inputs/x}',
      'input_data: ${{inputs.missing}}',
      "mini_batch_sise: '2'",
      'retry_settings:',
      '  max_retries: -3',
      'task:',
      '  entry_script: noop.js',
    ].join('\n');
    const before = (await product.host.stats()).instances;
    const answer = await post('/api/jobs', yamlText, 'application/yaml');
    expect(answer.status).toBe(400);
    const error = z
      .object({
        code: z.literal('SPEC_INVALID'),
        message: z.string(),
        issues: z.array(validationIssueSchema),
      })
      .parse(answer.body.error);
    const byPath = new Map(error.issues.map((issue) => [issue.path, issue]));
    expect([...byPath.keys()]).toEqual(
      expect.arrayContaining(['mini_batch_sise', 'retry_settings.max_retries', 'input_data']),
    );
    expect(byPath.get('mini_batch_sise')).toMatchObject({ line: 6, column: 1 });
    expect(byPath.get('retry_settings.max_retries')).toMatchObject({ line: 8 });
    expect(byPath.get('input_data')).toMatchObject({ line: 5 });
    expect((await product.host.stats()).instances).toBe(before);
  });

  it('answers a JSON spec with several mistakes with 400 and every problem with its field path', async () => {
    const spec = jobSpec('nothing', 'noop.js') as Record<string, unknown>;
    const answer = await post(
      '/api/jobs',
      JSON.stringify({
        ...spec,
        mini_batch_size: 'ten',
        error_threshold: -7,
        max_concurrency_per_instance: 0,
      }),
      'application/json',
    );
    expect(answer.status).toBe(400);
    const paths = (answer.body.error as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['mini_batch_size', 'error_threshold', 'max_concurrency_per_instance']),
    );
    const notJson = await post('/api/jobs', '{"name": ', 'application/json');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatchObject({ code: 'SPEC_INVALID' });
  });

  it('starts nothing when the same ?id= is submitted twice: the second answers 200 with created false', async () => {
    await uploadInputs('twice', ['x', 'y']);
    const callsDir = path.join(scratch, 'twice-calls');
    const body = JSON.stringify(
      jobSpec('twice', 'fixable.js', { programArguments: `--calls_dir ${callsDir}` }),
    );
    const first = await post('/api/jobs?id=client-given-1', body, 'application/json');
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ id: 'client-given-1', created: true });
    const whileRunning = await post('/api/jobs?id=client-given-1', body, 'application/json');
    expect(whileRunning.status).toBe(200);
    expect(whileRunning.body).toMatchObject({ id: 'client-given-1', created: false });
    const ended = await waitEnded('client-given-1');
    const afterwards = await post('/api/jobs?id=client-given-1', body, 'application/json');
    expect(afterwards.status).toBe(200);
    expect(afterwards.body).toMatchObject({ id: 'client-given-1', created: false });
    await product.host.whenIdle();
    // The task ran once per mini-batch: no second run of the job started.
    expect(readdirSync(callsDir)).toHaveLength(2);
    const view = await product.client.get('client-given-1');
    expect(view).toEqual(ended);
    expect(view.counters).toMatchObject({ miniBatches: 2, scheduled: 2, succeeded: 2 });
  });
});

describe('get and list', () => {
  it('GET /api/jobs/{id} has the seed shape: status vocabulary, counters, log_files, studio_url to /view', async () => {
    await uploadInputs('shape', ['1', '2', '3', '4']);
    const { id } = await product.client.submit(
      jobSpec('shape', 'slow.js', { programArguments: '--sleep_ms 10', miniBatchSize: '2' }),
    );
    const running = await product.client.get(id);
    expect(jobStatusSchema.options).toContain(running.status);
    const view = await waitEnded(id);
    const response = await fetch(`${product.url}/api/jobs/${id}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as JobView;
    expect(body).toEqual(view);
    expect(body).toMatchObject({
      id,
      name: 'http-shape',
      status: 'Completed',
      runtime_status: 'Completed',
      studio_url: `${product.url}/api/jobs/${id}/view`,
    });
    expect(body.counters).toMatchObject({
      miniBatches: 2,
      scheduled: 2,
      succeeded: 2,
      failed: 0,
      itemsSucceeded: 4,
      itemsFailed: 0,
      rows: 4,
    });
    expect(Object.keys(body.log_files)).toEqual(
      expect.arrayContaining(['job_result', 'manifest', 'failed_items', 'processed_mini_batches']),
    );
    expect(Object.keys(body.outputs)).toEqual(['rows']);
    expect(Date.parse(body.created_time)).not.toBeNaN();
    expect((await fetch(body.studio_url!)).status).toBe(200);

    // Outputs and logs read through the app with the client (no storage credentials needed).
    expect((await product.client.file(id, 'outputs', 'rows')).toString('utf8')).toBe(
      ['f-000.txt,1', 'f-001.txt,2', 'f-002.txt,3', 'f-003.txt,4'].map((line) => `${line}\n`).join(''),
    );
    const result = JSON.parse((await product.client.file(id, 'logs', 'job_result')).toString('utf8'));
    expect(result).toMatchObject({ job_id: id, status: 'Completed' });
    const attemptLog = await product.client.file(
      id,
      'logs',
      'user_logs',
      'mini_batch_000000001/attempt_001.log.txt',
    );
    expect(attemptLog.length).toBeGreaterThan(0);
    await expect(product.client.file(id, 'logs', 'no-such-log')).rejects.toMatchObject({
      code: 'JOB_FILE_NOT_FOUND',
      status: 404,
    });
  });

  it('answers an unknown id with 404 JOB_NOT_FOUND (and the client throws JobNotFoundError)', async () => {
    for (const route of ['', '/spec', '/view']) {
      const response = await fetch(`${product.url}/api/jobs/no-such-job${route}`);
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
    }
    const cancel = await fetch(`${product.url}/api/jobs/no-such-job/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(404);
    await expect(product.client.get('no-such-job')).rejects.toBeInstanceOf(JobNotFoundError);
  });

  it('lists jobs from the job index in pages (top, next), newest first, and filters by status', async () => {
    await uploadInputs('list', ['1']);
    const spec = jobSpec('list', 'slow.js', { programArguments: '--sleep_ms 1' });
    const submitted: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const id = (await product.client.submit(spec)).id;
      submitted.push(id);
      await waitEnded(id);
    }
    const all = await product.client.list({ top: 500 });
    expect(all.next).toBeUndefined();
    expect(all.jobs.slice(0, 3).map((job) => job.id)).toEqual([...submitted].reverse());
    const created = all.jobs.map((job) => Date.parse(job.created_time));
    expect(created).toEqual([...created].sort((a, b) => b - a));

    // Paging with `next`: at most `top` jobs a page, every job once, in the same order.
    const seen: string[] = [];
    let next: string | undefined = `${product.url}/api/jobs?top=2`;
    let pages = 0;
    while (next) {
      const response = await fetch(next);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { jobs: JobView[]; next?: string };
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.jobs.map((job) => job.id));
      next = page.next;
      pages += 1;
    }
    expect(pages).toBe(Math.ceil(all.jobs.length / 2));
    expect(seen).toEqual(all.jobs.map((job) => job.id));

    // A status filter reads the index until the page is full; a page may stop in the middle of an
    // index page and the next one resumes there (through the client's continuation).
    const completedIds = all.jobs.filter((job) => job.status === 'Completed').map((job) => job.id);
    expect(completedIds.length).toBeGreaterThanOrEqual(3);
    const filtered: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await product.client.list({ status: 'Completed', top: 1, continuation });
      expect(page.jobs.every((job) => job.status === 'Completed')).toBe(true);
      filtered.push(...page.jobs.map((job) => job.id));
      continuation = nextContinuation(page);
    } while (continuation);
    expect(filtered).toEqual(completedIds);
    const canceledCount = all.jobs.filter((job) => job.status === 'Canceled').length;
    expect((await product.client.list({ status: 'Canceled', top: 500 })).jobs).toHaveLength(canceledCount);

    const badFilter = await fetch(`${product.url}/api/jobs?status=Done`);
    expect(badFilter.status).toBe(400);
    const badToken = await fetch(`${product.url}/api/jobs?continuation=not-a-token`);
    expect(badToken.status).toBe(400);
  });
});

describe('cancel', () => {
  it('ends a running job as Canceled with a consistent partial result', async () => {
    const texts = Array.from({ length: 16 }, (_, i) => `t${i}`);
    const files = await uploadInputs('cancel', texts);
    const { id } = await product.client.submit(
      jobSpec('cancel', 'slow.js', { programArguments: '--sleep_ms 300', concurrency: 1 }),
    );
    // Wait for a few mini-batches to finish, then cancel while the rest are still to come.
    let running = await product.client.get(id);
    while (running.counters.succeeded < 2) {
      expect(running.status).not.toBe('Completed');
      await new Promise((resolve) => setTimeout(resolve, 50));
      running = await product.client.get(id);
    }
    // Mini-batches are running on a shard that has not ended yet: the job reads Running, not Queued.
    expect(running.status).toBe('Running');
    const cancel = await fetch(`${product.url}/api/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    const view = await waitEnded(id);
    expect(view.status).toBe('Canceled');

    const manifest = manifestSchema.parse(JSON.parse(await readLog(id, 'manifest.json')));
    expect(manifest.status).toBe('Canceled');
    expect(manifest.miniBatches).toHaveLength(16);
    const succeeded = manifest.miniBatches.filter((m) => m.status === 'SUCCEEDED').map((m) => m.index);
    const pending = manifest.miniBatches.filter((m) => m.status === 'PENDING').map((m) => m.index);
    expect(succeeded.length).toBeGreaterThanOrEqual(2);
    expect(pending.length).toBeGreaterThan(0);
    expect(succeeded.length + pending.length).toBe(16);
    // One worker, in order: the finished ones are a prefix.
    expect(succeeded).toEqual(Array.from({ length: succeeded.length }, (_, i) => i));
    expect(await outputLines(view)).toEqual(succeeded.map((i) => `${files[i]},${texts[i]}`));

    const result = JSON.parse(await readLog(id, 'job_result.json')) as {
      status: string;
      counters: { succeeded: number; failed: number; rows: number };
    };
    expect(result.status).toBe('Canceled');
    expect(result.counters).toMatchObject({ succeeded: succeeded.length, failed: 0, rows: succeeded.length });
    expect(view.counters.succeeded).toBe(succeeded.length);

    const again = await fetch(`${product.url}/api/jobs/${id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
  });
});

describe('rerun', () => {
  it('re-runs only the FAILED and PENDING mini-batches and completes the ordered output', async () => {
    const texts = ['ok0', 'bad', 'ok2', 'ok3', 'bad', 'ok5', 'ok6', 'bad'];
    const files = await uploadInputs('rerun', texts);
    const callsDir = path.join(scratch, 'calls');
    const fixedMarker = path.join(scratch, 'fixed');
    const spec = jobSpec('rerun', 'fixable.js', {
      programArguments: `--calls_dir ${callsDir} --fixed_marker ${fixedMarker}`,
    });
    const { id } = await product.client.submit(spec);
    const first = await waitEnded(id);
    expect(first.counters).toMatchObject({ miniBatches: 8, succeeded: 5, failed: 3 });
    const failedIndexes = [1, 4, 7];
    const firstManifest = manifestSchema.parse(JSON.parse(await readLog(id, 'manifest.json')));
    expect(firstManifest.miniBatches.filter((m) => m.status === 'FAILED').map((m) => m.index)).toEqual(
      failedIndexes,
    );
    expect(await outputLines(first)).toHaveLength(5);
    expect(readdirSync(callsDir)).toHaveLength(8);

    writeFileSync(fixedMarker, 'fixed');
    const rerunAnswer = await fetch(`${product.url}/api/jobs/${id}/rerun`, { method: 'POST' });
    expect(rerunAnswer.status).toBe(202);
    const rerun = submitted.extend({ rerun_of: z.string() }).parse(await rerunAnswer.json());
    expect(rerun.rerun_of).toBe(id);
    expect(rerun.id).not.toBe(id);
    const second = await waitEnded(rerun.id);
    expect(second.status).toBe('Completed');
    expect(second.rerun_of).toBe(id);

    const calls = readdirSync(callsDir).map((name) => Number(name.split('-')[0]));
    const rerunCalls = calls.slice().sort((a, b) => a - b);
    // 8 first-run attempts, then exactly one more for each failed mini-batch.
    expect(rerunCalls.filter((index) => failedIndexes.includes(index))).toHaveLength(6);
    expect(calls).toHaveLength(11);
    const processed = (await readLog(rerun.id, 'sys/job_report/processed_mini_batches.csv'))
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => Number(line.split(',')[0]));
    expect(processed).toEqual(failedIndexes);

    const manifest = manifestSchema.parse(JSON.parse(await readLog(rerun.id, 'manifest.json')));
    expect(manifest.miniBatches.map((m) => m.status)).toEqual(Array(8).fill('SUCCEEDED'));
    expect(await outputLines(second)).toEqual(files.map((file, i) => `${file},${texts[i]}`));
  });

  it('re-runs the planned versions: a failed file rewritten since is INPUT_CHANGED, not read', async () => {
    const texts = ['ok0', 'bad', 'bad'];
    const files = await uploadInputs('pinned', texts);
    const fixedMarker = path.join(scratch, 'pinned-fixed');
    const { id } = await product.client.submit(
      jobSpec('pinned', 'fixable.js', { programArguments: `--fixed_marker ${fixedMarker}` }),
    );
    expect((await waitEnded(id)).counters).toMatchObject({ succeeded: 1, failed: 2 });

    writeFileSync(fixedMarker, 'fixed');
    await product.store.write('inputs', `pinned/${files[2]!}`, 'rewritten after the job');
    const rerun = await product.client.rerun(id);
    const second = await waitEnded(rerun.id);
    // Mini-batch 1 is unchanged and now succeeds; mini-batch 2 would mix versions, so it is not read.
    // That fails only its mini-batch: the job ends as jobs with failed mini-batches do.
    expect(second.status).toBe('Completed');
    expect(second.counters).toMatchObject({ succeeded: 1, failed: 1, retried: 0 });
    expect(second.first_errors).toEqual([
      expect.objectContaining({
        index: 2,
        code: 'INPUT_CHANGED',
        message: expect.stringContaining(files[2]!),
      }),
    ]);
    const manifest = manifestSchema.parse(JSON.parse(await readLog(rerun.id, 'manifest.json')));
    expect(manifest.miniBatches.map((m) => m.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'FAILED']);
  });

  it('refuses to re-run a job that is still running (409)', async () => {
    await uploadInputs('rerun-busy', ['1', '2']);
    const { id } = await product.client.submit(
      jobSpec('rerun-busy', 'slow.js', { programArguments: '--sleep_ms 1500', concurrency: 1 }),
    );
    const answer = await fetch(`${product.url}/api/jobs/${id}/rerun`, { method: 'POST' });
    expect(answer.status).toBe(409);
    await product.client.cancel(id);
    expect((await waitEnded(id)).status).toBe('Canceled');
  });
});

describe('plan', () => {
  it('returns counts, the size distribution and the first mini-batches without loading user code', async () => {
    const texts = Array.from({ length: 7 }, (_, i) => 'x'.repeat(10 * (i + 1)));
    const files = await uploadInputs('plan', texts);
    const spec = {
      ...jobSpec('plan', 'load-marker.js', { miniBatchSize: '3' }),
      environment_variables: { PJ_LOAD_MARKER: loadMarker },
    };
    const answer = await post('/api/plan', JSON.stringify(spec), 'application/json');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      kind: 'files',
      miniBatches: 3,
      items: 7,
      bytes: texts.join('').length,
      itemsPerMiniBatch: { min: 1, median: 3, max: 3 },
      bytesPerMiniBatch: { min: 60, median: 70, max: 150 },
    });
    const first = answer.body.first as Array<{ index: number; files: Array<{ name: string }> }>;
    expect(first.map((batch) => batch.index)).toEqual([0, 1, 2]);
    expect(first[0]!.files.map((file) => path.posix.basename(file.name))).toEqual(files.slice(0, 3));
    expect(existsSync(loadMarker)).toBe(false);

    // The same spec run for real does load the module: the marker proves the check above can fail.
    const view = await waitEnded((await product.client.submit(spec)).id);
    expect(view.status).toBe('Completed');
    expect(existsSync(loadMarker)).toBe(true);
  });

  it('answers a bad spec with 400 and field paths', async () => {
    const yamlText = "type: parallel\nmini_batch_size: 'lots'\ntask:\n  entry_script: noop.js\n";
    const answer = await post('/api/plan', yamlText, 'application/yaml');
    expect(answer.status).toBe(400);
    const issues = (answer.body.error as { issues: Array<{ path: string; line?: number }> }).issues;
    expect(issues.map((issue) => issue.path)).toEqual(
      expect.arrayContaining(['mini_batch_size', 'input_data']),
    );
    expect(issues.find((issue) => issue.path === 'mini_batch_size')?.line).toBe(2);
  });
});

describe('spec dump', () => {
  it('GET /api/jobs/{id}/spec returns YAML that parses back to the submitted spec', async () => {
    await uploadInputs('dump', ['1']);
    const spec = {
      ...jobSpec('dump', 'slow.js', { programArguments: '--sleep_ms 1 --label "two words"' }),
      display_name: 'Dump me',
      tags: { team: 'data', 'cost-center': '42' },
      error_threshold: 3,
    };
    const { id } = await product.client.submit(spec);
    const response = await fetch(`${product.url}/api/jobs/${id}/spec`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/yaml/);
    const text = await response.text();
    expect(parseYaml(text)).toBeTruthy();
    const parsed = parseJobText(text);
    expect(parsed.spec).toEqual(parseJobText(JSON.stringify(spec)).spec);
    expect(parsed.spec).toMatchObject(spec);
    expect(await product.client.spec(id)).toBe(text);
    await waitEnded(id);
  });
});
