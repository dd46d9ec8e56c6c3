import { statSync } from 'node:fs';
import path from 'node:path';
import { writeGroupRecords } from '../../../src/activities/attemptRecord';
import { OUTPUT_MINI_BATCH_METADATA, OUTPUT_TOKEN_METADATA } from '../../../src/activities/attemptFiles';
import { finalizeActivity } from '../../../src/activities/finalize';
import type { JobRecord } from '../../../src/storage/jobRecord';
import { manifestSchema } from '../../../src/activities/manifest';
import { OUTPUT_OWNER_METADATA } from '../../../src/storage/outputOwner';
import { runMiniBatch } from '../../../src/activities/runMiniBatch';
import type { EffectiveJob } from '../../../src/job/effective';
import type { MiniBatchDescriptor } from '../../../src/plan/descriptor';
import { jobFolder } from '../../../src/storage/layout';
import { pinSideInput, pinSideInputs } from '../../../src/storage/sideInputs';
import { useActivityJobs } from '../../support/activityJobs';
import { jobEnd } from '../../support/records';

// Output folders and side inputs through the activity and finalize, against a real Azurite, with real
// Python processes and worker threads.

const env = useActivityJobs();
const { inputs, outputs, logs, writeJob, upload } = env;

/**
 * A writer.py job whose `models` output folder is bound by --model_folder: one input file per mini-batch,
 * holding its mode, named `m<index>.txt` unless given.
 */
async function writerJob(
  jobId: string,
  modes: string[],
  record: Partial<JobRecord> = {},
  fileName = (index: number) => `w/${jobId}/m${index}.txt`,
): Promise<JobRecord> {
  const descriptors: MiniBatchDescriptor[] = [];
  for (const [index, mode] of modes.entries()) {
    const name = fileName(index);
    await upload(name, mode);
    descriptors.push({ kind: 'files', index, files: [{ name, size: mode.length }] });
  }
  const job: Partial<EffectiveJob> = {
    outputs: { models: { type: 'uri_folder', path: `${outputs}/${jobId}/models` } },
    task: {
      code: 'tasks/python',
      entryScript: 'writer.py',
      programArguments: `--model_folder ${outputs}/${jobId}/models`,
      argv: ['--model_folder', `${outputs}/${jobId}/models`],
      argvParts: [['--model_folder'], [{ output: 'models' }]],
    },
  };
  return writeJob({
    jobId,
    kind: 'files',
    entryScript: 'writer.py',
    code: 'tasks/python',
    descriptors,
    job,
    record,
  });
}

async function listed(prefix: string): Promise<Record<string, Record<string, string>>> {
  const found: Record<string, Record<string, string>> = {};
  // Publishing creates the container: before it, nothing was published.
  await env.store.ensureContainer(outputs);
  for await (const blob of env.store.list(outputs, prefix, { includeMetadata: true }))
    found[blob.name.slice(prefix.length)] = blob.metadata ?? {};
  return found;
}

async function finalize(jobId: string): Promise<void> {
  await finalizeActivity(env.deps, jobEnd(jobId));
}

let group = 1000;
async function record(jobId: string, attempt: Awaited<ReturnType<typeof runMiniBatch>>): Promise<void> {
  await writeGroupRecords(env.store, logs, jobId, { shard: 0, group: group++ }, [attempt]);
}

describe('output folders', () => {
  it("publishes only a succeeding attempt's files, with the job, mini-batch and token in their metadata", async () => {
    const jobId = 'out-retry';
    await writerJob(jobId, ['flaky']);
    const first = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(first.receipt).toMatchObject({ status: 'failed', code: 'TASK_RUN_FAILED' });
    expect(first.outputFiles).toBeUndefined();
    expect(await listed(`${jobId}/models/`)).toEqual({});
    await record(jobId, first);

    const second = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 2 });
    expect(second.receipt).toMatchObject({ status: 'succeeded', rows: 1 });
    expect(second.outputFiles).toEqual({
      token: expect.stringMatching(/^[0-9a-f]{12}$/),
      files: { models: ['models/m0.bin'] },
    });
    await record(jobId, second);
    expect(await listed(`${jobId}/models/`)).toEqual({
      'models/m0.bin': {
        [OUTPUT_OWNER_METADATA]: jobId,
        [OUTPUT_MINI_BATCH_METADATA]: '0',
        [OUTPUT_TOKEN_METADATA]: second.outputFiles!.token,
      },
    });
    expect(await env.store.readText(outputs, `${jobId}/models/models/m0.bin`)).toBe('model of m0, attempt 2');
    // Log folder files are kept for every attempt, the failed one included.
    const folder = jobFolder(jobId);
    expect(await env.store.readText(logs, `${folder.attemptFiles(0, 2)}m0.log`)).toBe('log of m0');

    await finalize(jobId);
    const manifest = await env.store.readJson(logs, folder.manifest, manifestSchema);
    expect(manifest.miniBatches[0]).toMatchObject({
      status: 'SUCCEEDED',
      attempt: 2,
      files: { models: ['models/m0.bin'] },
      filesToken: second.outputFiles!.token,
    });
    expect(Object.keys(await listed(`${jobId}/models/`))).toEqual(['models/m0.bin']);
  });

  it('keeps only the winning run of an attempt that ran twice (a crash before its record), and a retry replaces a failed one', async () => {
    const jobId = 'out-rerun';
    await writerJob(jobId, ['random', 'write']);
    // The first execution published, then its record was lost: the group ran the attempt again.
    const lost = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    const kept = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    await record(jobId, kept);
    await record(jobId, await runMiniBatch(env.deps, { jobId, index: 1, attempt: 1 }));
    const [lostName] = lost.outputFiles!.files.models!;
    const [keptName] = kept.outputFiles!.files.models!;
    expect(lostName).not.toBe(keptName);
    expect(Object.keys(await listed(`${jobId}/models/`)).sort()).toEqual(
      [keptName, lostName, 'models/m1.bin'].sort(),
    );

    await finalize(jobId);
    expect(Object.keys(await listed(`${jobId}/models/`)).sort()).toEqual([keptName, 'models/m1.bin'].sort());
    // Finalizing again changes nothing.
    await finalize(jobId);
    expect(Object.keys(await listed(`${jobId}/models/`)).sort()).toEqual([keptName, 'models/m1.bin'].sort());
  });

  it('lets a re-run of the job replace its mini-batch files, and never another owner’s', async () => {
    const jobId = 'out-owner';
    const original = await writerJob(jobId, ['write']);
    await record(jobId, await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 }));
    // A re-run completes the same output: its files are this job's.
    const rerunId = `${jobId}.r1`;
    await writeJob({
      jobId: rerunId,
      kind: 'files',
      entryScript: 'writer.py',
      code: 'tasks/python',
      descriptors: [{ kind: 'files', index: 0, files: [{ name: `w/${jobId}/m0.txt`, size: 5 }] }],
      job: original.job,
      record: { generation: 1, rerunOf: jobId, outputOwner: jobId },
    });
    const rerun = await runMiniBatch(env.deps, { jobId: rerunId, index: 0, attempt: 1 });
    expect(rerun.receipt.status).toBe('succeeded');
    expect((await listed(`${jobId}/models/`))['models/m0.bin']).toMatchObject({
      [OUTPUT_OWNER_METADATA]: jobId,
      [OUTPUT_TOKEN_METADATA]: rerun.outputFiles!.token,
    });
    // A file someone else put in another job's folder is never overwritten.
    const otherId = 'out-foreign';
    await writerJob(otherId, ['write']);
    await env.store.write(outputs, `${otherId}/models/models/m0.bin`, 'a file a person put there');
    const refused = await runMiniBatch(env.deps, { jobId: otherId, index: 0, attempt: 1 });
    expect(refused.receipt).toMatchObject({
      status: 'failed',
      code: 'OUTPUT_FILES_REFUSED',
      retryable: false,
      rows: 0,
    });
    expect(refused.receipt.message).toBe(
      `outputs.models.path: '${otherId}/models/models/m0.bin' in container '${outputs}' already exists and was not written by this job; a job never overwrites a file it did not write, so choose another output path or delete that file`,
    );
    expect(await env.store.readText(outputs, `${otherId}/models/models/m0.bin`)).toBe(
      'a file a person put there',
    );
  });

  it('refuses a link out of the folder, a name another mini-batch wrote, and more than the cap; warns about files next to the folder', async () => {
    const jobId = 'out-refused';
    await writerJob(jobId, ['link-out', 'write', 'escape', 'big']);
    const link = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(link.receipt).toMatchObject({ status: 'failed', code: 'OUTPUT_FILES_REFUSED', retryable: false });
    expect(link.receipt.message).toBe(
      "outputs.models: 'link.txt' is a symbolic link that leaves the folder or does not point at a file; write the file itself",
    );
    expect(await env.store.readText(logs, jobFolder(jobId).attemptLog(0, 1))).toContain(
      'ERROR outputs.models:',
    );

    const written = await runMiniBatch(env.deps, { jobId, index: 1, attempt: 1 });
    expect(written.receipt.status).toBe('succeeded');
    // The same mini-batch may replace its own file (a retry).
    const again = await runMiniBatch(env.deps, { jobId, index: 1, attempt: 2 });
    expect(again.receipt.status).toBe('succeeded');

    const escaped = await runMiniBatch(env.deps, { jobId, index: 2, attempt: 1 });
    expect(escaped.receipt.status).toBe('succeeded');
    expect(escaped.warnings).toContain(
      "'escaped.txt' was written next to the output folders, not inside one, and was not kept",
    );
    expect(Object.keys(await listed(`${jobId}/`))).toEqual(['models/models/m1.bin']);

    const big = await runMiniBatch(
      { ...env.deps, maxOutputBytesPerAttempt: 1000 },
      { jobId, index: 3, attempt: 1 },
    );
    expect(big.receipt).toMatchObject({ status: 'failed', code: 'OUTPUT_FILES_REFUSED' });
    expect(big.receipt.message).toContain(
      'the attempt wrote 4.0 KiB into its output folders, more than the 1000 B one attempt may write (the app setting PARALLEL_JOB_MAX_OUTPUT_BYTES_PER_ATTEMPT)',
    );
  });

  it('refuses a file of a name another mini-batch of the job published', async () => {
    const jobId = 'out-clash';
    // Both mini-batches' inputs have the same base name, so writer.py writes models/same.bin in both.
    await writerJob(jobId, ['write', 'write'], {}, (index) => `w/out-clash/${index}/same.txt`);
    expect((await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 })).receipt.status).toBe('succeeded');
    const clash = await runMiniBatch(env.deps, { jobId, index: 1, attempt: 1 });
    expect(clash.receipt).toMatchObject({ status: 'failed', code: 'OUTPUT_FILES_REFUSED' });
    expect(clash.receipt.message).toBe(
      "outputs.models.path: 'models/same.bin' was already written by mini-batch 0 of this job; each mini-batch must write files of its own names (for example, named after its input or partition)",
    );
  });
});

describe('side inputs', () => {
  const model = (folder: string) => ({
    type: 'uri_folder' as const,
    path: `${inputs}/${folder}`,
    mode: 'ro_mount',
  });

  async function sideInputJob(
    jobId: string,
    folder: string,
    pin?: Awaited<ReturnType<typeof pinSideInputs>>,
  ) {
    await upload(`s/${jobId}/a.txt`, 'a');
    await upload(`s/${jobId}/b.txt`, 'b');
    const job: Partial<EffectiveJob> = {
      inputs: {
        data: { type: 'uri_folder', path: `${inputs}/s/${jobId}`, mode: 'ro_mount' },
        model: model(folder),
      },
      inputData: { name: 'data', type: 'uri_folder', path: `${inputs}/s/${jobId}`, mode: 'ro_mount' },
      outputs: { models: { type: 'uri_folder', path: `${outputs}/${jobId}/models` } },
      task: {
        code: 'tasks',
        entryScript: 'side-input.js',
        programArguments: `--model ${inputs}/${folder}`,
        argv: ['--model', `${inputs}/${folder}`],
        argvParts: [['--model'], [{ input: 'model' }]],
      },
    };
    const sideInputs =
      pin ??
      (await pinSideInputs(
        env.store,
        env.deps.access,
        { inputs: job.inputs!, inputData: job.inputData! },
        1024 ** 2,
      ));
    await writeJob({
      jobId,
      kind: 'files',
      entryScript: 'side-input.js',
      descriptors: [
        {
          kind: 'files',
          index: 0,
          files: [
            { name: `s/${jobId}/a.txt`, size: 1 },
            { name: `s/${jobId}/b.txt`, size: 1 },
          ],
        },
      ],
      job,
      record: { sideInputs },
    });
    return sideInputs;
  }

  async function firstRow(jobId: string): Promise<Record<string, unknown>> {
    const blob = `${jobId}/parallel_run_step.txt`;
    const { uncommitted } = await env.store.listBlocks(outputs, blob);
    await env.store.commitBlocks(outputs, blob, uncommitted.slice(-1));
    return JSON.parse((await env.store.readText(outputs, blob)).split('\n')[0]!) as Record<string, unknown>;
  }

  it('gives a JavaScript task the side input on disk, read-only, and its output folder', async () => {
    await upload('models/js/weights.txt', '7');
    const pinned = await sideInputJob('side-js', 'models/js');
    const attempt = await runMiniBatch(env.deps, { jobId: 'side-js', index: 0, attempt: 1 });
    expect(attempt.receipt.status).toBe('succeeded');
    const local = path.join(env.workDir, 'side-inputs', pinned[0]!.key);
    const row = await firstRow('side-js');
    expect(row).toMatchObject({
      weights: 7,
      model: local,
      localPath: local,
      blobPath: `${inputs}/models/js`,
      argv: ['--model', local],
    });
    expect(String(row.dir)).toMatch(/\/outputs\/models$/);
    expect(statSync(path.join(local, 'weights.txt')).mode & 0o777).toBe(0o444);
    expect(statSync(local).mode & 0o777).toBe(0o555);
    expect(attempt.outputFiles!.files).toEqual({ models: ['mini-batch-0.txt'] });
  });

  it('reads the cache while the versions are unchanged, across jobs, and downloads a changed version anew', async () => {
    await upload('models/cached/weights.txt', '2');
    const pinned = await sideInputJob('side-cache-1', 'models/cached');
    await runMiniBatch(env.deps, { jobId: 'side-cache-1', index: 0, attempt: 1 });
    expect((await firstRow('side-cache-1')).weights).toBe(2);

    // The blob changes in storage, but a job pinned to the old version reads the cached copy: a download
    // of the old version would fail now.
    await upload('models/cached/weights.txt', '5');
    await sideInputJob('side-cache-2', 'models/cached', pinned);
    const cached = await runMiniBatch(env.deps, { jobId: 'side-cache-2', index: 0, attempt: 1 });
    expect(cached.receipt.status).toBe('succeeded');
    expect((await firstRow('side-cache-2')).weights).toBe(2);

    // A job planned now pins the new version: a new cache folder, and init() sees the new model.
    const repinned = await sideInputJob('side-cache-3', 'models/cached');
    expect(repinned[0]!.key).not.toBe(pinned[0]!.key);
    await runMiniBatch(env.deps, { jobId: 'side-cache-3', index: 0, attempt: 1 });
    const row = await firstRow('side-cache-3');
    expect(row).toMatchObject({
      weights: 5,
      localPath: path.join(env.workDir, 'side-inputs', repinned[0]!.key),
    });
  });

  it('refuses a side input over the size cap and a missing file, naming the input', async () => {
    await upload('models/big/weights.bin', 'x'.repeat(2048));
    await expect(
      pinSideInput(env.store, env.deps.access, 'model', model('models/big'), 1024),
    ).rejects.toMatchObject({
      code: 'SIDE_INPUT_INVALID',
      field: 'inputs.model.path',
      problem: `'${inputs}/models/big' holds more than 1.0 KiB (the app setting PARALLEL_JOB_MAX_SIDE_INPUT_BYTES), which every host downloads before the task starts; raise the setting, or point the input at a smaller folder`,
    });
    await expect(
      pinSideInput(
        env.store,
        env.deps.access,
        'lookup',
        { type: 'uri_file', path: `${inputs}/models/none.csv` },
        1024,
      ),
    ).rejects.toMatchObject({
      field: 'inputs.lookup.path',
      problem: `the file '${inputs}/models/none.csv' does not exist`,
    });
  });
});
