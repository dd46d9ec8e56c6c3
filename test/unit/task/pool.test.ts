import path from 'node:path';
import { TaskPool, TaskPools, type AttemptRequest, type JobContextData } from '../../../src/task/pool';

const fixtures = path.resolve(__dirname, '../../fixtures/tasks');
const job: JobContextData = {
  jobId: 'job-1',
  argv: ['--model', 'm1', '--verbose'],
  inputs: { threshold: 3 },
  outputs: {},
  localInputs: {},
  folderOutputs: [],
  environmentVariables: { PJ_TEST_VAR: 'from-job' },
  loggingLevel: 'INFO',
};

function request(mode: string, count = 3, overrides: Partial<AttemptRequest> = {}): AttemptRequest {
  const records = Array.from({ length: count }, (_, id) => ({ id, mode }));
  return {
    job,
    batch: { kind: 'records', records },
    miniBatchIndex: 7,
    attempt: 1,
    timeoutSeconds: 30,
    appendRows: true,
    ...overrides,
  };
}

function parseRows(rowsText: string): Record<string, unknown>[] {
  return rowsText
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('TaskPool with real worker threads', () => {
  let pool: TaskPool;
  beforeAll(() => {
    pool = new TaskPool({
      modulePath: path.join(fixtures, 'behaviours.js'),
      maxConcurrency: 2,
      maxOldGenerationSizeMb: 48,
      abortGraceMs: 200,
    });
  });
  afterAll(async () => {
    await pool.destroy();
  });

  it('runs init() once per worker across many mini-batches', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.runAttempt(request('echo', 2, { miniBatchIndex: i }))),
    );
    const rows = outcomes.flatMap((outcome) => parseRows(outcome.rowsText));
    expect(rows).toHaveLength(40);
    expect(outcomes.every((outcome) => outcome.status === 'succeeded')).toBe(true);
    // Every row saw exactly one init() in its worker, and that init ran in the same worker.
    expect(new Set(rows.map((row) => row.inits))).toEqual(new Set([1]));
    expect(rows.every((row) => row.initWorker === row.worker)).toBe(true);
    const workers = new Set(rows.map((row) => row.worker));
    expect(workers.size).toBeGreaterThanOrEqual(1);
    expect(workers.size).toBeLessThanOrEqual(2);
    // init() logged once per worker: only those attempts carry its line.
    const initLogs = outcomes.filter((outcome) => outcome.log.includes('init ran'));
    expect(initLogs).toHaveLength(workers.size);
  });

  it('stops a run() stuck in a loop at its timeout and runs the next attempt on a fresh worker', async () => {
    const started = Date.now();
    const stuck = await pool.runAttempt(request('loop', 3, { timeoutSeconds: 1 }));
    const elapsed = Date.now() - started;
    expect(stuck).toMatchObject({
      status: 'failed',
      code: 'TASK_TIMEOUT',
      succeeded: 0,
      failed: 3,
      retryable: true,
    });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(10_000);
    expect(stuck.log).toContain('did not finish within the timeout of 1 s');

    const next = await Promise.all([
      pool.runAttempt(request('echo', 1)),
      pool.runAttempt(request('echo', 1)),
    ]);
    const rows = next.flatMap((outcome) => parseRows(outcome.rowsText));
    expect(rows.map((row) => row.worker)).not.toContain(stuck.workerId);
    expect(next.map((outcome) => outcome.status)).toEqual(['succeeded', 'succeeded']);
    // The replacement worker ran init() again.
    expect(next.some((outcome) => outcome.log.includes('init ran'))).toBe(true);
  });

  it('fails only its attempt when a worker exhausts its memory limit', async () => {
    const [oom, neighbour] = await Promise.all([
      pool.runAttempt(request('oom')),
      pool.runAttempt(request('echo')),
    ]);
    expect(oom).toMatchObject({ status: 'failed', code: 'TASK_WORKER_CRASHED', retryable: true });
    expect(oom.message).toContain('out of memory (limit 48 MB');
    expect(neighbour.status).toBe('succeeded');
    const after = await pool.runAttempt(request('echo'));
    expect(after.status).toBe('succeeded');
  });

  it('fails only its attempt when the task throws outside run()', async () => {
    const crashed = await pool.runAttempt(request('crash'));
    expect(crashed).toMatchObject({ status: 'failed', code: 'TASK_WORKER_CRASHED' });
    expect(crashed.message).toContain('uncaught failure outside run');
    expect((await pool.runAttempt(request('echo'))).status).toBe('succeeded');
  });

  it('reports TASK_TIMEOUT when run() honours ctx.signal and stops by itself', async () => {
    const outcome = await pool.runAttempt(request('cooperative', 2, { timeoutSeconds: 0.3 }));
    expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_TIMEOUT' });
  });

  it('fails the attempt with TASK_RUN_FAILED when run() throws', async () => {
    const outcome = await pool.runAttempt(request('throw'));
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'TASK_RUN_FAILED',
      failed: 3,
      rows: 0,
      rowsText: '',
    });
    expect(outcome.message).toBe('run() failed: Error: run exploded on purpose');
    expect(outcome.log).toContain('behaviours.js');
  });

  it.each([
    ['bad', 'Object'],
    ['undefined', 'undefined'],
  ])('fails the attempt with TASK_BAD_RESULT when run() returns a non-array (%s)', async (mode, shown) => {
    const outcome = await pool.runAttempt(request(mode));
    expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BAD_RESULT', succeeded: 0, failed: 3 });
    expect(outcome.message).toContain(`run() returned ${shown}`);
  });

  it.each([
    ['function-row', /result\[1\] cannot be written as a row: it is a function/],
    ['symbol-row', /result\[0\] cannot be written as a row: it is a symbol/],
  ])(
    'fails the attempt with TASK_BAD_RESULT naming the row when rows cannot be written (%s)',
    async (mode, why) => {
      const outcome = await pool.runAttempt(request(mode));
      expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BAD_RESULT', rows: 0, rowsText: '' });
      expect(outcome.message).toMatch(why);
    },
  );

  it('fails the attempt with TASK_BAD_RESULT when the rows pass 64 MiB, naming the row', async () => {
    // Its own pool: the shared one caps the worker heap below what 64 MiB of rows needs.
    const roomy = new TaskPool({ modulePath: path.join(fixtures, 'behaviours.js'), maxConcurrency: 1 });
    try {
      const outcome = await roomy.runAttempt(request('huge-rows'));
      expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BAD_RESULT', rows: 0, rowsText: '' });
      expect(outcome.message).toMatch(/rows pass 67,108,864 bytes at result\[64\] \(65 rows returned\)/);
    } finally {
      await roomy.destroy();
    }
  });

  it('counts a short result as partial with unnamed failures', async () => {
    const outcome = await pool.runAttempt(request('short', 4));
    expect(outcome).toMatchObject({ status: 'partial', items: 4, succeeded: 3, failed: 1, rows: 3 });
    expect(outcome.unattributedFailures).toBe(1);
    expect(outcome.failedItems).toEqual([]);
    expect(outcome.rowsText).toBe('1\n2\n3\n');
  });

  it('caps a longer result with a warning and still writes every row', async () => {
    const outcome = await pool.runAttempt(request('long', 2));
    expect(outcome).toMatchObject({ status: 'succeeded', items: 2, succeeded: 2, failed: 0, rows: 4 });
    expect(outcome.rowsText).toBe('0-a\n0-b\n1-a\n1-b\n');
    expect(outcome.warnings).toEqual([expect.stringContaining('returned 4 results for 2 items')]);
    expect(outcome.log).toContain('WARNING run() returned 4 results for 2 items');
  });

  it('reports items named by ctx.fail with their reasons', async () => {
    const records = [
      { id: 'a', mode: 'fail' },
      { id: 'b', mode: 'fail', bad: true },
      { id: 'c', mode: 'fail' },
      { id: 'd', mode: 'fail', bad: true },
    ];
    const outcome = await pool.runAttempt({ ...request('fail'), batch: { kind: 'records', records } });
    expect(outcome).toMatchObject({
      status: 'partial',
      items: 4,
      succeeded: 2,
      failed: 2,
      unattributedFailures: 0,
    });
    expect(outcome.failedItems).toEqual([
      { item: records[1], position: 1, error: 'Error: record b is bad' },
      { item: records[3], position: 3, error: 'Error: record d is bad' },
    ]);
    expect(outcome.rowsText).toBe('a\nc\n');
  });

  it('captures ctx.log and console output per attempt, filtered by the logging level', async () => {
    const [first, second] = await Promise.all([
      pool.runAttempt(request('log', 1, { miniBatchIndex: 1, attempt: 2 })),
      pool.runAttempt(request('log', 1, { miniBatchIndex: 2, attempt: 1 })),
    ]);
    expect(first.log).toContain('INFO console line for 1 2');
    expect(first.log).not.toContain('console line for 2 1');
    expect(second.log).toContain('INFO console line for 2 1');
    expect(second.log).toContain('ERROR console error line');
    expect(second.log).toContain('INFO ctx line { index: 2 }');
    expect(second.log).not.toContain('debug line');
    const debug = await pool.runAttempt(request('log', 1, { job: { ...job, loggingLevel: 'DEBUG' } }));
    expect(debug.log).toContain('DEBUG debug line');
  });

  it('gives run() the parsed program arguments and the job environment', async () => {
    const outcome = await pool.runAttempt(request('env', 1));
    expect(outcome.rowsText).toBe('from-job\nm1\ntrue\n');
    expect(process.env.PJ_TEST_VAR).toBeUndefined();
  });

  it('counts rows but does not serialize them without append_row', async () => {
    const outcome = await pool.runAttempt(request('long', 2, { appendRows: false }));
    expect(outcome).toMatchObject({ rows: 4, rowsText: '', succeeded: 2 });
  });
});

describe('TaskPool init and loading failures', () => {
  it('reports a throwing init() and declares the task broken after 3 failures in a row', async () => {
    const pool = new TaskPool({ modulePath: path.join(fixtures, 'init-throws.js'), maxConcurrency: 1 });
    try {
      const outcomes = [];
      for (let attempt = 1; attempt <= 4; attempt += 1)
        outcomes.push(await pool.runAttempt(request('echo', 2, { attempt })));
      expect(outcomes.map((outcome) => [outcome.code, outcome.retryable])).toEqual([
        ['TASK_INIT_FAILED', true],
        ['TASK_INIT_FAILED', true],
        ['TASK_BROKEN', false],
        ['TASK_BROKEN', false],
      ]);
      expect(outcomes[0]!.message).toBe('init() failed: Error: model file missing');
      expect(outcomes[0]!.log).toContain('init() failed: Error: model file missing');
      expect(outcomes[2]!.message).toContain('init() failed 3 times in a row');
      expect(outcomes[2]!.message).toContain('model file missing');
    } finally {
      await pool.destroy();
    }
  });

  it('declares a module without run() broken at once', async () => {
    const pool = new TaskPool({ modulePath: path.join(fixtures, 'no-run.js'), maxConcurrency: 1 });
    try {
      const outcome = await pool.runAttempt(request('echo'));
      expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BROKEN', retryable: false });
      expect(outcome.message).toContain('no-run.js has no run() export');
    } finally {
      await pool.destroy();
    }
  });

  it('loads a TypeScript task module without a build step', async () => {
    const pool = new TaskPool({ modulePath: path.join(fixtures, 'typed.ts'), maxConcurrency: 1 });
    try {
      const outcome = await pool.runAttempt(
        request('echo', 2, { job: { ...job, argv: ['--prefix', 'ts'] }, miniBatchIndex: 5 }),
      );
      expect(outcome).toMatchObject({ status: 'succeeded', succeeded: 2 });
      expect(outcome.rowsText).toBe('ts-5:0:0\nts-5:1:1\n');
    } finally {
      await pool.destroy();
    }
  });

  it('loads an ES module with a default export', async () => {
    const pool = new TaskPool({ modulePath: path.join(fixtures, 'esm-default.mjs'), maxConcurrency: 1 });
    try {
      const outcome = await pool.runAttempt(request('echo', 2));
      expect(outcome.rowsText).toBe('esm:0\nesm:1\n');
    } finally {
      await pool.destroy();
    }
  });

  it('calls shutdown() once in each warm worker when the pool is closed', async () => {
    const pool = new TaskPool({ modulePath: path.join(fixtures, 'shutdown.js'), maxConcurrency: 2 });
    await Promise.all(Array.from({ length: 6 }, () => pool.runAttempt(request('echo', 1))));
    const results = await pool.close();
    const ran = results.filter((result) => result.ranShutdown);
    expect(ran).toHaveLength(2);
    expect(new Set(ran.map((result) => result.workerId)).size).toBe(2);
    expect(results.map((result) => result.error)).toEqual([undefined, undefined]);
  });
});

describe('TaskPools', () => {
  it('keeps one warm pool per task and job, and a pool of its own for a job whose workers need another heap', async () => {
    const pools = new TaskPools();
    try {
      const modulePath = path.join(fixtures, 'noop.js');
      const first = pools.poolFor(modulePath, 1, job);
      expect(pools.poolFor(modulePath, 1, { ...job, jobId: 'job-2' })).toBe(first);
      expect(pools.poolFor(modulePath, 1, { ...job, argv: ['--model', 'm2'] })).not.toBe(first);
      const roomy = pools.poolFor(modulePath, 1, job, { maxYoungGenerationSizeMb: 0 });
      expect(roomy).not.toBe(first);
      expect(pools.poolFor(modulePath, 1, job, { maxYoungGenerationSizeMb: 0 })).toBe(roomy);
      expect(pools.size).toBe(3);
    } finally {
      await pools.closeAll();
    }
  });
});
