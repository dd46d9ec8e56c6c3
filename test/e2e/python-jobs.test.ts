import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobView } from '../../src/api/wire';
import { manifestSchema } from '../../src/activities/manifest';
import { resolveInputLocation } from '../../src/storage/inputs';
import { jobFolder } from '../../src/storage/layout';
import { startProductHost, type ProductHost } from '../support/productHost';
import { TEST_PYTHON } from '../support/python';

// Azure ML-shaped Python jobs on the local host (the built app in a child process, its own Azurite):
// submitted over HTTP, run on warm Python processes, finalized.

let product: ProductHost;
const workDir = mkdtempSync(path.join(os.tmpdir(), 'python-jobs-work-'));

beforeAll(async () => {
  product = await startProductHost({
    pollIntervalMs: 50,
    settings: {
      PARALLEL_JOB_PYTHON: TEST_PYTHON,
      PARALLEL_JOB_WORK_DIR: workDir,
      PARALLEL_JOB_MAX_SIDE_INPUT_BYTES: '1024',
    },
  });
}, 30_000);

afterAll(async () => {
  await product?.stop();
});

async function submit(
  spec: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${product.url}/api/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function run(spec: Record<string, unknown>): Promise<JobView> {
  const answer = await submit(spec);
  expect(answer.status).toBe(202);
  return product.client.wait(String(answer.body.id), { intervalMs: 100 });
}

async function rowsOf(view: JobView, output: string): Promise<string[]> {
  const location = resolveInputLocation(view.outputs[output]!, { accountUrl: product.store.accountUrl });
  return (await product.store.readText(location.container, location.prefix)).split('\n').filter(Boolean);
}

async function namesUnder(prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of product.store.list('outputs', prefix)) names.push(blob.name.slice(prefix.length));
  return names.sort();
}

describe('Python jobs on the local host', () => {
  it('runs an Azure ML file-scoring job unchanged: a model side input, argparse, rows in input order', async () => {
    const files: [string, string][] = [
      ['a.txt', 'aaaa'],
      ['b.txt', 'bb'],
      ['c.txt', 'c'],
    ];
    for (const [name, text] of files) await product.store.write('inputs', `py-score/data/${name}`, text);
    await product.store.write('inputs', 'py-score/model/weights.txt', '3');
    const view = await run({
      name: 'py-score',
      inputs: {
        data: { type: 'uri_folder', path: 'inputs/py-score/data' },
        model: { type: 'uri_folder', path: 'inputs/py-score/model' },
      },
      outputs: { scores: { type: 'uri_folder' } },
      input_data: '${{inputs.data}}',
      mini_batch_size: '2',
      task: {
        code: 'python',
        entry_script: 'score_files.py',
        program_arguments: '--model ${{inputs.model}} --error_threshold 0',
        append_row_to: '${{outputs.scores}}',
      },
    });
    expect(view.status).toBe('Completed');
    const rows = await rowsOf(view, 'scores');
    expect(rows.map((row) => row.replace(/ \(model .*\)$/, ''))).toEqual([
      'a.txt: 12',
      'b.txt: 6',
      'c.txt: 3',
    ]);
    // The model came from this host's read-only cache.
    expect(rows[0]).toMatch(new RegExp(`\\(model ${workDir}/side-inputs/[0-9a-f]{32}\\)$`));
  });

  it("publishes only the winning attempt's output folder files, lists them in the manifest, and retries the rest", async () => {
    for (const [index, mode] of ['flaky', 'write', 'write'].entries())
      await product.store.write('inputs', `py-write/data/m${index}.txt`, mode);
    const view = await run({
      name: 'py-write',
      inputs: { data: { type: 'uri_folder', path: 'inputs/py-write/data' } },
      outputs: { models: { type: 'uri_folder' } },
      input_data: '${{inputs.data}}',
      mini_batch_size: '1',
      retry_settings: { max_retries: 2, timeout: 30 },
      task: {
        code: 'python',
        entry_script: 'writer.py',
        program_arguments: '--model_folder ${{outputs.models}}',
      },
    });
    expect(view.status).toBe('Completed');
    expect(view.counters).toMatchObject({ succeeded: 3, failed: 0, retried: 1 });
    // m0's first attempt wrote m0.bin and failed: that file never appears; its retry's does.
    expect(await namesUnder(`${view.id}/models/`)).toEqual([
      'models/m0.bin',
      'models/m1.bin',
      'models/m2.bin',
    ]);
    expect(await product.store.readText('outputs', `${view.id}/models/models/m0.bin`)).toBe(
      'model of m0, attempt 2',
    );
    const manifest = await product.store.readJson('logs', jobFolder(view.id).manifest, manifestSchema);
    expect(manifest.miniBatches.map((entry) => entry.files)).toEqual([
      { models: ['models/m0.bin'] },
      { models: ['models/m1.bin'] },
      { models: ['models/m2.bin'] },
    ]);
    // The failed attempt's log folder file is kept with its logs.
    expect(await product.store.readText('logs', `${jobFolder(view.id).attemptFiles(0, 1)}m0.log`)).toBe(
      'log of m0',
    );
  });

  it('runs a table job on pandas DataFrames and writes their rows as Azure ML does', async () => {
    await product.store.write(
      'inputs',
      'py-table/sales.csv',
      'id,name,mode\n1,Smith Anna,frame\n2,Lee,frame\n3,"O\'Brien, Pat",frame\n',
    );
    const view = await run({
      name: 'py-table',
      inputs: { sales: { type: 'mltable', path: 'inputs/py-table' } },
      outputs: { scored: { type: 'uri_folder' } },
      input_data: '${{inputs.sales}}',
      mini_batch_size: '1mb',
      task: { code: 'python', entry_script: 'table.py', append_row_to: '${{outputs.scored}}' },
    });
    expect(view.status).toBe('Completed');
    expect(await rowsOf(view, 'scored')).toEqual(['1 "Smith Anna" 10', '2 Lee 20', '3 "O\'Brien, Pat" 30']);
  });

  it('refuses a side input over PARALLEL_JOB_MAX_SIDE_INPUT_BYTES at submission, naming the input', async () => {
    await product.store.write('inputs', 'py-big/model/weights.bin', 'x'.repeat(4096));
    await product.store.write('inputs', 'py-big/data/a.txt', 'a');
    const answer = await submit({
      name: 'py-big',
      inputs: {
        data: { type: 'uri_folder', path: 'inputs/py-big/data' },
        model: { type: 'uri_folder', path: 'inputs/py-big/model' },
      },
      input_data: '${{inputs.data}}',
      task: {
        code: 'python',
        entry_script: 'score_files.py',
        program_arguments: '--model ${{inputs.model}}',
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'SPEC_INVALID',
      issues: [
        {
          path: 'inputs.model.path',
          message:
            "'inputs/py-big/model' holds more than 1.0 KiB (the app setting PARALLEL_JOB_MAX_SIDE_INPUT_BYTES), which every host downloads before the task starts; raise the setting, or point the input at a smaller folder",
        },
      ],
    });
  });
});

describe('Python entry scripts where the app cannot run them', () => {
  const spec = {
    name: 'py-refused',
    inputs: { data: { type: 'uri_folder', path: 'inputs/py-refused' } },
    input_data: '${{inputs.data}}',
    task: { code: 'python', entry_script: 'behaviours.py' },
  };

  it.each([
    [
      { PARALLEL_JOB_PYTHON: '/nonexistent/python3' },
      "the Python interpreter '/nonexistent/python3' was not found: install Python 3.8 or newer, or set the app setting PARALLEL_JOB_PYTHON to its path",
    ],
    [
      { PARALLEL_JOB_PYTHON: TEST_PYTHON, PARALLEL_JOB_HOSTING_PLAN: 'flexconsumption' },
      'this app runs on Flex Consumption, which runs JavaScript and TypeScript tasks only; deploy the container option to run Python entry scripts (docs/deploy.md, "Hosting plans: which tasks run where"), or port the script to a .js or .ts module',
    ],
  ])('refuses the job at submission with a 400 naming task.entry_script (%o)', async (settings, message) => {
    const refusing = await startProductHost({ settings });
    try {
      const response = await fetch(`${refusing.url}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; issues: unknown[] } };
      expect(body.error.code).toBe('SPEC_INVALID');
      expect(body.error.issues).toEqual([{ path: 'task.entry_script', message }]);
      // Nothing was started.
      expect((await refusing.client.list()).jobs).toEqual([]);
    } finally {
      await refusing.stop();
    }
  });
});
