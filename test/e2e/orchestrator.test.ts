import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProductHost, type ProductHost } from '../support/productHost';
import {
  countersOf,
  fileJob,
  readArtifacts,
  runJob,
  uploadFiles,
  withoutTimings,
  type JobArtifacts,
} from './orchestrator.support';

// The fixture's own rule for which attempts fail, so the expected retries are known exactly.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { failsOn } = require('../fixtures/tasks/flaky.js') as {
  failsOn: (seed: string, index: number, attempt: number, rate: number) => boolean;
};

const FAIL_RATE = 0.3;
const MAX_RETRIES = 6;

/** Attempts each mini-batch needs with the flaky task: the first attempt that does not fail. */
function attemptsNeeded(seed: string, miniBatches: number): number[] {
  return Array.from({ length: miniBatches }, (_, index) => {
    let attempt = 1;
    while (failsOn(seed, index, attempt, FAIL_RATE)) attempt += 1;
    return attempt;
  });
}

/** Every attempt but the last of each mini-batch failed with the task's error; the last succeeded. */
function expectAttemptsFollow(artifacts: JobArtifacts, needed: number[]): void {
  const expected = needed.flatMap((count, index) =>
    Array.from({ length: count }, (_, i) => ({
      index,
      attempt: i + 1,
      status: i + 1 === count ? 'succeeded' : 'failed',
      code: i + 1 === count ? '' : 'TASK_RUN_FAILED',
    })),
  );
  expect(
    artifacts.attempts.map(({ index, attempt, status, code }) => ({ index, attempt, status, code })),
  ).toEqual(expected);
}

describe('orchestrator end to end on the local host', () => {
  let product: ProductHost;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-e2e-'));

  beforeAll(async () => {
    product = await startProductHost();
  });
  afterAll(async () => {
    await product?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a file job whose task fails 30% of attempts writes every row once, in input order', async () => {
    const seed = 'files-7';
    const names = await uploadFiles(product, 'flaky-files', 60);
    const needed = attemptsNeeded(seed, 20);
    const retries = needed.reduce((sum, n) => sum + n - 1, 0);
    // The seed must make the job retry, and no mini-batch may run out of retries.
    expect(retries).toBeGreaterThan(0);
    expect(Math.max(...needed)).toBeLessThanOrEqual(MAX_RETRIES + 1);

    const spec = fileJob('flaky-files', 'flaky.js', `--fail_rate ${FAIL_RATE} --seed ${seed}`, {
      mini_batch_size: '3',
      max_concurrency_per_instance: 4,
      retry_settings: { max_retries: MAX_RETRIES, timeout: 30 },
    });
    const view = await runJob(product, spec, 'flaky-files');
    const artifacts = await readArtifacts(product, 'flaky-files');

    expect(view.status).toBe('Completed');
    expect(artifacts.result.status).toBe('Completed');
    expect(artifacts.output).toEqual(names.map((name) => `flaky-files/${name}`));
    const counters = countersOf({
      miniBatches: 20,
      scheduled: 20,
      succeeded: 20,
      retried: retries,
      itemsSucceeded: 60,
      rows: 60,
    });
    expect(withoutTimings(artifacts.result.counters)).toEqual(counters);
    expect(withoutTimings(view.counters)).toEqual(counters);
    expectAttemptsFollow(artifacts, needed);
    expect(artifacts.manifest.miniBatches.map((entry) => [entry.status, entry.attempt])).toEqual(
      needed.map((attempt) => ['SUCCEEDED', attempt]),
    );
  });

  it('a tabular job whose task fails 30% of attempts writes every row once, in input order', async () => {
    const seed = 'table-3';
    const ids = Array.from({ length: 3000 }, (_, i) => `r${String(i).padStart(5, '0')}`);
    const csv = `id,value\n${ids.map((id, i) => `${id},${(i * 7) % 1000}`).join('\n')}\n`;
    await product.store.write('inputs', 'flaky-table/rows.csv', csv);

    const spec = {
      ...fileJob('flaky-table', 'flaky.js', `--fail_rate ${FAIL_RATE} --seed ${seed}`, {
        mini_batch_size: '2kb',
        max_concurrency_per_instance: 4,
        retry_settings: { max_retries: MAX_RETRIES, timeout: 30 },
      }),
      inputs: { data: { type: 'mltable', path: 'inputs/flaky-table', mode: 'direct' } },
    };
    const view = await runJob(product, spec, 'flaky-table');
    const artifacts = await readArtifacts(product, 'flaky-table');

    // About 2 KiB of a ~40 KiB table per mini-batch; the planner decides the exact cut.
    const miniBatches = artifacts.manifest.miniBatches.length;
    expect(miniBatches).toBeGreaterThanOrEqual(15);
    const needed = attemptsNeeded(seed, miniBatches);
    const retries = needed.reduce((sum, n) => sum + n - 1, 0);
    expect(retries).toBeGreaterThan(0);

    expect(view.status).toBe('Completed');
    expect(artifacts.output).toEqual(ids);
    const counters = countersOf({
      miniBatches,
      scheduled: miniBatches,
      succeeded: miniBatches,
      retried: retries,
      itemsSucceeded: 3000,
      rows: 3000,
    });
    expect(withoutTimings(artifacts.result.counters)).toEqual(counters);
    expect(withoutTimings(view.counters)).toEqual(counters);
    expectAttemptsFollow(artifacts, needed);
    const items = artifacts.attempts.filter((a) => a.status === 'succeeded').map((a) => a.items);
    expect(items.reduce((sum, n) => sum + n, 0)).toBe(3000);
  });

  it("a job whose planning fails gives its error's code and message as its reason, never a function name or a stack", async () => {
    await product.store.write('inputs', 'mixed/a.csv', 'id\n1\n');
    await product.store.write('inputs', 'mixed/b.jsonl', '{"id":2}\n');
    const view = await runJob(
      product,
      fileJob('mixed', 'noop-rows.js', '', {
        inputs: { data: { type: 'mltable', path: 'inputs/mixed' } },
        mini_batch_size: '1mb',
      }),
      'mixed-formats',
    );
    expect(view.status).toBe('Failed');
    expect(view.reasons).toHaveLength(1);
    expect(view.reasons[0]).toMatch(
      /^Planning failed: INPUT_LAYOUT_INVALID: The input '[^']*inputs\/mixed[^']*' cannot be split as declared: /,
    );
    expect(view.reasons[0]).not.toMatch(/ParallelJob_|Activity function|\bat \S+ \(|\.js:\d+/);
  });

  it('cancel ends Canceled with the finished mini-batches kept and the rest pending', async () => {
    const names = await uploadFiles(product, 'cancel', 40);
    // Two attempts in flight, 150 ms each: about 3 s for the whole job, so the cancel lands midway.
    const spec = fileJob('cancel', 'scripted.js', '--each_ms 150', { max_concurrency_per_instance: 2 });
    await product.client.submit(spec, { id: 'cancel' });
    for (;;) {
      const view = await product.client.get('cancel');
      if (view.counters.succeeded >= 4) break;
      expect(view.status).not.toBe('Completed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const accepted = await product.client.cancel('cancel');
    expect(accepted.status).toBe('CancelRequested');
    const view = await product.client.wait('cancel', { intervalMs: 100 });
    const artifacts = await readArtifacts(product, 'cancel');

    expect(view.status).toBe('Canceled');
    expect(artifacts.result.status).toBe('Canceled');
    expect(artifacts.result.reasons).toEqual(['Canceled on request.']);
    // Mini-batches start in order and the attempts in flight finish, so what ran is a prefix.
    const ran = artifacts.result.counters.scheduled;
    expect(ran).toBeGreaterThanOrEqual(4);
    expect(ran).toBeLessThan(40);
    expect(withoutTimings(artifacts.result.counters)).toEqual(
      countersOf({ miniBatches: 40, scheduled: ran, succeeded: ran, itemsSucceeded: ran, rows: ran }),
    );
    expect(artifacts.manifest.status).toBe('Canceled');
    expect(artifacts.manifest.miniBatches.map((entry) => entry.status)).toEqual(
      names.map((_, i) => (i < ran ? 'SUCCEEDED' : 'PENDING')),
    );
    expect(artifacts.output).toEqual(names.slice(0, ran));
    expect(artifacts.attempts.map((a) => [a.index, a.attempt, a.status])).toEqual(
      names.slice(0, ran).map((_, i) => [i, 1, 'succeeded']),
    );

    // Re-running the canceled job runs exactly the pending mini-batches and completes the output.
    const rerun = await product.client.rerun('cancel');
    const resumed = await product.client.wait(rerun.id, { intervalMs: 100 });
    const after = await readArtifacts(product, rerun.id);
    expect(resumed.status).toBe('Completed');
    expect(after.attempts.map((a) => a.index)).toEqual(names.slice(ran).map((_, i) => ran + i));
    expect(after.output).toEqual(names);
  });

  it('a re-run after fixing the task runs only what failed or never ran and completes the output', async () => {
    const names = await uploadFiles(product, 'rerun', 12);
    const throwList = path.join(scratch, 'throw-list.txt');
    // Mini-batches 1 (files 2, 3) and 4 (files 8, 9) fail while the list exists.
    writeFileSync(throwList, `${names[3]},${names[8]}`);
    const spec = fileJob('rerun', 'scripted.js', `--throw_list ${throwList}`, {
      mini_batch_size: '2',
      mini_batch_error_threshold: 1,
      retry_settings: { max_retries: 1, timeout: 30 },
    });

    // One attempt in flight: 0 ok, 1 fails twice, 2 and 3 ok, 4 fails twice (2 failed > 1): stop,
    // so mini-batch 5 never starts.
    const first = await runJob(product, spec, 'rerun');
    const before = await readArtifacts(product, 'rerun');
    expect(first.status).toBe('Failed');
    expect(before.result.reasons).toEqual([
      'mini_batch_error_threshold exceeded: 2 failed mini-batches > 1 allowed.',
    ]);
    expect(withoutTimings(before.result.counters)).toEqual(
      countersOf({
        miniBatches: 6,
        scheduled: 5,
        succeeded: 3,
        failed: 2,
        retried: 2,
        itemsSucceeded: 6,
        itemsFailed: 4,
        rows: 6,
      }),
    );
    expect(before.manifest.miniBatches.map((entry) => entry.status)).toEqual([
      'SUCCEEDED',
      'FAILED',
      'SUCCEEDED',
      'SUCCEEDED',
      'FAILED',
      'PENDING',
    ]);
    expect(before.output).toEqual([0, 1, 4, 5, 6, 7].map((i) => names[i]));

    rmSync(throwList);
    const rerun = await product.client.rerun('rerun');
    const second = await product.client.wait(rerun.id, { intervalMs: 100 });
    const after = await readArtifacts(product, rerun.id);

    expect(second.status).toBe('Completed');
    expect(second.rerun_of).toBe('rerun');
    expect(withoutTimings(after.result.counters)).toEqual(
      countersOf({ miniBatches: 3, scheduled: 3, succeeded: 3, itemsSucceeded: 6, rows: 6 }),
    );
    // Only the failed and the pending mini-batches ran again, once each.
    expect(after.attempts.map((a) => [a.index, a.attempt, a.status])).toEqual([
      [1, 1, 'succeeded'],
      [4, 1, 'succeeded'],
      [5, 1, 'succeeded'],
    ]);
    expect(after.manifest.miniBatches.map((entry) => [entry.status, entry.generation])).toEqual([
      ['SUCCEEDED', 0],
      ['SUCCEEDED', 1],
      ['SUCCEEDED', 0],
      ['SUCCEEDED', 0],
      ['SUCCEEDED', 1],
      ['SUCCEEDED', 1],
    ]);
    expect(after.output).toEqual(names);
  });
});
