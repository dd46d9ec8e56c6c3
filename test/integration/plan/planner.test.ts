import { BlobStore } from '../../../src/storage/blobStore';
import { jobFolder } from '../../../src/storage/layout';
import { planJob, readPlanPage, type PlanRequest } from '../../../src/plan/planner';
import { previewPlan } from '../../../src/plan/preview';
import { readTabularFile, readTabularRange } from '../../../src/plan/tabular';
import { planPageSchema, type MiniBatchDescriptor } from '../../../src/plan/descriptor';
import {
  InputLayoutError,
  InputNotFoundError,
  StorageNotFoundError,
  StorageTransientError,
} from '../../../src/errors';
import { useAzurite, useAzuriteStore, uniqueContainer } from '../../support/azurite';

const env = useAzuriteStore();
const logs = 'logs';

async function seed(files: Record<string, string>): Promise<string> {
  const container = uniqueContainer('plan');
  await env.store.ensureContainer(container);
  await Promise.all(Object.entries(files).map(([name, body]) => env.store.write(container, name, body)));
  return container;
}

function request(container: string, prefix: string, overrides: Partial<PlanRequest>): PlanRequest {
  return {
    jobId: `job-${container}`,
    input: { accountUrl: env.store.accountUrl, container, prefix },
    inputType: 'uri_folder',
    miniBatchSize: 1,
    miniBatchSizeUnit: 'files',
    logsContainer: logs,
    ...overrides,
  };
}

async function allMiniBatches(req: PlanRequest, pages: number): Promise<MiniBatchDescriptor[]> {
  const out: MiniBatchDescriptor[] = [];
  for (let page = 0; page < pages; page += 1) {
    const read = await readPlanPage(env.store, logs, req.jobId, page);
    expect(read.page).toBe(page);
    expect(read.first).toBe(out.length);
    out.push(...read.miniBatches);
  }
  return out;
}

const csvRows = (from: number, count: number): string =>
  Array.from(
    { length: count },
    (_, i) => `${from + i},"name ${from + i}, with comma","multi\nline ${from + i}"`,
  ).join('\n');

describe('planJob', () => {
  it('lists an input in another account and writes plan pages and progress only to the app account', async () => {
    // A second emulator is a second account (another account URL), as an input account is in Azure.
    const inputAzurite = await useAzurite();
    try {
      const inputStore = BlobStore.fromConnectionString(inputAzurite.connectionString);
      expect(inputStore.accountUrl).not.toBe(env.store.accountUrl);
      const container = uniqueContainer('plan');
      await inputStore.ensureContainer(container);
      for (let i = 0; i < 5; i += 1) await inputStore.write(container, `in/f-${i}.txt`, `${i}`);
      const req: PlanRequest = {
        ...request(container, 'in', { miniBatchSize: 2, pageSize: 2 }),
        input: { accountUrl: inputStore.accountUrl, container, prefix: 'in' },
      };
      const summary = await planJob(inputStore, req, { logs: env.store });
      expect(summary).toMatchObject({ miniBatches: 3, pages: 2 });
      const pages = await Promise.all([0, 1].map((page) => readPlanPage(env.store, logs, req.jobId, page)));
      expect(pages.flatMap((page) => page.miniBatches)).toHaveLength(3);
      expect(await env.store.stat(logs, jobFolder(req.jobId).planProgress)).toBeDefined();
      // Nothing at all in the input's account: not even its logs container was created.
      const listInputLogs = async () => {
        for await (const blob of inputStore.list(logs, '')) return blob.name;
        return undefined;
      };
      await expect(listInputLogs()).rejects.toThrow(StorageNotFoundError);
    } finally {
      await inputAzurite.stop();
    }
  });

  it('cuts a uri_folder by file count across listing pages and plan pages, folder semantics, idempotent', async () => {
    const files: Record<string, string> = { 'data2/outside.txt': 'no', 'data.txt': 'no' };
    for (let i = 0; i < 23; i += 1) files[`data/f-${String(i).padStart(3, '0')}.bin`] = 'x'.repeat(i + 1);
    const container = await seed(files);
    const req = request(container, 'data', { miniBatchSize: 5, listPageSize: 4, pageSize: 2 });

    const summary = await planJob(env.store, req);
    expect(summary).toEqual({
      kind: 'files',
      input: req.input,
      miniBatches: 5,
      items: 23,
      bytes: (23 * 24) / 2,
      pageSize: 2,
      pages: 3,
    });
    const batches = await allMiniBatches(req, summary.pages);
    expect(batches.map((b) => b.index)).toEqual([0, 1, 2, 3, 4]);
    const names = batches.flatMap((b) => (b.kind === 'files' ? b.files.map((f) => f.name) : []));
    expect(names).toEqual(
      Object.keys(files)
        .filter((n) => n.startsWith('data/'))
        .sort(),
    );
    expect(batches.map((b) => (b.kind === 'files' ? b.files.length : -1))).toEqual([5, 5, 5, 5, 3]);

    const before = await env.store.readText(logs, jobFolder(req.jobId).planPage(1));
    expect(await planJob(env.store, req)).toEqual(summary);
    expect(await env.store.readText(logs, jobFolder(req.jobId).planPage(1))).toBe(before);
    expect(await env.store.readJson(logs, jobFolder(req.jobId).planPage(2), planPageSchema)).toMatchObject({
      page: 2,
      first: 4,
    });
  });

  it('plans a uri_file as one mini-batch, and explains a missing one', async () => {
    const container = await seed({ 'in/one.csv': 'a,b\n1,2\n', 'folder/x.txt': 'x' });
    const summary = await planJob(env.store, request(container, 'in/one.csv', { inputType: 'uri_file' }));
    expect(summary).toMatchObject({ kind: 'files', miniBatches: 1, items: 1, bytes: 8, pages: 1 });

    const missing = planJob(env.store, request(container, 'in/two.csv', { inputType: 'uri_file' }));
    await expect(missing).rejects.toThrow(InputNotFoundError);
    await expect(planJob(env.store, request(container, 'folder', { inputType: 'uri_file' }))).rejects.toThrow(
      /It is a folder: declare the input as type: uri_folder/,
    );
  });

  it('cuts an mltable of CSV files into byte ranges whose records read back exactly once (Azurite)', async () => {
    const first = `id,name,note\n${csvRows(0, 40)}\n`;
    const second = `id,name,note\r\n${csvRows(40, 25).replace(/"\n/g, '"\r\n')}`;
    const container = await seed({
      'table/MLTable': 'paths: []',
      'table/part-0.csv': first,
      'table/part-1.csv': second,
    });
    const req = request(container, 'table/', {
      inputType: 'mltable',
      miniBatchSize: 97,
      miniBatchSizeUnit: 'bytes',
      pageSize: 7,
    });

    const summary = await planJob(env.store, req);
    expect(summary.kind).toBe('tabular');
    expect(summary.items).toBeUndefined();
    expect(summary.bytes).toBe(Buffer.byteLength(first) + Buffer.byteLength(second));
    const batches = await allMiniBatches(req, summary.pages);
    expect(batches).toHaveLength(summary.miniBatches);
    expect(batches.every((b) => b.kind === 'tabular' && b.format === 'csv' && b.end - b.start <= 97)).toBe(
      true,
    );

    const ids: string[] = [];
    for (const batch of batches) {
      if (batch.kind !== 'tabular') throw new Error('expected tabular');
      const records = await readTabularRange(env.store, req.input, batch);
      ids.push(...records.map((r) => String(r.id)));
      for (const record of records) expect(record.note).toBe(`multi\nline ${String(record.id)}`);
    }
    expect(ids).toEqual(Array.from({ length: 65 }, (_, i) => String(i)));
  });

  it('refuses an mltable that mixes CSV and JSON Lines', async () => {
    const container = await seed({ 't/a.csv': 'a\n1\n', 't/b.jsonl': '{"a":1}\n' });
    const req = request(container, 't', {
      inputType: 'mltable',
      miniBatchSize: 1024,
      miniBatchSizeUnit: 'bytes',
    });
    await expect(planJob(env.store, req)).rejects.toThrow(InputLayoutError);
    await expect(planJob(env.store, req)).rejects.toThrow(
      /mixes formats: 't\/a.csv' is csv but 't\/b.jsonl' is jsonl/,
    );
  });

  it('groups Hive partitions by key tuple, splits on request, and names the keys it found', async () => {
    const container = await seed({
      'p/MLTable': 'x',
      'p/year=2023/month=01/a.jsonl': '{"v":1}\n{"v":2}\n',
      'p/year=2023/month=02/a.jsonl': '{"v":3}\n',
      'p/year=2024/month=01/a.jsonl': '{"v":4}\n',
      'p/year=2024/month=01/b.jsonl': '{"v":5}\n',
    });
    const byMonth = request(container, 'p', { inputType: 'mltable', partitionKeys: ['month'] });
    const summary = await planJob(env.store, byMonth);
    expect(summary).toMatchObject({ kind: 'partition', miniBatches: 2, items: 4 });
    const batches = await allMiniBatches(byMonth, summary.pages);
    expect(batches).toEqual([
      {
        kind: 'partition',
        index: 0,
        keys: { month: '01' },
        format: 'jsonl',
        files: [
          { name: 'p/year=2023/month=01/a.jsonl', size: 16, etag: expect.any(String) },
          { name: 'p/year=2024/month=01/a.jsonl', size: 8, etag: expect.any(String) },
          { name: 'p/year=2024/month=01/b.jsonl', size: 8, etag: expect.any(String) },
        ],
      },
      {
        kind: 'partition',
        index: 1,
        keys: { month: '02' },
        format: 'jsonl',
        files: [{ name: 'p/year=2023/month=02/a.jsonl', size: 8, etag: expect.any(String) }],
      },
    ]);
    expect(await readTabularFile(env.store, byMonth.input, 'p/year=2023/month=01/a.jsonl', 'jsonl')).toEqual([
      { v: 1 },
      { v: 2 },
    ]);

    const split = await planJob(env.store, {
      ...byMonth,
      jobId: `${byMonth.jobId}-split`,
      splitPartitionsBySize: true,
      miniBatchSize: 2,
    });
    expect(split.miniBatches).toBe(3);

    const both = await planJob(env.store, {
      ...byMonth,
      jobId: `${byMonth.jobId}-both`,
      partitionKeys: ['year', 'month'],
    });
    expect(both.miniBatches).toBe(3);

    await expect(planJob(env.store, { ...byMonth, partitionKeys: ['region', 'month'] })).rejects.toThrow(
      /\["region"\] are not folder levels of the input. The keys found are: month, year/,
    );
  });

  it('plans an empty input as zero mini-batches and previews a warning', async () => {
    const container = await seed({});
    const req = request(container, '', {});
    expect(await planJob(env.store, req)).toMatchObject({ miniBatches: 0, items: 0, bytes: 0, pages: 0 });
    const onlyMeta = await seed({ 'table/MLTable': 'paths: []' });
    const tableReq = request(onlyMeta, 'table', {
      inputType: 'mltable',
      miniBatchSize: 1024,
      miniBatchSizeUnit: 'bytes',
    });
    expect(await planJob(env.store, tableReq)).toMatchObject({ miniBatches: 0, pages: 0 });
    const preview = await previewPlan(env.store, req);
    expect(preview.miniBatches).toBe(0);
    expect(preview.warnings).toEqual(['The input is empty: the job would run no mini-batches.']);
  });

  it('reports a path or container that does not exist, saying what was listed', async () => {
    const container = await seed({ 'real/a.txt': 'a', 'one.txt': 'x' });
    await expect(planJob(env.store, request(container, 'imaginary', {}))).rejects.toMatchObject({
      code: 'INPUT_NOT_FOUND',
      message: expect.stringContaining(
        `listing container '${container}' with prefix 'imaginary/' returned no blobs`,
      ),
    });
    await expect(planJob(env.store, request(container, 'one.txt', {}))).rejects.toThrow(
      /single blob: declare the input as type: uri_file/,
    );
    const absent = uniqueContainer('absent');
    await expect(planJob(env.store, request(absent, 'x', {}))).rejects.toThrow(InputNotFoundError);
    await expect(planJob(env.store, request(absent, 'x', {}))).rejects.toThrow(
      new RegExp(`container '${absent}' does not exist`),
    );
  });

  it('surfaces an unreachable storage account as a retryable project error', async () => {
    const other = await useAzurite();
    const unreachable = BlobStore.fromConnectionString(other.connectionString, { retry: { maxTries: 1 } });
    await other.stop();
    const failure = await planJob(unreachable, {
      ...request('whatever', 'x', {}),
      input: { accountUrl: unreachable.accountUrl, container: 'whatever', prefix: 'x' },
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StorageTransientError);
    expect(failure).toMatchObject({ code: 'STORAGE_TRANSIENT', retryable: true });
  });
});

describe('previewPlan', () => {
  it('reports counts, the size distribution, the first mini-batches and skew', async () => {
    const files: Record<string, string> = { 'in/big.bin': 'B'.repeat(5000) };
    for (let i = 0; i < 9; i += 1) files[`in/s-${i}.bin`] = 's'.repeat(10);
    const container = await seed(files);
    const preview = await previewPlan(env.store, request(container, 'in', { miniBatchSize: 1 }), {
      sample: 2,
    });
    expect(preview).toMatchObject({
      kind: 'files',
      miniBatches: 10,
      items: 10,
      bytes: 5090,
      bytesPerMiniBatch: { min: 10, median: 10, max: 5000 },
      itemsPerMiniBatch: { min: 1, median: 1, max: 1 },
    });
    expect(preview.first.map((b) => b.index)).toEqual([0, 1]);
    expect(preview.warnings.join('\n')).toMatch(/One file holds most of the input \(in\/big\.bin/);
    expect(preview.warnings.join('\n')).toMatch(/Mini-batch sizes are skewed/);
    // A preview writes nothing.
    const written: string[] = [];
    for await (const blob of env.store.list(logs, `job-${container}/`)) written.push(blob.name);
    expect(written).toEqual([]);
  });

  it('warns about a single unsplittable file and a byte size that looks like a row count', async () => {
    const container = await seed({ 'one/data.csv': 'a\n1\n2\n', 'tab/x.csv': 'a\n1\n2\n3\n' });
    const single = await previewPlan(env.store, request(container, 'one', {}));
    expect(single.warnings.join('\n')).toMatch(/single file \(one\/data\.csv.*cannot be split/);
    const tiny = await previewPlan(
      env.store,
      request(container, 'tab', { inputType: 'mltable', miniBatchSize: 4, miniBatchSizeUnit: 'bytes' }),
    );
    expect(tiny.kind).toBe('tabular');
    expect(tiny.miniBatches).toBe(2); // 8 bytes in ranges of at most 4
    expect(tiny.warnings.join('\n')).toMatch(/mini_batch_size is 4 bytes.*not a row count/);
  });
});
