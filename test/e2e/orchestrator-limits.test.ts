import { startProductHost, type ProductHost } from '../support/productHost';
import {
  countersOf,
  fileJob,
  readArtifacts,
  runJob,
  uploadFiles,
  withoutTimings,
} from './orchestrator.support';

/**
 * Thresholds and timeouts, end to end. Every job runs one attempt at a time (max_concurrency 1, one
 * instance), so mini-batches start strictly in order and the next one starts only after the previous
 * one has ended (a retry's backoff holds the slot too). A breach is therefore seen right after the
 * mini-batch that causes it, before anything else starts: the counts below are exact, not bounds.
 * 20 files in mini-batches of 2 give 10 mini-batches; mini-batch k holds files 2k and 2k+1.
 */
describe('orchestrator thresholds and timeouts end to end', () => {
  let product: ProductHost;
  let names: string[];

  beforeAll(async () => {
    product = await startProductHost();
    names = await uploadFiles(product, 'limits', 20);
  });
  afterAll(async () => {
    await product?.stop();
  });

  const job = (programArguments: string, fields: Record<string, unknown>) => ({
    ...fileJob('limits', 'scripted.js', programArguments, { mini_batch_size: '2', ...fields }),
    name: 'limits',
  });
  const files = (...indexes: number[]): string => indexes.map((i) => names[i]).join(',');
  const statuses = (pattern: string): string[] =>
    [...pattern].map((c) => ({ S: 'SUCCEEDED', F: 'FAILED', P: 'PENDING' })[c]!);

  it('error_threshold: the fourth failed item breaches 3 and nothing more starts', async () => {
    // One named failure in each of mini-batches 1, 3, 5 and 7; partial results are final, never retried.
    const spec = job(`--fail_items ${files(3, 7, 11, 15)}`, { error_threshold: 3 });
    const view = await runJob(product, spec, 'error-threshold');
    const { result, manifest, attempts, output } = await readArtifacts(product, 'error-threshold');

    expect(view.status).toBe('Failed');
    expect(result.reasons).toEqual(['error_threshold exceeded: 4 failed items > 3 allowed.']);
    expect(withoutTimings(result.counters)).toEqual(
      countersOf({
        miniBatches: 10,
        scheduled: 8,
        succeeded: 4,
        failed: 4,
        partial: 4,
        itemsSucceeded: 12,
        itemsFailed: 4,
        rows: 12,
      }),
    );
    expect(manifest.miniBatches.map((entry) => entry.status)).toEqual(statuses('SFSFSFSFPP'));
    expect(attempts.map((a) => [a.index, a.status, a.failed])).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => [k, k % 2 === 1 ? 'partial' : 'succeeded', k % 2]),
    );
    // The good items of partial mini-batches are kept, in order.
    expect(output).toEqual(names.slice(0, 16).filter((_, i) => ![3, 7, 11, 15].includes(i)));
    const failedItems = await product.store.readText('logs', 'error-threshold/failed_items.jsonl');
    expect(failedItems.trim().split('\n')).toHaveLength(4);
  });

  it('error_threshold is strict: four failed items with a threshold of 4 complete', async () => {
    const spec = job(`--fail_items ${files(3, 7, 11, 15)}`, { error_threshold: 4 });
    const view = await runJob(product, spec, 'error-threshold-at-limit');
    const { result } = await readArtifacts(product, 'error-threshold-at-limit');
    expect(view.status).toBe('Completed');
    expect(withoutTimings(result.counters)).toEqual(
      countersOf({
        miniBatches: 10,
        scheduled: 10,
        succeeded: 6,
        failed: 4,
        partial: 4,
        itemsSucceeded: 16,
        itemsFailed: 4,
        rows: 16,
      }),
    );
  });

  it('mini_batch_error_threshold: the third failed mini-batch breaches 2, each after its retry', async () => {
    // Mini-batches 2, 4, 6 and 8 throw on every attempt; one retry each.
    const spec = job(`--throw_items ${files(5, 9, 13, 17)}`, {
      mini_batch_error_threshold: 2,
      retry_settings: { max_retries: 1, timeout: 30 },
    });
    const view = await runJob(product, spec, 'mini-batch-threshold');
    const { result, manifest, attempts, output } = await readArtifacts(product, 'mini-batch-threshold');

    expect(view.status).toBe('Failed');
    expect(result.reasons).toEqual([
      'mini_batch_error_threshold exceeded: 3 failed mini-batches > 2 allowed.',
    ]);
    expect(withoutTimings(result.counters)).toEqual(
      countersOf({
        miniBatches: 10,
        scheduled: 7,
        succeeded: 4,
        failed: 3,
        retried: 3,
        itemsSucceeded: 8,
        itemsFailed: 6,
        rows: 8,
      }),
    );
    expect(manifest.miniBatches.map((entry) => entry.status)).toEqual(statuses('SSFSFSFPPP'));
    expect(attempts.filter((a) => a.status === 'failed').map((a) => [a.index, a.attempt, a.code])).toEqual([
      [2, 1, 'TASK_RUN_FAILED'],
      [2, 2, 'TASK_RUN_FAILED'],
      [4, 1, 'TASK_RUN_FAILED'],
      [4, 2, 'TASK_RUN_FAILED'],
      [6, 1, 'TASK_RUN_FAILED'],
      [6, 2, 'TASK_RUN_FAILED'],
    ]);
    expect(output).toEqual([0, 1, 3, 5].flatMap((k) => [names[2 * k], names[2 * k + 1]]));
    expect(result.first_errors.map((e) => [e.index, e.attempt, e.code])).toEqual([
      [2, 2, 'TASK_RUN_FAILED'],
      [4, 2, 'TASK_RUN_FAILED'],
      [6, 2, 'TASK_RUN_FAILED'],
    ]);
  });

  it.each([
    [25, 'Failed'],
    [30, 'Completed'],
  ])(
    '--allowed_failed_percent %d with 3 of 10 mini-batches failed ends %s, after all are scheduled',
    async (percent, status) => {
      const id = `percent-${percent}`;
      const spec = job(`--throw_items ${files(5, 9, 13)} --allowed_failed_percent ${percent}`, {
        retry_settings: { max_retries: 0, timeout: 30 },
      });
      const view = await runJob(product, spec, id);
      const { result, manifest } = await readArtifacts(product, id);

      expect(view.status).toBe(status);
      expect(result.reasons).toEqual(
        status === 'Failed'
          ? ['--allowed_failed_percent exceeded: 30.00% of mini-batches failed > 25% allowed.']
          : [],
      );
      // The percentage is judged only once every mini-batch has been scheduled: all of them ran.
      expect(withoutTimings(result.counters)).toEqual(
        countersOf({
          miniBatches: 10,
          scheduled: 10,
          succeeded: 7,
          failed: 3,
          itemsSucceeded: 14,
          itemsFailed: 6,
          rows: 14,
        }),
      );
      expect(manifest.miniBatches.map((entry) => entry.status)).toEqual(statuses('SSFSFSFSSS'));
    },
  );

  it('retry_settings.timeout: a sleeping attempt is killed with TASK_TIMEOUT and retried as configured', async () => {
    // Mini-batch 3 sleeps 20 s against a 0.5 s timeout, on both of its attempts.
    const spec = job(`--sleep_items ${files(6)} --sleep_ms 20000`, {
      retry_settings: { max_retries: 1, timeout: 0.5 },
    });
    const view = await runJob(product, spec, 'timeout');
    const { result, manifest, attempts, output } = await readArtifacts(product, 'timeout');

    // Thresholds are off, so one failed mini-batch does not fail the job.
    expect(view.status).toBe('Completed');
    expect(withoutTimings(result.counters)).toEqual(
      countersOf({
        miniBatches: 10,
        scheduled: 10,
        succeeded: 9,
        failed: 1,
        retried: 1,
        itemsSucceeded: 18,
        itemsFailed: 2,
        rows: 18,
      }),
    );
    const timedOut = attempts.filter((a) => a.index === 3);
    expect(timedOut.map((a) => [a.attempt, a.status, a.code])).toEqual([
      [1, 'failed', 'TASK_TIMEOUT'],
      [2, 'failed', 'TASK_TIMEOUT'],
    ]);
    // The worker was stopped: neither attempt lasted as long as the task's 20 s sleep.
    for (const attempt of timedOut) expect(attempt.durationMs).toBeLessThan(20_000);
    expect(result.first_errors.map((e) => [e.index, e.attempt, e.code])).toEqual([[3, 2, 'TASK_TIMEOUT']]);
    expect(manifest.miniBatches.map((entry) => entry.status)).toEqual(statuses('SSSFSSSSSS'));
    expect(output).toEqual(names.filter((_, i) => i !== 6 && i !== 7));
  });

  it('--progress_update_timeout: no attempt ending for that long fails the job', async () => {
    // Mini-batch 1 sleeps 3 s (within its 30 s run timeout) but the job expects progress every second.
    const spec = job(`--sleep_items ${files(2)} --sleep_ms 3000 --progress_update_timeout 1`, {
      retry_settings: { max_retries: 0, timeout: 30 },
    });
    const view = await runJob(product, spec, 'stalled');
    const { result, manifest, output } = await readArtifacts(product, 'stalled');

    expect(view.status).toBe('Failed');
    expect(result.reasons).toEqual(['No progress update within --progress_update_timeout.']);
    // Mini-batch 0 finished; mini-batch 1 was still running when the job gave up on it.
    expect(withoutTimings(result.counters)).toEqual(
      countersOf({ miniBatches: 10, scheduled: 2, succeeded: 1, itemsSucceeded: 2, rows: 2 }),
    );
    expect(manifest.miniBatches.map((entry) => entry.status)).toEqual(statuses('SPPPPPPPPP'));
    expect(output).toEqual(names.slice(0, 2));
    // Let the abandoned attempt end before the host stops.
    await new Promise((resolve) => setTimeout(resolve, 3000));
  });

  it('--first_task_creation_timeout: planning that outlives it fails the job with how far it got and the flag to raise', async () => {
    // 10 ms: the watchdog fires before planning ends. Planning writes its first record after 2 s or when
    // it ends, so a record is put in its place first: the reason must come with the figures of whichever
    // record the root's activity reads (this one, or planning's last if it ended in between).
    await product.store.writeJson('logs', 'planning-timeout/sys/plan_progress.json', {
      listed: 7,
      miniBatches: 3,
      pages: 0,
      updatedAt: new Date().toISOString(),
      done: false,
    });
    const spec = job('--first_task_creation_timeout 0.01', {});
    const view = await runJob(product, spec, 'planning-timeout');
    // No plan, so no manifest: the reason is in the view and in job_result.json.
    const result = JSON.parse(await product.store.readText('logs', 'planning-timeout/job_result.json'));

    expect(view.status).toBe('Failed');
    expect(result.reasons).toHaveLength(1);
    expect(result.reasons[0]).toMatch(
      /^Planning did not finish within --first_task_creation_timeout \(0\.01 s\)(: it had listed 7 inputs and cut 3 mini-batches|: it finished just after, with 20 inputs listed and 10 mini-batches cut)\. Raise it in task\.program_arguments, e\.g\. --first_task_creation_timeout 3600\.$/,
    );
    expect(view.reasons).toEqual(result.reasons);
    expect(view.counters.scheduled).toBe(0);
  });

  it('a breach in one lane stops the shards running on the other lanes', async () => {
    // Concurrency 16 runs two lanes of width 8, each on its own shard of 128 mini-batches. The first 8
    // mini-batches (shard 0) throw; shard 1 needs at least 16 rounds of 100 ms to finish its 128. Once
    // shard 0 breaches, the root tells shard 1 to stop: far fewer than 128 + 5 mini-batches are scheduled.
    const many = await uploadFiles(product, 'lanes', 300);
    const spec = {
      ...fileJob('lanes', 'scripted.js', `--throw_items ${many.slice(0, 8).join(',')} --each_ms 100`, {
        mini_batch_size: '1',
        max_concurrency_per_instance: 16,
        mini_batch_error_threshold: 4,
        retry_settings: { max_retries: 0, timeout: 30 },
      }),
      name: 'lanes',
    };
    const view = await runJob(product, spec, 'lanes');
    const { result, manifest, output } = await readArtifacts(product, 'lanes');

    expect(view.status).toBe('Failed');
    expect(result.reasons[0]).toMatch(/mini_batch_error_threshold exceeded/);
    expect(result.counters.scheduled).toBeLessThan(64);
    // Consistent however far each lane got: every scheduled mini-batch ended, its rows are in the output.
    expect(result.counters.succeeded + result.counters.failed).toBe(result.counters.scheduled);
    const succeeded = manifest.miniBatches
      .filter((entry) => entry.status === 'SUCCEEDED')
      .map((e) => e.index);
    expect(output).toEqual(succeeded.map((index) => many[index]));
  });
});
