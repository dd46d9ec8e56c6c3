import { listAttempts, writeGroupRecords } from '../../../src/activities/attemptRecord';
import { finalizeActivity } from '../../../src/activities/finalize';
import { manifestSchema } from '../../../src/activities/manifest';
import { OUTPUT_OWNER_METADATA } from '../../../src/storage/outputOwner';
import { faultRecord } from '../../../src/activities/recordFault';
import type { MiniBatchReceipt } from '../../../src/activities/contracts';
import type { JobRecord } from '../../../src/storage/jobRecord';
import type { RunMiniBatchDeps } from '../../../src/activities/runMiniBatch';
import { jobEnd, recordOf, runAndRecord } from '../../support/records';
import type { MiniBatchDescriptor } from '../../../src/plan/descriptor';
import { BlobStore } from '../../../src/storage/blobStore';
import { jobFolder, outputBlockId } from '../../../src/storage/layout';
import { useActivityJobs } from '../../support/activityJobs';

const env = useActivityJobs();
const { logs, inputs, outputs, writeJob, upload } = env;
let store: BlobStore;
let deps: RunMiniBatchDeps;
beforeAll(() => {
  ({ store, deps } = env);
});

function tabular(index: number, blob: string, size: number, format: 'csv' | 'jsonl'): MiniBatchDescriptor {
  return { kind: 'tabular', index, blob, format, start: 0, end: size, fileSize: size };
}

describe('runMiniBatch against Azurite', () => {
  it('runs tabular mini-batches, stages their rows as blocks, and writes logs and records whose counts match', async () => {
    const jobId = 'job-tabular';
    const csv = await upload('t/a.csv', 'id,mode,bad\n1,short,\n2,short,\n3,short,\n4,short,\n');
    const jsonl = await upload(
      't/b.jsonl',
      ['a', 'b', 'c', 'd']
        .map((id) => JSON.stringify({ id, mode: 'fail', bad: id === 'b' || id === 'd' }))
        .join('\n') + '\n',
    );
    const echo = await upload('t/c.csv', 'id,mode\nx,log\ny,log\n');
    const thrower = await upload('t/d.jsonl', '{"id":1,"mode":"throw"}\n');
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'behaviours.js',
      descriptors: [
        tabular(0, 't/a.csv', csv, 'csv'),
        tabular(1, 't/b.jsonl', jsonl, 'jsonl'),
        tabular(2, 't/c.csv', echo, 'csv'),
        tabular(3, 't/d.jsonl', thrower, 'jsonl'),
      ],
    });

    const receipts: MiniBatchReceipt[] = [];
    for (let index = 0; index < 4; index += 1)
      receipts.push(await runAndRecord(deps, { jobId, index, attempt: 1 }));

    expect(
      receipts.map(({ status, items, succeeded, failed, rows, code }) => ({
        status,
        items,
        succeeded,
        failed,
        rows,
        code,
      })),
    ).toEqual([
      { status: 'partial', items: 4, succeeded: 3, failed: 1, rows: 3, code: undefined },
      { status: 'partial', items: 4, succeeded: 2, failed: 2, rows: 2, code: undefined },
      { status: 'succeeded', items: 2, succeeded: 2, failed: 0, rows: 2, code: undefined },
      { status: 'failed', items: 1, succeeded: 0, failed: 1, rows: 0, code: 'TASK_RUN_FAILED' },
    ]);
    expect(receipts[3]!.message).toBe('run() failed: Error: run exploded on purpose');

    // The rows are staged, not committed: one block per mini-batch with rows, named by (generation, index, attempt).
    const output = `${jobId}/parallel_run_step.txt`;
    const blocks = await store.listBlocks(outputs, output);
    const expected = [0, 1, 2].map((index) => outputBlockId(0, index, 1));
    expect(blocks.committed).toEqual([]);
    expect([...blocks.uncommitted].sort()).toEqual([...expected].sort());
    await store.commitBlocks(outputs, output, expected);
    expect(await store.readText(outputs, output)).toBe('2\n3\n4\na\nc\nx\ny\n');

    // Attempt records: metadata carries the receipt; the body names the failed items.
    const listed: MiniBatchReceipt[] = [];
    for await (const receipt of listAttempts(store, logs, jobId)) listed.push(receipt);
    expect(listed.map((r) => [r.index, r.status, r.items, r.succeeded, r.failed, r.rows])).toEqual(
      receipts.map((r) => [r.index, r.status, r.items, r.succeeded, r.failed, r.rows]),
    );
    const record = await recordOf(store, logs, jobId, 1, 1);
    expect(record.failedItems).toEqual([
      { item: { id: 'b', mode: 'fail', bad: true }, error: 'Error: record b is bad' },
      { item: { id: 'd', mode: 'fail', bad: true }, error: 'Error: record d is bad' },
    ]);
    expect(record.receipt).toEqual(receipts[1]);
    expect(record.worker).toMatch(/^\d+-\d+$/);
    expect(record.timings!.runMs).toBeGreaterThanOrEqual(0);
    const short = await recordOf(store, logs, jobId, 0, 1);
    expect(short.unattributedFailures).toBe(1);

    // Logs: one per attempt, with what the task printed.
    const logged = await store.readText(logs, jobFolder(jobId).attemptLog(2, 1));
    expect(logged).toContain('mini-batch 2 attempt 1 of job job-tabular');
    expect(logged).toContain('INFO console line for 2 1');
    expect(logged).toContain('succeeded: 2 succeeded, 0 failed, 2 rows');
    const failedLog = await store.readText(logs, jobFolder(jobId).attemptLog(3, 1));
    expect(failedLog).toContain('ERROR run() failed: Error: run exploded on purpose');
  });

  it('gives file and partition mini-batches lazy handles that read the blobs', async () => {
    const jobId = 'job-files';
    const files = [
      { name: 'f/one.txt', size: await upload('f/one.txt', 'first') },
      { name: 'f/two.txt', size: await upload('f/two.txt', 'bad') },
      { name: 'f/three.txt', size: await upload('f/three.txt', 'third') },
      { name: 'p/region=eu/x.txt', size: await upload('p/region=eu/x.txt', 'euro') },
    ];
    await writeJob({
      jobId,
      kind: 'files',
      entryScript: 'files.js',
      descriptors: [
        { kind: 'files', index: 0, files: files.slice(0, 3) },
        { kind: 'partition', index: 1, keys: { region: 'eu' }, files: files.slice(3) },
      ],
    });
    const first = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    const second = await runAndRecord(deps, { jobId, index: 1, attempt: 2 });
    expect(first).toMatchObject({ status: 'partial', items: 3, succeeded: 2, failed: 1, rows: 2 });
    expect(second).toMatchObject({ status: 'succeeded', items: 1, succeeded: 1, failed: 0, rows: 1 });

    const output = `${jobId}/parallel_run_step.txt`;
    await store.commitBlocks(outputs, output, [outputBlockId(0, 0, 1), outputBlockId(0, 1, 2)]);
    expect(
      (await store.readText(outputs, output))
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { name: 'f/one.txt', text: 'first', partition: null },
      { name: 'f/three.txt', text: 'third', partition: null },
      { name: 'p/region=eu/x.txt', text: 'euro', partition: { region: 'eu' } },
    ]);
    const record = await recordOf(store, logs, jobId, 0, 1);
    expect(record.failedItems).toEqual([{ item: 'f/two.txt', error: 'content is bad' }]);
    expect(await store.readText(logs, jobFolder(jobId).attemptLog(0, 1))).toContain(
      'read f/one.txt (5 bytes)',
    );
  });

  it('returns a timeout as data and stages nothing for the attempt', async () => {
    const jobId = 'job-timeout';
    const size = await upload('loop.jsonl', '{"id":1,"mode":"loop"}\n');
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'behaviours.js',
      settings: { timeoutSeconds: 1 },
      descriptors: [tabular(0, 'loop.jsonl', size, 'jsonl')],
    });
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(receipt).toMatchObject({ status: 'failed', code: 'TASK_TIMEOUT', retryable: true, rows: 0 });
    expect((await store.listBlocks(outputs, `${jobId}/parallel_run_step.txt`)).uncommitted).toEqual([]);
    expect(await store.readText(logs, jobFolder(jobId).attemptLog(0, 1))).toContain(
      'did not finish within the timeout',
    );
  });

  it('counts rows without staging them for summary_only', async () => {
    const jobId = 'job-summary';
    const size = await upload('s.csv', 'id,mode\n1,long\n');
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'behaviours.js',
      appendRow: false,
      descriptors: [tabular(0, 's.csv', size, 'csv')],
    });
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(receipt).toMatchObject({ status: 'succeeded', items: 1, succeeded: 1, rows: 0 });
  });

  it('fails fast, without retry, when the entry script escapes the tasks root', async () => {
    const jobId = 'job-escape';
    await writeJob({
      jobId,
      kind: 'files',
      code: '..',
      entryScript: 'support/jobs.ts',
      descriptors: [{ kind: 'files', index: 0, files: [{ name: 'f/one.txt', size: 5 }] }],
    });
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(receipt).toMatchObject({
      status: 'failed',
      code: 'TASK_PATH_INVALID',
      retryable: false,
      items: 1,
      failed: 1,
    });
    expect(receipt.message).toContain('outside the tasks root');
  });

  it('returns an unreadable input as a failed attempt and throws for a mini-batch outside the plan', async () => {
    const jobId = 'job-missing';
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'behaviours.js',
      descriptors: [tabular(0, 'gone.csv', 10, 'csv')],
    });
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(receipt).toMatchObject({ status: 'failed', code: 'STORAGE_NOT_FOUND', retryable: true });
    await expect(runAndRecord(deps, { jobId, index: 5, attempt: 1 })).rejects.toThrow(/outside the plan/);
  });
});

describe('large partitions', () => {
  it('hands a 300,000-record table partition to run() whole', async () => {
    const jobId = 'job-big-partition';
    const lines = ['id,mode'];
    for (let i = 0; i < 150_000; i += 1) lines.push(`${i},short`);
    const half = `${lines.join('\n')}\n`;
    const size = await upload('big/region=eu/a.csv', half);
    await upload('big/region=eu/b.csv', half);
    await writeJob({
      jobId,
      kind: 'partition',
      entryScript: 'behaviours.js',
      appendRow: false,
      descriptors: [
        {
          kind: 'partition',
          index: 0,
          keys: { region: 'eu' },
          format: 'csv',
          files: [
            { name: 'big/region=eu/a.csv', size },
            { name: 'big/region=eu/b.csv', size },
          ],
        },
      ],
    });
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    // 'short' returns one row fewer than it was given: every record reached run().
    expect(receipt).toMatchObject({ status: 'partial', items: 300_000, succeeded: 299_999, failed: 1 });
  });
});

describe('a job record edited in storage cannot widen what its job touches', () => {
  const files = (index: number, ...names: string[]): MiniBatchDescriptor => ({
    kind: 'files',
    index,
    files: names.map((name) => ({ name, size: 1 })),
  });

  /** Writes a job, then rewrites its record the way someone with write access to the logs might. */
  async function editedJob(
    jobId: string,
    edit: (record: JobRecord) => JobRecord,
    descriptor = files(0, 'e/a.txt'),
  ) {
    await upload('e/a.txt', 'a');
    const record = await writeJob({
      jobId,
      kind: 'files',
      entryScript: 'files.js',
      descriptors: [descriptor],
    });
    await store.writeJson(logs, jobFolder(jobId).jobRecord, edit(record));
  }

  it.each([
    [
      'an input container it may not read',
      (r: JobRecord) => ({ ...r, plan: { ...r.plan, input: { ...r.plan.input, container: logs } } }),
    ],
    [
      'an output container it may not write',
      (r: JobRecord) => ({ ...r, appendRow: { ...r.appendRow!, container: logs } }),
    ],
    [
      'an output blob name that climbs out of its folder',
      (r: JobRecord) => ({ ...r, appendRow: { ...r.appendRow!, blobs: ['x/../../escape.txt'] } }),
    ],
  ])('%s: the attempt fails with DATA_PLACE_REFUSED, is not retried, and writes no rows', async (_, edit) => {
    const jobId = `job-edited-${Math.random().toString(36).slice(2, 8)}`;
    await editedJob(jobId, edit);
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(receipt).toMatchObject({
      status: 'failed',
      code: 'DATA_PLACE_REFUSED',
      retryable: false,
      rows: 0,
    });
    for (const container of [logs, outputs]) {
      await store.ensureContainer(container);
      for (const name of [`${jobId}/parallel_run_step.txt`, 'escape.txt'])
        expect(await store.listBlocks(container, name)).toEqual({ committed: [], uncommitted: [] });
    }
  });

  it('a plan page naming a blob outside the readable places is refused the same way', async () => {
    const jobId = 'job-edited-page';
    await editedJob(jobId, (record) => record, files(0, 'e/../../secret.txt'));
    const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 1 });
    expect(receipt).toMatchObject({ status: 'failed', code: 'DATA_PLACE_REFUSED', retryable: false });
    expect(receipt.message).toMatch(/"\." or "\.\." segment/);
  });

  it('finalize does not commit over an output blob that the job did not create', async () => {
    const jobId = 'job-finalize-foreign';
    await upload('e/a.txt', 'a');
    const record = await writeJob({
      jobId,
      kind: 'files',
      entryScript: 'files.js',
      descriptors: [files(0, 'e/a.txt')],
    });
    expect(await runAndRecord(deps, { jobId, index: 0, attempt: 1 })).toMatchObject({ status: 'succeeded' });
    const foreign = Buffer.from('a report someone else wrote\n');
    await store.write(outputs, record.appendRow!.blobs[0]!, foreign);
    const end = jobEnd(jobId);
    await expect(finalizeActivity(deps, end)).rejects.toMatchObject({ code: 'DATA_PLACE_REFUSED' });
    expect((await store.read(outputs, record.appendRow!.blobs[0]!)).equals(foreign)).toBe(true);

    // Without the foreign blob the job commits its output, owned by it; finalizing again is allowed.
    await store.delete(outputs, record.appendRow!.blobs[0]!);
    await finalizeActivity(deps, end);
    await finalizeActivity(deps, end);
    const committed = await store.stat(outputs, record.appendRow!.blobs[0]!);
    expect(committed?.metadata).toMatchObject({ [OUTPUT_OWNER_METADATA]: jobId });
    expect((await store.readText(outputs, record.appendRow!.blobs[0]!)).length).toBeGreaterThan(0);
  });
});

describe('an attempt whose activity threw', () => {
  it('gets a record with its items failed, which finalize reports like any failed attempt', async () => {
    const jobId = 'job-faulted';
    for (const name of ['f/a.txt', 'f/b.txt', 'f/c.txt']) await upload(name, name);
    await writeJob({
      jobId,
      kind: 'files',
      entryScript: 'files.js',
      descriptors: [
        { kind: 'files', index: 0, files: [{ name: 'f/a.txt', size: 7 }] },
        {
          kind: 'files',
          index: 1,
          files: [
            { name: 'f/b.txt', size: 7 },
            { name: 'f/c.txt', size: 7 },
          ],
        },
      ],
    });
    expect(await runAndRecord(deps, { jobId, index: 0, attempt: 1 })).toMatchObject({ status: 'succeeded' });
    const fault = { jobId, index: 1, attempt: 1, message: 'storage unreachable after retries' };
    const faulted = await faultRecord(deps, fault);
    expect(faulted.receipt).toMatchObject({
      status: 'failed',
      items: 2,
      failed: 2,
      code: 'ACTIVITY_FAILED',
      retryable: true,
    });
    await writeGroupRecords(store, logs, jobId, { shard: 0, group: 99 }, [faulted]);
    expect(await store.readText(logs, jobFolder(jobId).attemptLog(1, 1))).toContain('storage unreachable');

    await finalizeActivity(deps, jobEnd(jobId));
    const manifest = await store.readJson(logs, jobFolder(jobId).manifest, manifestSchema);
    expect(manifest.miniBatches.map((entry) => entry.status)).toEqual(['SUCCEEDED', 'FAILED']);
    const failedItems = (await store.readText(logs, jobFolder(jobId).failedItems))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { item: string; error: string });
    expect(failedItems.map((line) => line.item)).toEqual(['f/b.txt', 'f/c.txt']);
    expect(failedItems[0]!.error).toMatch(
      /ACTIVITY_FAILED: The attempt's activity failed: storage unreachable/,
    );
    expect(await store.readText(logs, jobFolder(jobId).processedMiniBatches)).toMatch(
      /\n1,1,failed,2,0,2,0,0,ACTIVITY_FAILED\n/,
    );
  });
});

describe('input pinned to the version planned', () => {
  it.each([
    ['a file handle', 'files.js', 'files'],
    ['a table range', 'behaviours.js', 'tabular'],
  ] as const)(
    'a blob rewritten after planning fails its attempt with INPUT_CHANGED through %s, not retried',
    async (_, script, kind) => {
      const jobId = `job-pinned-${kind}`;
      const name = `pinned/${kind}.csv`;
      await store.write(inputs, name, 'id,mode\n1,echo\n');
      // The etag as planning sees it: from the listing (which gives it without quotes).
      const listed = (await store.stat(inputs, name))!;
      const written = { etag: listed.etag.replace(/"/g, '') };
      const size = Buffer.byteLength('id,mode\n1,echo\n');
      const descriptor: MiniBatchDescriptor =
        kind === 'files'
          ? { kind: 'files', index: 0, files: [{ name, size, etag: written.etag }] }
          : Object.assign(tabular(0, name, size, 'csv'), { etag: written.etag });
      await writeJob({ jobId, kind, entryScript: script, descriptors: [descriptor] });

      // The planned version reads fine.
      expect(await runAndRecord(deps, { jobId, index: 0, attempt: 1 })).toMatchObject({
        status: 'succeeded',
      });
      await store.write(inputs, name, 'id,mode\n1,echo\n2,echo\n');
      const receipt = await runAndRecord(deps, { jobId, index: 0, attempt: 2 });
      expect(receipt).toMatchObject({ status: 'failed', code: 'INPUT_CHANGED', retryable: false, rows: 0 });
      expect(receipt.message).toContain(name);
    },
  );
});
