import { startProductHost, type ProductHost } from '../support/productHost';
import { corruptRowGroup, writeWithHyparquet } from '../support/parquet';
import { countersOf, fileJob, readArtifacts, runJob, withoutTimings } from './orchestrator.support';

/**
 * A Parquet table through the whole app on the local host: planned from footers, decoded in worker
 * threads, finalized. A truncated file and a corrupt row group are failures with their file and reason;
 * the counters, failed_items.jsonl and the output agree, and error_threshold counts failed rows.
 */

function orders(first: number, rows: number): Buffer {
  return writeWithHyparquet(
    [
      { name: 'id', data: Int32Array.from({ length: rows }, (_, i) => first + i), type: 'INT32' },
      { name: 'name', data: Array.from({ length: rows }, (_, i) => `order ${first + i}`), type: 'STRING' },
    ],
    { codec: 'SNAPPY', rowGroupSize: 10 },
  );
}

async function failedItems(product: ProductHost, jobId: string): Promise<unknown[]> {
  const text = await product.store.readText('logs', `${jobId}/failed_items.jsonl`);
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown);
}

function parquetJob(prefix: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...fileJob(prefix, 'parquet-types.js', '', { mini_batch_size: '1mb', max_concurrency_per_instance: 2 }),
    inputs: { data: { type: 'mltable', path: `inputs/${prefix}`, mode: 'direct' } },
    ...fields,
  };
}

describe('Parquet tables end to end on the local host', () => {
  let product: ProductHost;

  beforeAll(async () => {
    product = await startProductHost();
    const whole = orders(100, 30);
    for (const prefix of ['pq-e2e', 'pq-e2e-threshold']) {
      await product.store.write('inputs', `${prefix}/region=eu/a.parquet`, orders(0, 30));
      await product.store.write(
        'inputs',
        `${prefix}/region=eu/b.parquet`,
        whole.subarray(0, whole.length - 20),
      );
      await product.store.write(
        'inputs',
        `${prefix}/region=us/c.parquet`,
        await corruptRowGroup(orders(200, 30), 1),
      );
    }
  });
  afterAll(async () => {
    await product?.stop();
  });

  it('runs every readable row once, in order, and reports the truncated file and the corrupt row group', async () => {
    const view = await runJob(product, parquetJob('pq-e2e'), 'pq-e2e');
    const artifacts = await readArtifacts(product, 'pq-e2e');
    const ids = [
      ...Array.from({ length: 30 }, (_, i) => i),
      ...Array.from({ length: 20 }, (_, i) => (i < 10 ? 200 + i : 210 + i)),
    ];
    expect(artifacts.output.map((row) => (JSON.parse(row) as { id: string }).id)).toEqual(
      ids.map((id) => `number ${id}`),
    );
    expect(await failedItems(product, 'pq-e2e')).toEqual([
      {
        mini_batch: 1,
        attempt: 1,
        item: { blob: 'pq-e2e/region=eu/b.parquet', firstRowGroup: 0, rowGroups: 0 },
        error:
          "PARQUET_UNREADABLE: The mini-batch's input could not be read: 'pq-e2e/region=eu/b.parquet' cannot be read as Parquet: it does not end with the Parquet footer (the magic bytes PAR1): the file is truncated or not Parquet. Write the file again (a file still being written, or cut short by a failed copy, has no footer yet), or move it out of the input.",
      },
      {
        mini_batch: 2,
        attempt: 1,
        item: { blob: 'pq-e2e/region=us/c.parquet', rowGroup: 1, firstRow: 10, rows: 10 },
        error: 'thrift unhandled type: 15',
      },
    ]);
    expect(view.status).toBe(artifacts.result.status);
    expect(withoutTimings(artifacts.result.counters)).toEqual(
      countersOf({
        miniBatches: 3,
        scheduled: 3,
        succeeded: 1,
        failed: 2,
        partial: 1,
        itemsSucceeded: 50,
        itemsFailed: 10,
        rows: 50,
      }),
    );
    // Neither failure is retried: the same bytes fail the same way.
    expect(artifacts.attempts.map((a) => [a.index, a.attempt, a.status, a.items, a.failed, a.code])).toEqual([
      [0, 1, 'succeeded', 30, 0, ''],
      [1, 1, 'failed', 0, 0, 'PARQUET_UNREADABLE'],
      [2, 1, 'partial', 30, 10, ''],
    ]);
  });

  it('counts a corrupt row group’s rows against error_threshold', async () => {
    const view = await runJob(
      product,
      parquetJob('pq-e2e-threshold', { error_threshold: 5, max_concurrency_per_instance: 1 }),
      'pq-e2e-threshold',
    );
    const artifacts = await readArtifacts(product, 'pq-e2e-threshold');
    expect(view.status).toBe('Failed');
    expect(artifacts.result.reasons).toEqual([
      expect.stringMatching(/^error_threshold exceeded: 10 failed items > 5 allowed/),
    ]);
  });
});
