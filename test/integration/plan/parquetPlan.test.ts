import { BlobStore } from '../../../src/storage/blobStore';
import { planJob, readPlanPage, type PlanRequest } from '../../../src/plan/planner';
import { formatBytes, previewPlan } from '../../../src/plan/preview';
import { formatPlanSummary } from '../../../src/cli/planSummary';
import type { MiniBatchDescriptor } from '../../../src/plan/descriptor';
import { InputLayoutError } from '../../../src/errors';
import { uniqueContainer, useAzuriteStore } from '../../support/azurite';
import { writeWithHyparquet } from '../../support/parquet';

/** Planning Parquet tables from their footers, against a real Azurite. */

const env = useAzuriteStore();
const logs = 'logs';

/** `rows` rows of ids from `from`, `rowGroupSize` rows per row group, uncompressed (sizes are predictable). */
function table(from: number, rows: number, rowGroupSize: number): Buffer {
  return writeWithHyparquet(
    [
      { name: 'id', data: Int32Array.from({ length: rows }, (_, i) => from + i), type: 'INT32' },
      {
        name: 'note',
        data: Array.from({ length: rows }, (_, i) => `note ${from + i}`.padEnd(40, '.')),
        type: 'STRING',
      },
    ],
    { codec: 'UNCOMPRESSED', rowGroupSize },
  );
}

async function seed(files: Record<string, Buffer | string>): Promise<string> {
  const container = uniqueContainer('pq');
  await env.store.ensureContainer(container);
  await Promise.all(Object.entries(files).map(([name, body]) => env.store.write(container, name, body)));
  return container;
}

function request(container: string, prefix: string, overrides: Partial<PlanRequest> = {}): PlanRequest {
  return {
    jobId: `job-${container}`,
    input: { accountUrl: env.store.accountUrl, container, prefix },
    inputType: 'mltable',
    miniBatchSize: 1500,
    miniBatchSizeUnit: 'bytes',
    logsContainer: logs,
    ...overrides,
  };
}

async function planned(req: PlanRequest): Promise<MiniBatchDescriptor[]> {
  const summary = await planJob(env.store, req);
  const out: MiniBatchDescriptor[] = [];
  for (let page = 0; page < summary.pages; page += 1)
    out.push(...(await readPlanPage(env.store, logs, req.jobId, page)).miniBatches);
  return out;
}

/** What a test checks of a Parquet descriptor: file, row groups, rows. */
const runs = (descriptors: MiniBatchDescriptor[]) =>
  descriptors.map((d) =>
    d.kind === 'parquet'
      ? {
          index: d.index,
          blob: d.blob,
          firstRowGroup: d.firstRowGroup,
          rowGroups: d.rowGroups,
          firstRow: d.firstRow,
          rows: d.rows,
          ...(d.unreadable ? { unreadable: d.unreadable } : {}),
        }
      : d,
  );

describe('planning Parquet tables', () => {
  it('cuts whole row groups of one file up to mini_batch_size, never across files, in listing order, from range reads of the footers', async () => {
    // Row groups of 10 rows are about 550 bytes each here: two fit in 1,500 bytes, three do not.
    const container = await seed({
      'sales/MLTable': 'paths:\n  - pattern: ./*.parquet\n',
      'sales/_SUCCESS': '',
      'sales/a.parquet': table(0, 50, 10),
      'sales/b.parquet': table(100, 10, 10),
      'sales/c.parquet': table(200, 0, 10),
    });
    const descriptors = await planned(request(container, 'sales'));
    expect(runs(descriptors)).toEqual([
      { index: 0, blob: 'sales/a.parquet', firstRowGroup: 0, rowGroups: 2, firstRow: 0, rows: 20 },
      { index: 1, blob: 'sales/a.parquet', firstRowGroup: 2, rowGroups: 2, firstRow: 20, rows: 20 },
      { index: 2, blob: 'sales/a.parquet', firstRowGroup: 4, rowGroups: 1, firstRow: 40, rows: 10 },
      { index: 3, blob: 'sales/b.parquet', firstRowGroup: 0, rowGroups: 1, firstRow: 0, rows: 10 },
    ]);
    const a = await env.store.stat(container, 'sales/a.parquet');
    // Pinned to the listed version (listings give etags without their quotes).
    expect(descriptors[0]).toMatchObject({ fileSize: a!.size, etag: a!.etag?.replace(/"/g, '') });
    expect(descriptors.filter((d) => d.kind === 'parquet' && d.bytes > 1500)).toEqual([]);
    const summary = await planJob(env.store, request(container, 'sales'));
    expect(summary).toMatchObject({ kind: 'tabular', miniBatches: 4 });
    expect(summary.items).toBeUndefined();
    expect(summary.bytes).toBe(descriptors.reduce((sum, d) => sum + (d.kind === 'parquet' ? d.bytes : 0), 0));
  });

  it('reads nothing of a file but its footer: two range reads each, after the last data page', async () => {
    const files = { 'only/a.parquet': table(0, 200, 10), 'only/b.parquet': table(0, 30, 30) };
    const container = await seed(files);
    const reads: Array<{ name: string; start: number; end: number }> = [];
    const read = env.store.read.bind(env.store);
    const watched = Object.create(env.store) as BlobStore;
    watched.read = (c, name, range, options) => {
      reads.push({ name, start: range?.start ?? 0, end: range?.end ?? Infinity });
      return read(c, name, range, options);
    };
    watched.forAccount = () => watched;
    await planJob(watched, request(container, 'only'));
    expect(reads.map((r) => r.name).sort()).toEqual([
      'only/a.parquet',
      'only/a.parquet',
      'only/b.parquet',
      'only/b.parquet',
    ]);
    for (const { name, start, end } of reads) {
      const bytes = files[name as keyof typeof files];
      const footerStart = bytes.length - 8 - bytes.readUInt32LE(bytes.length - 8);
      expect(start).toBeGreaterThanOrEqual(footerStart);
      expect(end).toBeLessThanOrEqual(bytes.length);
    }
    expect(reads).toHaveLength(4);
  });

  it('plans Hive partition folders as one table, and partition_keys as partitions of Parquet files', async () => {
    const container = await seed({
      'lake/region=eu/year=2026/part-0001.parquet': table(0, 20, 10),
      'lake/region=eu/year=2025/part-0001.parquet': table(20, 10, 10),
      'lake/region=us/year=2026/part-0001.parquet': table(30, 10, 10),
    });
    expect(runs(await planned(request(container, 'lake', { miniBatchSize: 100_000 })))).toEqual([
      {
        index: 0,
        blob: 'lake/region=eu/year=2025/part-0001.parquet',
        firstRowGroup: 0,
        rowGroups: 1,
        firstRow: 0,
        rows: 10,
      },
      {
        index: 1,
        blob: 'lake/region=eu/year=2026/part-0001.parquet',
        firstRowGroup: 0,
        rowGroups: 2,
        firstRow: 0,
        rows: 20,
      },
      {
        index: 2,
        blob: 'lake/region=us/year=2026/part-0001.parquet',
        firstRowGroup: 0,
        rowGroups: 1,
        firstRow: 0,
        rows: 10,
      },
    ]);
    const partitions = await planned(
      request(container, 'lake', { partitionKeys: ['region'], jobId: `p-${container}` }),
    );
    expect(
      partitions.map((d) =>
        d.kind === 'partition' ? { keys: d.keys, format: d.format, files: d.files.map((f) => f.name) } : d,
      ),
    ).toEqual([
      {
        keys: { region: 'eu' },
        format: 'parquet',
        files: ['lake/region=eu/year=2025/part-0001.parquet', 'lake/region=eu/year=2026/part-0001.parquet'],
      },
      { keys: { region: 'us' }, format: 'parquet', files: ['lake/region=us/year=2026/part-0001.parquet'] },
    ]);
  });

  it('refuses a folder that mixes Parquet with another format, naming the input and both files', async () => {
    const container = await seed({ 'mixed/a.parquet': table(0, 5, 5), 'mixed/b.csv': 'id\n1\n' });
    await expect(planned(request(container, 'mixed'))).rejects.toThrow(InputLayoutError);
    await expect(planned(request(container, 'mixed'))).rejects.toThrow(
      `The input '${env.store.accountUrl}/${container}/mixed' cannot be split as declared: it mixes formats: 'mixed/a.parquet' is parquet but 'mixed/b.csv' is csv. A table must be all CSV, all JSON Lines or all Parquet; split it into two inputs.`,
    );
  });

  it('reports a file whose footer cannot be read, with its name and reason, while the other files plan', async () => {
    const whole = table(0, 20, 10);
    const container = await seed({
      't/a.parquet': whole,
      't/b.parquet': whole.subarray(0, whole.length - 30),
      't/c.parquet': table(50, 10, 10),
    });
    const truncated =
      'it does not end with the Parquet footer (the magic bytes PAR1): the file is truncated or not Parquet';
    expect(runs(await planned(request(container, 't', { miniBatchSize: 100_000 })))).toEqual([
      { index: 0, blob: 't/a.parquet', firstRowGroup: 0, rowGroups: 2, firstRow: 0, rows: 20 },
      {
        index: 1,
        blob: 't/b.parquet',
        firstRowGroup: 0,
        rowGroups: 0,
        firstRow: 0,
        rows: 0,
        unreadable: truncated,
      },
      { index: 2, blob: 't/c.parquet', firstRowGroup: 0, rowGroups: 1, firstRow: 0, rows: 10 },
    ]);
    const preview = await previewPlan(env.store, request(container, 't', { miniBatchSize: 100_000 }));
    expect(preview.warnings).toEqual([
      `1 Parquet file's footer could not be read: t/b.parquet (${truncated}). Each is a mini-batch that fails with its reason; the other files run.`,
    ]);
  });

  it('previews row groups, rows and bytes per mini-batch, and warns of row groups larger than mini_batch_size', async () => {
    const container = await seed({ 'big/a.parquet': table(0, 40, 20), 'big/b.parquet': table(100, 6, 2) });
    const req = request(container, 'big', { miniBatchSize: 600 });
    const preview = await previewPlan(env.store, req);
    const descriptors = await planned(req);
    expect(runs(descriptors)).toEqual([
      { index: 0, blob: 'big/a.parquet', firstRowGroup: 0, rowGroups: 1, firstRow: 0, rows: 20 },
      { index: 1, blob: 'big/a.parquet', firstRowGroup: 1, rowGroups: 1, firstRow: 20, rows: 20 },
      { index: 2, blob: 'big/b.parquet', firstRowGroup: 0, rowGroups: 3, firstRow: 0, rows: 6 },
    ]);
    expect(preview.rowsPerMiniBatch).toEqual({ min: 6, median: 20, max: 20 });
    const [first, second] = descriptors as Array<Extract<MiniBatchDescriptor, { kind: 'parquet' }>>;
    const largest = Math.max(first!.bytes, second!.bytes);
    const largestGroup = first!.bytes >= second!.bytes ? 0 : 1;
    expect(preview.warnings).toContain(
      `2 Parquet row groups are larger than mini_batch_size (600 B) and are mini-batches of their own: a row group is never split (the largest: row group ${largestGroup} of big/a.parquet, ${formatBytes(largest)}). Raise mini_batch_size, or write the files with smaller row groups.`,
    );
    const text = formatPlanSummary(preview, { appendRows: true, maxRetries: 3, concurrency: 4 });
    expect(text).toContain('Rows per mini-batch: min 6, median 20, max 20');
    expect(text).toContain(`#0  a.parquet row group 0: 20 rows, ${formatBytes(first!.bytes)}`);
    expect(text).toContain('#2  b.parquet row groups 0-2: 6 rows, ');
  });

  it('reads the footers of many files several at a time and keeps the listing order', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i += 1)
      files[`many/f-${String(i).padStart(3, '0')}.parquet`] = table(i * 10, 3 + (i % 4), 2);
    const container = await seed(files);
    const descriptors = await planned(
      request(container, 'many', { miniBatchSize: 100_000, listPageSize: 7 }),
    );
    expect(descriptors.map((d) => (d.kind === 'parquet' ? `${d.blob}:${d.rows}` : ''))).toEqual(
      Object.keys(files)
        .sort()
        .map((name, i) => `${name}:${3 + (i % 4)}`),
    );
  });
});
