import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { MiniBatchDescriptor } from '../../../src/plan/descriptor';
import { jobFolder } from '../../../src/storage/layout';
import { runMiniBatch } from '../../../src/activities/runMiniBatch';
import { pinSideInputs } from '../../../src/storage/sideInputs';
import { useActivityJobs } from '../../support/activityJobs';

// Python attempts through the activity, against a real Azurite: files on disk at their planned version,
// tables as DataFrames with bad records isolated first, partitions with their keys.

const env = useActivityJobs();
const { inputs, outputs, logs, writeJob, upload } = env;

/** The rows staged on the job's output blob, committed as they are (what finalize would do for one attempt). */
async function stagedRows(jobId: string): Promise<string[]> {
  const blob = `${jobId}/parallel_run_step.txt`;
  const { uncommitted } = await env.store.listBlocks(outputs, blob);
  await env.store.commitBlocks(outputs, blob, uncommitted);
  return (await env.store.readText(outputs, blob)).trimEnd().split('\n');
}

function attemptFolders(): string[] {
  const folder = path.join(env.workDir, 'attempts');
  return existsSync(folder) ? readdirSync(folder) : [];
}

describe('Python file input', () => {
  it('gives run() local paths, downloaded at the planned version into a folder removed afterwards', async () => {
    const jobId = 'py-files';
    await upload('py/files/a.txt', 'aaaa');
    await upload('py/files/sub/b.txt', 'bb');
    await upload('models/v1/weights.txt', '3');
    const a = await env.store.stat(inputs, 'py/files/a.txt');
    const b = await env.store.stat(inputs, 'py/files/sub/b.txt');
    const job = {
      inputs: {
        data: { type: 'uri_folder' as const, path: `${inputs}/py/files`, mode: 'ro_mount' },
        model: { type: 'uri_folder' as const, path: `${inputs}/models/v1`, mode: 'ro_mount' },
      },
      inputData: { name: 'data', type: 'uri_folder' as const, path: `${inputs}/py/files`, mode: 'ro_mount' },
      task: {
        code: 'tasks/python',
        entryScript: 'score_files.py',
        programArguments: `--model ${inputs}/models/v1`,
        argv: ['--model', `${inputs}/models/v1`],
        argvParts: [['--model'], [{ input: 'model' }]],
      },
    };
    const sideInputs = await pinSideInputs(env.store, env.deps.access, job, 1024 ** 3);
    const descriptor: MiniBatchDescriptor = {
      kind: 'files',
      index: 0,
      files: [
        { name: 'py/files/a.txt', size: 4, etag: a!.etag },
        { name: 'py/files/sub/b.txt', size: 2, etag: b!.etag },
      ],
    };
    await writeJob({
      jobId,
      kind: 'files',
      entryScript: 'score_files.py',
      code: 'tasks/python',
      descriptors: [descriptor],
      job,
      record: { sideInputs },
    });
    const before = attemptFolders();
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({ status: 'succeeded', items: 2, succeeded: 2, rows: 2 });
    expect(attemptFolders()).toEqual(before);
    const modelPath = path.join(env.workDir, 'side-inputs', sideInputs[0]!.key);
    expect(await stagedRows(jobId)).toEqual([
      `a.txt: 12 (model ${modelPath})`,
      `b.txt: 6 (model ${modelPath})`,
    ]);
    // A silent success writes no log.
    expect(await env.store.stat(logs, jobFolder(jobId).attemptLog(0, 1))).toBeUndefined();

    // A changed file fails the mini-batch with INPUT_CHANGED, not retried.
    await upload('py/files/sub/b.txt', 'changed');
    const changed = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 2 });
    expect(changed.receipt).toMatchObject({
      status: 'failed',
      code: 'INPUT_CHANGED',
      retryable: false,
      failed: 2,
    });
    expect(changed.receipt.message).toContain("'py/files/sub/b.txt'");
    expect(attemptFolders()).toEqual(before);
  });
});

describe('Python table input', () => {
  it('gives run() a DataFrame of the good records, typed by pandas, with bad records as failed items', async () => {
    const jobId = 'py-table';
    const text = [
      'id,name,price,note,mode',
      '1,"Smith, Anna",3.5,,types',
      '2,"He said ""hi""",4,x,types',
      '3,too,many,fields,here,types',
      '4,plain,,"two',
      'lines",types',
      '',
    ].join('\n');
    const size = await upload('py/table.csv', text);
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'table.py',
      code: 'tasks/python',
      descriptors: [
        {
          kind: 'tabular',
          index: 0,
          blob: 'py/table.csv',
          format: 'csv',
          start: 0,
          end: size,
          fileSize: size,
        },
      ],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    // Three good records ran; the ragged one is a failed item of the mini-batch.
    expect(attempt.receipt).toMatchObject({ status: 'partial', items: 4, succeeded: 3, failed: 1 });
    expect(attempt.failedItems).toEqual([
      {
        item: {
          blob: 'py/table.csv',
          line: 4,
          offset: expect.any(Number),
          text: '3,too,many,fields,here,types',
        },
        error: '6 fields where the header has 5',
      },
    ]);
    const columns = (await stagedRows(jobId)).map(
      (line) => JSON.parse(line) as { column?: string; values?: unknown[] },
    );
    expect(columns.slice(0, 4)).toEqual([
      { column: 'id', dtype: 'int64', values: [1, 2, 4] },
      { column: 'name', dtype: 'object', values: ['Smith, Anna', 'He said "hi"', 'plain'] },
      { column: 'price', dtype: 'float64', values: [3.5, 4, null] },
      { column: 'note', dtype: 'object', values: [null, 'x', 'two\nlines'] },
    ]);
  });

  it('gives run() a DataFrame of JSON Lines objects: their keys are the columns, typed by their values', async () => {
    const jobId = 'py-jsonl';
    const lines = [
      { id: 1, name: 'a', score: 0.5, tags: ['x'] },
      { id: 2, name: 'b', extra: true },
      'not json',
      { id: 3, name: null, score: 2 },
    ].map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
    const size = await upload('py/table.jsonl', `${lines.join('\n')}\n`);
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'table.py',
      code: 'tasks/python',
      descriptors: [
        {
          kind: 'tabular',
          index: 0,
          blob: 'py/table.jsonl',
          format: 'jsonl',
          start: 0,
          end: size,
          fileSize: size,
        },
      ],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({ status: 'partial', items: 4, succeeded: 3, failed: 1 });
    const columns = (await stagedRows(jobId)).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(columns.slice(0, 5)).toEqual([
      { column: 'id', dtype: 'int64', values: [1, 2, 3] },
      { column: 'name', dtype: 'object', values: ['a', 'b', null] },
      { column: 'score', dtype: 'float64', values: [0.5, null, 2] },
      { column: 'tags', dtype: 'object', values: [['x'], null, null] },
      { column: 'extra', dtype: 'object', values: [null, true, null] },
    ]);
  });

  it('gives a partition mini-batch its files as one DataFrame and its keys in mini_batch_context', async () => {
    const jobId = 'py-partition';
    await upload('py/parts/region=eu/a.csv', 'id,name,mode\n1,x,types\n2,y,types\n');
    await upload('py/parts/region=eu/b.csv', 'id,name,mode\n3,z,types\n');
    const descriptor: MiniBatchDescriptor = {
      kind: 'partition',
      index: 0,
      keys: { region: 'eu' },
      format: 'csv',
      files: [
        { name: 'py/parts/region=eu/a.csv', size: 30 },
        { name: 'py/parts/region=eu/b.csv', size: 20 },
      ],
    };
    await writeJob({
      jobId,
      kind: 'partition',
      entryScript: 'table.py',
      code: 'tasks/python',
      descriptors: [descriptor],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 3 });
    expect(attempt.receipt).toMatchObject({ status: 'succeeded', items: 3, succeeded: 3 });
    const rows = (await stagedRows(jobId)).map((line) => JSON.parse(line) as unknown);
    expect(rows).toEqual([
      { column: 'id', dtype: 'int64', values: [1, 2, 3] },
      { column: 'name', dtype: 'object', values: ['x', 'y', 'z'] },
      { column: 'mode', dtype: 'object', values: ['types', 'types', 'types'] },
      { partition_key_value: { region: 'eu' }, minibatch_index: 0, attempt: 3, rows: 3 },
    ]);
  });
});
