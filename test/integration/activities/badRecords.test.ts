import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finalizeActivity } from '../../../src/activities/finalize';
import type { JobRecord } from '../../../src/storage/jobRecord';
import { manifestSchema } from '../../../src/activities/manifest';
import type { RunMiniBatchDeps } from '../../../src/activities/runMiniBatch';
import { jobEnd, recordOf, runAndRecord } from '../../support/records';
import type { RunningAzurite } from '@parallel-job/functions-host';
import { emptyCounters, foldFinal, type Counters } from '../../../src/orchestration/counters';
import { nextStep } from '../../../src/orchestration/attemptOutcome';
import type { MiniBatchDescriptor } from '../../../src/plan/descriptor';
import type { EffectiveSettings } from '../../../src/job/effective';
import type { BlobStore } from '../../../src/storage/blobStore';
import { jobFolder } from '../../../src/storage/layout';
import type { TaskPools } from '../../../src/task/pool';
import { activityDeps } from '../../../src/composition';
import { testAppServices } from '../../support/activityJobs';
import { uniqueContainer, useAzurite } from '../../support/azurite';
import { effectiveJob } from '../../support/jobs';

/** Bad table records through runMiniBatch and finalize, on real Azurite and real worker threads. */

const tasksRoot = path.resolve(__dirname, '../../fixtures');
let azurite: RunningAzurite;
let store: BlobStore;
let pools: TaskPools;
let deps: RunMiniBatchDeps;
const logs = uniqueContainer('logs');
const inputs = uniqueContainer('inputs');
const outputs = uniqueContainer('outputs');
const workDir = mkdtempSync(path.join(os.tmpdir(), 'pj-bad-records-'));

beforeAll(async () => {
  azurite = await useAzurite();
  const services = testAppServices(azurite.connectionString, { logs, inputs, outputs }, workDir);
  ({ store, pools } = services);
  deps = activityDeps(services);
  for (const container of [logs, inputs, outputs]) await store.ensureContainer(container);
});
afterAll(async () => {
  await pools.closeAll();
  await azurite.stop();
  rmSync(workDir, { recursive: true, force: true });
});

async function writeJob(
  jobId: string,
  descriptors: MiniBatchDescriptor[],
  settings: Partial<EffectiveSettings> = {},
): Promise<void> {
  const job = effectiveJob(settings, {
    task: { code: 'tasks', entryScript: 'behaviours.js', programArguments: '', argv: [] },
  });
  const record: JobRecord = {
    jobId,
    generation: 0,
    job,
    plan: {
      kind: 'tabular',
      input: { accountUrl: store.accountUrl, container: inputs, prefix: '' },
      miniBatches: descriptors.length,
      bytes: 0,
      pageSize: 100,
      pages: 1,
    },
    tasksRoot,
    appendRow: { container: outputs, blobs: [`${jobId}/parallel_run_step.txt`], miniBatchesPerBlob: 100 },
    createdAt: new Date().toISOString(),
  };
  const folder = jobFolder(jobId);
  await store.writeJson(logs, folder.jobRecord, record);
  await store.writeJson(logs, folder.planPage(0), { page: 0, first: 0, miniBatches: descriptors });
}

function range(
  index: number,
  blob: string,
  start: number,
  end: number,
  size: number,
  format: 'csv' | 'jsonl',
): MiniBatchDescriptor {
  return { kind: 'tabular', index, blob, format, start, end, fileSize: size };
}

const counts = ({ status, items, succeeded, failed, rows, code, retryable }: Record<string, unknown>) => ({
  status,
  items,
  succeeded,
  failed,
  rows,
  code,
  retryable,
});

async function jsonLines(name: string): Promise<Array<Record<string, unknown>>> {
  return (await store.readText(logs, name))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const ended = (jobId: string, counters: Counters) => jobEnd(jobId, { counters });

describe('bad table records (on_bad_record: fail_item, the default)', () => {
  it('runs the good records, counts each bad one as a failed item with its file line, and reports them everywhere', async () => {
    const jobId = 'job-bad-records';
    const jsonl = [
      '{"id":"a"}',
      '{"id":"b"}',
      'this is not JSON',
      '',
      '{"id":"c"}',
      '[1,2,3]',
      '{"id":"d"}',
      '{"id":"e"',
      '{"id":"f"}',
    ].join('\n');
    await store.write(inputs, 'bad/events.jsonl', `${jsonl}\n`);
    const jsonlSize = Buffer.byteLength(jsonl) + 1;
    // Two ranges of one file, cut in the middle of line 5: the second counts lines from the file start.
    const cut = jsonl.indexOf('{"id":"c"}') + 4;
    const csv = '\ufeffid,name\n1,ann\n2,bob,extra\n3,"two\nlines"\n4\n5,eve\n6,it"s\n7,zed\n';
    await store.write(inputs, 'bad/people.csv', csv);
    const csvSize = Buffer.byteLength(csv);
    await writeJob(jobId, [
      range(0, 'bad/events.jsonl', 0, cut, jsonlSize, 'jsonl'),
      range(1, 'bad/events.jsonl', cut, jsonlSize, jsonlSize, 'jsonl'),
      range(2, 'bad/people.csv', 0, csvSize, csvSize, 'csv'),
    ]);

    const receipts = [];
    for (let index = 0; index < 3; index += 1)
      receipts.push(await runAndRecord(deps, { jobId, index, attempt: 1 }));
    expect(receipts.map(counts)).toEqual([
      { status: 'partial', items: 4, succeeded: 3, failed: 1, rows: 3, code: undefined, retryable: true },
      { status: 'partial', items: 4, succeeded: 2, failed: 2, rows: 2, code: undefined, retryable: true },
      { status: 'partial', items: 7, succeeded: 4, failed: 3, rows: 4, code: undefined, retryable: true },
    ]);
    expect(receipts[0]!.message).toMatch(
      /^1 of 4 items failed: 1 bad record that did not parse \(first: line 3 \(byte 22\) of 'bad\/events.jsonl': not valid JSON \(/,
    );
    // Partial results are final: bad data is not retried.
    expect(receipts.map((receipt) => nextStep(receipt, 2).kind)).toEqual(['final', 'final', 'final']);

    const folder = jobFolder(jobId);
    const offset = (text: string, needle: string) => Buffer.byteLength(text.slice(0, text.indexOf(needle)));
    expect(await jsonLines(folder.badRecords(1, 1))).toEqual([
      {
        blob: 'bad/events.jsonl',
        line: 6,
        offset: offset(jsonl, '[1,2,3]'),
        text: '[1,2,3]',
        error: 'not a JSON object (it is an array)',
      },
      {
        blob: 'bad/events.jsonl',
        line: 8,
        offset: offset(jsonl, '{"id":"e"'),
        text: '{"id":"e"',
        error: expect.stringMatching(/^not valid JSON \(/),
      },
    ]);
    expect(await jsonLines(folder.badRecords(2, 1))).toEqual([
      {
        blob: 'bad/people.csv',
        line: 3,
        offset: offset(csv, '2,bob'),
        text: '2,bob,extra',
        error: '3 fields where the header has 2',
      },
      {
        blob: 'bad/people.csv',
        line: 6,
        offset: offset(csv, '4\n'),
        text: '4',
        error: '1 field where the header has 2',
      },
      {
        // A stray quote is one bad record: the next row is read as usual.
        blob: 'bad/people.csv',
        line: 8,
        offset: offset(csv, '6,it'),
        text: '6,it"s',
        error: expect.stringMatching(/^field 2 has a quote but does not start with one/),
      },
    ]);
    const attemptLog = await store.readText(logs, folder.attemptLog(2, 1));
    expect(attemptLog).toContain(
      '3 bad records did not parse and are failed items; all listed in user/mini_batch_000000002/attempt_001.bad_records.jsonl',
    );
    const record = (await recordOf(store, logs, jobId, 2, 1)) as {
      failedItems: unknown[];
    };
    expect(record.failedItems).toEqual([
      {
        item: { blob: 'bad/people.csv', line: 3, offset: offset(csv, '2,bob'), text: '2,bob,extra' },
        error: '3 fields where the header has 2',
      },
      {
        item: { blob: 'bad/people.csv', line: 6, offset: offset(csv, '4\n'), text: '4' },
        error: '1 field where the header has 2',
      },
      {
        item: { blob: 'bad/people.csv', line: 8, offset: offset(csv, '6,it'), text: '6,it"s' },
        error: expect.stringMatching(/^field 2 has a quote/),
      },
    ]);

    // Finalize: the counters, the manifest, failed_items.jsonl and the CSV report agree.
    const counters = receipts.reduce(foldFinal, { ...emptyCounters(), scheduled: 3 });
    expect(counters).toMatchObject({ itemsSucceeded: 9, itemsFailed: 6, failed: 3, rows: 9 });
    await finalizeActivity(deps, ended(jobId, counters));
    const manifest = await store.readJson(logs, folder.manifest, manifestSchema);
    expect(manifest.miniBatches.map(({ status, items, failed }) => ({ status, items, failed }))).toEqual([
      { status: 'FAILED', items: 4, failed: 1 },
      { status: 'FAILED', items: 4, failed: 2 },
      { status: 'FAILED', items: 7, failed: 3 },
    ]);
    const failedItems = await jsonLines(folder.failedItems);
    expect(failedItems.map(({ mini_batch, item }) => [mini_batch, (item as { line: number }).line])).toEqual([
      [0, 3],
      [1, 6],
      [1, 8],
      [2, 3],
      [2, 6],
      [2, 8],
    ]);
    const report = (await store.readText(logs, folder.processedMiniBatches)).trim().split('\n').slice(1);
    expect(report.map((row) => row.split(',').slice(0, 7).join(','))).toEqual([
      '0,1,partial,4,3,1,3',
      '1,1,partial,4,2,2,2',
      '2,1,partial,7,4,3,4',
    ]);
    // The good records ran, in order; the CSV BOM is not part of the first column's name ("id").
    const output = await store.readText(outputs, `${jobId}/parallel_run_step.txt`);
    expect(
      output
        .trim()
        .split('\n')
        .map((row) => (JSON.parse(row) as { id: string }).id),
    ).toEqual(['a', 'b', 'c', 'd', 'f', '1', '3', '5', '7']);
  });

  it('does not run a mini-batch whose records all failed to parse, and caps the bad-record listing', async () => {
    const jobId = 'job-all-bad';
    const text = `${Array.from({ length: 1005 }, (_, i) => `bad ${i}`).join('\n')}\n`;
    await store.write(inputs, 'bad/all.jsonl', text);
    const size = Buffer.byteLength(text);
    await writeJob(jobId, [range(0, 'bad/all.jsonl', 0, size, size, 'jsonl')]);
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(counts(receipt)).toEqual({
      status: 'partial',
      items: 1005,
      succeeded: 0,
      failed: 1005,
      rows: 0,
      code: undefined,
      retryable: false,
    });
    const folder = jobFolder(jobId);
    const listed = await jsonLines(folder.badRecords(0, 1));
    expect(listed).toHaveLength(1001);
    expect(listed[999]).toMatchObject({ line: 1000, text: 'bad 999' });
    expect(listed[1000]).toEqual({ omitted: 5 });
    const record = (await recordOf(store, logs, jobId, 0, 1)) as {
      failedItems: unknown[];
    };
    expect(record.failedItems).toHaveLength(1000);
    const log = await store.readText(logs, folder.attemptLog(0, 1));
    expect(log).toContain('1005 bad records did not parse and are failed items; the first 1000 listed in');
    expect(log).not.toContain('worker');
  });

  it('counts the bad records among the failed items of an attempt whose task threw', async () => {
    const jobId = 'job-bad-and-throw';
    const text = '{"id":1,"mode":"throw"}\n{"id":2}\nnot json\n';
    await store.write(inputs, 'bad/throw.jsonl', text);
    const size = Buffer.byteLength(text);
    await writeJob(jobId, [range(0, 'bad/throw.jsonl', 0, size, size, 'jsonl')]);
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(counts(receipt)).toEqual({
      status: 'failed',
      items: 3,
      succeeded: 0,
      failed: 3,
      rows: 0,
      code: 'TASK_RUN_FAILED',
      retryable: true,
    });
    expect(await jsonLines(jobFolder(jobId).badRecords(0, 1))).toMatchObject([{ line: 3, text: 'not json' }]);
  });

  it('reads a 50 MB single line as one bad record (over the record cap) and runs the rest', async () => {
    const jobId = 'job-huge-line';
    const huge = Buffer.concat([
      Buffer.from('{"id":"first"}\n{"id":"huge","blob":"'),
      Buffer.alloc(50 * 1024 * 1024, 'x'),
      Buffer.from('"}\n{"id":"last"}\n'),
    ]);
    await store.write(inputs, 'bad/huge.jsonl', huge);
    await writeJob(jobId, [
      range(0, 'bad/huge.jsonl', 0, 1024 * 1024, huge.length, 'jsonl'),
      range(1, 'bad/huge.jsonl', 1024 * 1024, huge.length, huge.length, 'jsonl'),
    ]);
    const first = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    const second = await runAndRecord(deps, { jobId, index: 1, attempt: 1 });
    expect(counts(first)).toMatchObject({ status: 'partial', items: 2, succeeded: 1, failed: 1, rows: 1 });
    expect(counts(second)).toMatchObject({ status: 'succeeded', items: 1, succeeded: 1, failed: 0, rows: 1 });
    const [bad] = await jsonLines(jobFolder(jobId).badRecords(0, 1));
    expect(bad).toEqual({
      blob: 'bad/huge.jsonl',
      line: 2,
      offset: 15,
      text: expect.stringMatching(/^\{"id":"huge","blob":"x{100}/),
      error: 'record larger than 16,777,216 bytes (PARALLEL_JOB_MAX_RECORD_BYTES)',
    });
    expect((bad!.text as string).length).toBe(200);
  });
});

describe('bad table records in a partition', () => {
  it('names the file of each bad record among the files of a table partition', async () => {
    const jobId = 'job-bad-partition';
    const a = '{"id":"a1"}\n{"id":"a2"}\n';
    const b = '{"id":"b1"}\n42\n{"id":"b2"}\n';
    await store.write(inputs, 'part/region=eu/a.jsonl', a);
    await store.write(inputs, 'part/region=eu/b.jsonl', b);
    await writeJob(jobId, [
      {
        kind: 'partition',
        index: 0,
        keys: { region: 'eu' },
        format: 'jsonl',
        files: [
          { name: 'part/region=eu/a.jsonl', size: a.length },
          { name: 'part/region=eu/b.jsonl', size: b.length },
        ],
      },
    ]);
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(counts(receipt)).toMatchObject({ status: 'partial', items: 5, succeeded: 4, failed: 1, rows: 4 });
    expect(await jsonLines(jobFolder(jobId).badRecords(0, 1))).toEqual([
      {
        blob: 'part/region=eu/b.jsonl',
        line: 2,
        offset: 12,
        text: '42',
        error: 'not a JSON object (it is a number)',
      },
    ]);
  });
});

describe('bad table records with on_bad_record: fail_mini_batch', () => {
  it('fails the mini-batch on a bad record, with its file line, and does not retry it', async () => {
    const jobId = 'job-bad-fail';
    const csv = 'id,name\n1,ann\n2,bob\n3\n4,dan\n';
    await store.write(inputs, 'bad/strict.csv', csv);
    const size = Buffer.byteLength(csv);
    await writeJob(jobId, [range(0, 'bad/strict.csv', 0, size, size, 'csv')], {
      onBadRecord: 'fail_mini_batch',
    });
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(counts(receipt)).toEqual({
      status: 'failed',
      items: 4,
      succeeded: 0,
      failed: 4,
      rows: 0,
      code: 'TABULAR_PARSE_FAILED',
      retryable: false,
    });
    expect(receipt.message).toContain(
      "Could not read records from 'bad/strict.csv': line 4 (byte 20): 1 field where the header has 2",
    );
    expect(receipt.message).toContain('on_bad_record: fail_mini_batch');
    // Not retried, and not fatal to the job: the mini-batch fails.
    expect(nextStep(receipt, 2)).toEqual({ kind: 'final', outcome: 'failed' });

    const folder = jobFolder(jobId);
    expect(await jsonLines(folder.badRecords(0, 1))).toMatchObject([{ line: 4, offset: 20, text: '3' }]);
    const counters = foldFinal({ ...emptyCounters(), scheduled: 1 }, receipt);
    expect(counters).toMatchObject({ itemsFailed: 4, itemsSucceeded: 0, failed: 1 });
    await finalizeActivity(deps, ended(jobId, counters));
    const manifest = await store.readJson(logs, folder.manifest, manifestSchema);
    expect(manifest.miniBatches).toMatchObject([{ status: 'FAILED', items: 4, failed: 4 }]);
    // The failed mini-batch is one line naming its range, with the error that names the bad line.
    const failedItems = await jsonLines(folder.failedItems);
    expect(failedItems).toEqual([
      {
        mini_batch: 0,
        attempt: 1,
        item: { blob: 'bad/strict.csv', start: 0, end: size },
        error: expect.stringContaining('TABULAR_PARSE_FAILED: Could not read records from'),
      },
    ]);
  });
});
