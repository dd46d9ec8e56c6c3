import { startProductHost, type ProductHost } from '../support/productHost';
import {
  countersOf,
  fileJob,
  readArtifacts,
  runJob,
  withoutTimings,
  type JobArtifacts,
} from './orchestrator.support';

/**
 * Bad table records through the whole app on the local host: submitted over HTTP, planned, run in
 * worker threads, finalized. The counters, the manifest, processed_mini_batches.csv and
 * failed_items.jsonl must agree with each other and with the bad lines written into the input.
 */

interface FailedLine {
  mini_batch: number;
  attempt: number;
  item:
    | { blob: string; line: number; offset: number; text: string }
    | { blob: string; start: number; end: number };
  error: string;
}

async function failedItems(product: ProductHost, jobId: string): Promise<FailedLine[]> {
  const text = await product.store.readText('logs', `${jobId}/failed_items.jsonl`);
  return text === ''
    ? []
    : text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as FailedLine);
}

function tableJob(prefix: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...fileJob(prefix, 'flaky.js', '--fail_rate 0', {
      mini_batch_size: '1kb',
      max_concurrency_per_instance: 2,
    }),
    inputs: { data: { type: 'mltable', path: `inputs/${prefix}`, mode: 'direct' } },
    ...fields,
  };
}

/** Sums of the final attempts, from the manifest and from the CSV report: both must equal the counters. */
function expectAgreement(artifacts: JobArtifacts): void {
  const { manifest, attempts, result } = artifacts;
  // A job stopped by a threshold leaves the mini-batches it never started PENDING, without an attempt.
  const final = manifest.miniBatches
    .filter((entry) => entry.status !== 'PENDING')
    .map((entry) => attempts.find((a) => a.index === entry.index && a.attempt === entry.attempt));
  expect(final.every(Boolean)).toBe(true);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  expect(sum(manifest.miniBatches.map((entry) => entry.failed ?? 0))).toBe(result.counters.itemsFailed);
  expect(sum(final.map((a) => (a!.status === 'failed' ? a!.items : a!.failed)))).toBe(
    result.counters.itemsFailed,
  );
  expect(sum(final.map((a) => (a!.status === 'failed' ? 0 : a!.succeeded)))).toBe(
    result.counters.itemsSucceeded,
  );
}

describe('bad table records end to end on the local host', () => {
  let product: ProductHost;

  beforeAll(async () => {
    product = await startProductHost();
  });
  afterAll(async () => {
    await product?.stop();
  });

  it('a JSON Lines job runs every good record once and reports every bad line once, at its file line', async () => {
    const lines: string[] = [];
    const good: string[] = [];
    const bad: Array<{ line: number; text: string }> = [];
    for (let i = 0; i < 300; i += 1) {
      if (i % 37 === 5) {
        const text = i % 2 ? `{"id":"r${i}", broken` : `["r${i}"]`;
        lines.push(text);
        bad.push({ line: i + 1, text });
      } else {
        lines.push(JSON.stringify({ id: `r${i}`, pad: 'x'.repeat(i % 13) }));
        good.push(`r${i}`);
      }
    }
    const text = `\ufeff${lines.join('\n')}\n`;
    await product.store.write('inputs', 'bad-jsonl/events.jsonl', text);

    const view = await runJob(product, tableJob('bad-jsonl'), 'bad-jsonl');
    const artifacts = await readArtifacts(product, 'bad-jsonl');
    expect(bad).toHaveLength(8);
    expect(view.status).toBe('Completed');
    expect(artifacts.output).toEqual(good);
    const miniBatches = artifacts.manifest.miniBatches.length;
    expect(miniBatches).toBeGreaterThan(5);
    const failedBatches = new Set<number>();
    const failed = await failedItems(product, 'bad-jsonl');
    for (const entry of failed) failedBatches.add(entry.mini_batch);
    expect(
      failed.map(({ item }) => ({
        line: (item as { line: number }).line,
        text: (item as { text: string }).text,
      })),
    ).toEqual(bad);
    // Byte offsets are the records' own (the BOM is 3 bytes before line 1).
    for (const entry of failed) {
      const item = entry.item as { offset: number; text: string };
      expect(
        Buffer.from(text)
          .subarray(item.offset, item.offset + Buffer.byteLength(item.text))
          .toString(),
      ).toBe(item.text);
    }
    expect(withoutTimings(artifacts.result.counters)).toEqual(
      countersOf({
        miniBatches,
        scheduled: miniBatches,
        succeeded: miniBatches - failedBatches.size,
        failed: failedBatches.size,
        // A bad record leaves its mini-batch partial: the rest of it ran.
        partial: failedBatches.size,
        itemsSucceeded: good.length,
        itemsFailed: bad.length,
        rows: good.length,
      }),
    );
    expect(withoutTimings(view.counters)).toEqual(withoutTimings(artifacts.result.counters));
    // Bad data is not retried: one attempt per mini-batch.
    expect(artifacts.attempts.map((a) => a.attempt)).toEqual(Array.from({ length: miniBatches }, () => 1));
    expect(artifacts.manifest.miniBatches.filter((e) => e.status === 'FAILED').map((e) => e.index)).toEqual(
      [...failedBatches].sort((a, b) => a - b),
    );
    expectAgreement(artifacts);
  });

  it('a CSV job with ragged rows stops when they pass error_threshold', async () => {
    const rows = ['id,value'];
    for (let i = 0; i < 400; i += 1) rows.push(i % 10 === 3 ? `r${i},${i},extra` : `r${i},${i}`);
    await product.store.write('inputs', 'bad-csv/rows.csv', `${rows.join('\n')}\n`);

    const view = await runJob(
      product,
      tableJob('bad-csv', { error_threshold: 5, max_concurrency_per_instance: 1 }),
      'bad-csv',
    );
    const artifacts = await readArtifacts(product, 'bad-csv');
    expect(view.status).toBe('Failed');
    expect(artifacts.result.reasons).toEqual([
      expect.stringMatching(/^error_threshold exceeded: \d+ failed items > 5 allowed/),
    ]);
    expect(artifacts.result.counters.itemsFailed).toBeGreaterThan(5);
    const failed = await failedItems(product, 'bad-csv');
    expect(failed).toHaveLength(artifacts.result.counters.itemsFailed);
    // Row r<i> is on file line i + 2 (after the header).
    for (const entry of failed) {
      const item = entry.item as { line: number; text: string };
      const i = item.line - 2;
      expect(item.text).toBe(`r${i},${i},extra`);
      expect(entry.error).toBe('3 fields where the header has 2');
    }
    expectAgreement(artifacts);
  });

  it('a CSV job with stray quotes and quoted multi-line fields reads every row once, however it is cut', async () => {
    const rows = ['id,note'];
    const good: string[] = [];
    const bad: Array<{ line: number; text: string }> = [];
    let line = 2;
    for (let i = 0; i < 300; i += 1) {
      let row: string;
      if (i % 23 === 7) {
        row = `r${i},it"s row ${i}`;
        bad.push({ line, text: row });
      } else {
        row = i % 5 === 0 ? `r${i},"two\nlines, ""quoted"""` : `r${i},plain ${i}`;
        good.push(`r${i}`);
      }
      rows.push(row);
      line += row.split('\n').length;
    }
    await product.store.write('inputs', 'bad-quotes/rows.csv', `${rows.join('\n')}\n`);

    const view = await runJob(product, tableJob('bad-quotes'), 'bad-quotes');
    const artifacts = await readArtifacts(product, 'bad-quotes');
    expect(view.status).toBe('Completed');
    expect(artifacts.manifest.miniBatches.length).toBeGreaterThan(5);
    expect(artifacts.output).toEqual(good);
    const failed = await failedItems(product, 'bad-quotes');
    expect(
      failed.map(({ item }) => ({
        line: (item as { line: number }).line,
        text: (item as { text: string }).text,
      })),
    ).toEqual(bad);
    expect(artifacts.result.counters).toMatchObject({
      itemsSucceeded: good.length,
      itemsFailed: bad.length,
      rows: good.length,
    });
    expectAgreement(artifacts);
  });

  it('on_bad_record: fail_mini_batch fails the mini-batches with bad lines once, without retries, and runs the rest', async () => {
    const lines = Array.from({ length: 120 }, (_, i) =>
      i === 60 ? 'not json' : JSON.stringify({ id: `r${i}` }),
    );
    const text = `${lines.join('\n')}\n`;
    await product.store.write('inputs', 'bad-strict/events.jsonl', text);
    const view = await runJob(
      product,
      tableJob('bad-strict', { on_bad_record: 'fail_mini_batch', retry_settings: { max_retries: 3 } }),
      'bad-strict',
    );
    const artifacts = await readArtifacts(product, 'bad-strict');
    const failedAttempts = artifacts.attempts.filter((a) => a.status === 'failed');
    expect(failedAttempts).toHaveLength(1);
    expect(failedAttempts[0]).toMatchObject({ attempt: 1, code: 'TABULAR_PARSE_FAILED' });
    expect(artifacts.attempts.every((a) => a.attempt === 1)).toBe(true);
    expect(view.counters.retried).toBe(0);
    const failed = await failedItems(product, 'bad-strict');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatch(/TABULAR_PARSE_FAILED: .*line 61 \(byte \d+\): not valid JSON/);
    const failedBatch = failedAttempts[0]!;
    expect(artifacts.result.counters.itemsFailed).toBe(failedBatch.items);
    expect(artifacts.output).toHaveLength(120 - failedBatch.items);
    expectAgreement(artifacts);
  });
});
