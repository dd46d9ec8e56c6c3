import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TaskPool, type AttemptRequest } from '../../../src/task/pool';
import type { BatchData, JobContextData } from '../../../src/task/protocol';
import {
  PYTHON_FIXTURES,
  TEST_PYTHON,
  pathsBatch,
  pythonJob,
  pythonWithoutSitePackages,
} from '../../support/python';

// Real Python processes (TEST_PYTHON) behind the same TaskPool that runs JavaScript tasks.

function attempt(batch: BatchData, overrides: Partial<AttemptRequest> = {}): AttemptRequest {
  return {
    job: pythonJob({ argv: ['--model', 'm1', '--error_threshold', '5'] }),
    batch,
    miniBatchIndex: 7,
    attempt: 1,
    timeoutSeconds: 30,
    appendRows: true,
    ...overrides,
  };
}

function pool(
  script = 'behaviours.py',
  options: { maxConcurrency?: number; python?: string } = {},
): TaskPool {
  return new TaskPool({
    modulePath: path.join(PYTHON_FIXTURES, script),
    maxConcurrency: options.maxConcurrency ?? 2,
    python: options.python ?? TEST_PYTHON,
    abortGraceMs: 200,
  });
}

/** `<name> inits=<n> pid=<pid>` rows of the echo mode. */
function echoRows(rowsText: string): { name: string; inits: number; pid: number }[] {
  return rowsText
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [, name, inits, pid] = /^(\S+) inits=(\d+) pid=(\d+)$/.exec(line)!;
      return { name: name!, inits: Number(inits), pid: Number(pid) };
    });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Python tasks on warm processes', () => {
  let tasks: TaskPool;
  beforeAll(() => {
    tasks = pool();
  });
  afterAll(async () => {
    await tasks.destroy();
  });

  it('runs init() once per process across many mini-batches, with argv and the code folder as Azure ML gives them', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        tasks.runAttempt(attempt(pathsBatch([`echo-${i}`]), { miniBatchIndex: i })),
      ),
    );
    expect(outcomes.every((outcome) => outcome.status === 'succeeded')).toBe(true);
    const rows = outcomes.flatMap((outcome) => echoRows(outcome.rowsText));
    expect(rows.map((row) => row.name).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `echo-${i}.txt`).sort(),
    );
    expect(new Set(rows.map((row) => row.inits))).toEqual(new Set([1]));
    const pids = new Set(rows.map((row) => row.pid));
    expect(pids.size).toBeGreaterThanOrEqual(1);
    expect(pids.size).toBeLessThanOrEqual(2);
    // init() printed once per process, into the log of the attempt that ran it.
    expect(outcomes.filter((outcome) => outcome.log.includes('INFO init ran 1'))).toHaveLength(pids.size);

    const argv = await tasks.runAttempt(attempt(pathsBatch(['argv', 'x'])));
    expect(argv.rowsText.split('\n').slice(0, 4)).toEqual([
      "['--model', 'm1', '--error_threshold', '5']",
      'm1',
      'helper from the code folder',
      PYTHON_FIXTURES,
    ]);
  });

  it("sends print, logging, stderr and native output to the attempt's log, below the job's level dropped", async () => {
    const outcome = await tasks.runAttempt(
      attempt(pathsBatch(['log', 'b']), { miniBatchIndex: 3, attempt: 2 }),
    );
    expect(outcome.status).toBe('succeeded');
    const lines = outcome.log
      .trimEnd()
      .split('\n')
      .map((line) => line.replace(/^\S+ /, ''))
      .filter((line) => !line.startsWith('INFO init ran'));
    expect(lines).toEqual([
      'INFO print line 3 2',
      'WARNING stderr line',
      'INFO scorer: logging line',
      'WARNING EntryScript: entry script line',
      'INFO native line',
    ]);
  });

  it('keeps a script that prints 10 MB running, and truncates its log at the cap', async () => {
    const outcome = await tasks.runAttempt(attempt(pathsBatch(['print10mb'])));
    expect(outcome.status).toBe('succeeded');
    expect(outcome.rows).toBe(1);
    expect(Buffer.byteLength(outcome.log)).toBeLessThan(8.5 * 1024 * 1024);
    expect(outcome.log.trimEnd().split('\n').pop()).toMatch(
      /WARNING log truncated: this attempt wrote more than 8388608 bytes$/,
    );
  });

  it('stops a run() stuck in a C-level sleep at its timeout; a fresh process runs init() again', async () => {
    const before = echoRows((await tasks.runAttempt(attempt(pathsBatch(['echo'])))).rowsText)[0]!;
    const started = Date.now();
    const stuck = await tasks.runAttempt(attempt(pathsBatch(['sleep']), { timeoutSeconds: 1 }));
    const elapsed = Date.now() - started;
    expect(stuck).toMatchObject({
      status: 'failed',
      code: 'TASK_TIMEOUT',
      succeeded: 0,
      failed: 1,
      retryable: true,
    });
    expect(stuck.message).toBe(
      'run() did not finish within the timeout of 1 s (retry_settings.timeout); its worker was stopped',
    );
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(10_000);
    const after = await Promise.all([0, 1].map(() => tasks.runAttempt(attempt(pathsBatch(['echo'])))));
    const rows = after.flatMap((outcome) => echoRows(outcome.rowsText));
    expect(rows.every((row) => row.inits === 1)).toBe(true);
    // One of the two processes is new; the old one that timed out is gone.
    expect(rows.some((row) => row.pid !== before.pid) || !alive(before.pid)).toBe(true);
  });

  it('kills the whole process group at a timeout, with what the task started', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'pj-child-'));
    const pidFile = path.join(folder, 'child.pid');
    // Its own pool: the pid file's path is an argument, which init() reads.
    const own = pool();
    const outcome = await own.runAttempt(
      attempt(pathsBatch(['child']), {
        timeoutSeconds: 2,
        job: pythonJob({ argv: ['--pid_file', pidFile] }),
      }),
    );
    await own.destroy();
    expect(outcome.code).toBe('TASK_TIMEOUT');
    const child = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && alive(child); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(child)).toBe(false);
    rmSync(folder, { recursive: true, force: true });
  });

  it('reports a process that dies leaving a child behind at once, and kills the child', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'pj-orphan-'));
    const pidFile = path.join(folder, 'child.pid');
    const own = pool();
    const started = Date.now();
    const outcome = await own.runAttempt(
      attempt(pathsBatch(['orphan']), {
        timeoutSeconds: 30,
        job: pythonJob({ argv: ['--pid_file', pidFile] }),
      }),
    );
    await own.destroy();
    expect(outcome.code).toBe('TASK_WORKER_CRASHED');
    expect(outcome.message).toContain('exited with code 5 during run()');
    expect(Date.now() - started).toBeLessThan(10_000);
    const child = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && alive(child); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive(child)).toBe(false);
    rmSync(folder, { recursive: true, force: true });
  });

  it.each([
    ['exit', 'exited with code 3 during run() (os._exit, sys.exit or a fatal error in the task code)'],
    ['sysexit', 'exited with code 4 during run()'],
    ['segfault', 'crashed (SIGSEGV) during run(): a fault in native code'],
    ['killed', "was killed (SIGKILL) during run(): the machine's out-of-memory killer"],
  ])('fails only its attempt when the process dies (%s), and replaces the process', async (mode, reason) => {
    const died = await tasks.runAttempt(attempt(pathsBatch([mode, 'other'])));
    expect(died).toMatchObject({ status: 'failed', code: 'TASK_WORKER_CRASHED', failed: 2, retryable: true });
    expect(died.message).toContain(reason);
    expect(died.message).toContain('A new process replaces it.');
    expect(died.log).toContain(reason);
    const next = await tasks.runAttempt(attempt(pathsBatch(['echo'])));
    expect(next.status).toBe('succeeded');
  });

  it("writes faulthandler's Python stack of a segfault into the attempt log", async () => {
    const died = await tasks.runAttempt(attempt(pathsBatch(['segfault'])));
    expect(died.log).toContain('WARNING Fatal Python error: Segmentation fault');
    expect(died.log).toMatch(/behaviours\.py", line \d+ in run/);
  });

  it('fails with TASK_RUN_FAILED when run() raises, with the traceback of the task code in the log', async () => {
    const outcome = await tasks.runAttempt(attempt(pathsBatch(['throw'])));
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'TASK_RUN_FAILED',
      message: 'run() failed: ValueError: run exploded on purpose',
      retryable: true,
    });
    expect(outcome.log).toContain('ERROR run() failed: Traceback (most recent call last):');
    expect(outcome.log).toMatch(/behaviours\.py", line \d+, in run/);
    expect(outcome.log).not.toContain('parallel_job_runner.py');
  });

  it.each([
    ['dict', 'run() returned dict: it must return a list, a tuple or a pandas DataFrame'],
    ['none', 'run() returned None: it must return a list, a tuple or a pandas DataFrame'],
  ])('fails with TASK_BAD_RESULT when run() returns %s', async (mode, message) => {
    const outcome = await tasks.runAttempt(attempt(pathsBatch([mode])));
    expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BAD_RESULT' });
    expect(outcome.message).toContain(message);
    expect(outcome.log).toContain(`ERROR ${message}`);
  });

  it('counts results as Azure ML does: a short list, a tuple, and items named by fail()', async () => {
    const short = await tasks.runAttempt(attempt(pathsBatch(['short', 'a', 'b'])));
    expect(short).toMatchObject({
      status: 'partial',
      items: 3,
      succeeded: 2,
      failed: 1,
      unattributedFailures: 1,
    });
    const tuple = await tasks.runAttempt(attempt(pathsBatch(['tuple', 'a'])));
    expect(tuple).toMatchObject({ status: 'succeeded', rows: 2, rowsText: 'tuple.txt\na.txt\n' });
    const named = await tasks.runAttempt(attempt(pathsBatch(['fail', 'bad-1', 'ok', 'bad-2'])));
    expect(named).toMatchObject({
      status: 'partial',
      items: 4,
      succeeded: 2,
      failed: 2,
      unattributedFailures: 0,
    });
    expect(named.rowsText).toBe('fail.txt\nok.txt\n');
    expect(named.failedItems).toEqual([
      { item: 'data/bad-1.txt', position: 1, error: 'ValueError: bad-1.txt is bad' },
      { item: 'data/bad-2.txt', position: 3, error: 'ValueError: bad-2.txt is bad' },
    ]);
  });

  it("keeps glibc from handing a freed table back between attempts, unless the job's environment says otherwise", async () => {
    const outcome = await tasks.runAttempt(attempt(pathsBatch(['env'])));
    expect(outcome.rowsText).toBe('MALLOC_TRIM_THRESHOLD_=67108864\nMALLOC_MMAP_THRESHOLD_=16777216\n');
    const own = pool();
    try {
      const job = pythonJob({ environmentVariables: { MALLOC_TRIM_THRESHOLD_: '131072' } });
      const theirs = await own.runAttempt(attempt(pathsBatch(['env']), { job }));
      expect(theirs.rowsText).toBe('MALLOC_TRIM_THRESHOLD_=131072\nMALLOC_MMAP_THRESHOLD_=16777216\n');
    } finally {
      await own.destroy();
    }
  });

  it('counts rows without writing them when the job has no append_row', async () => {
    const outcome = await tasks.runAttempt(attempt(pathsBatch(['echo', 'a']), { appendRows: false }));
    expect(outcome).toMatchObject({ status: 'succeeded', rows: 2, rowsText: '' });
  });
});

describe('Python tasks that cannot start', () => {
  it('reports a raising init() in a fresh process each time, and declares the task broken after 3', async () => {
    const tasks = pool('behaviours.py', { maxConcurrency: 1 });
    const job = pythonJob({ environmentVariables: { PJ_INIT_FAILS: '1' } });
    try {
      const outcomes = [];
      for (let i = 0; i < 4; i += 1)
        outcomes.push(await tasks.runAttempt(attempt(pathsBatch(['echo']), { job })));
      expect(outcomes.map((outcome) => outcome.code)).toEqual([
        'TASK_INIT_FAILED',
        'TASK_INIT_FAILED',
        'TASK_BROKEN',
        'TASK_BROKEN',
      ]);
      expect(outcomes[0]!.message).toBe('init() failed: RuntimeError: model file missing');
      expect(outcomes[0]!.log).toContain('INFO init ran 1');
      expect(outcomes[0]!.log).toContain('ERROR init() failed: Traceback (most recent call last):');
      expect(outcomes[1]!.log).toContain('INFO init ran 1'); // a new process: its module state is fresh
      expect(outcomes[2]!.message).toContain('init() failed 3 times in a row; the task is broken');
      expect(outcomes[3]!.retryable).toBe(false);
    } finally {
      await tasks.destroy();
    }
  });

  it('declares the task broken at once when the script imports a module that is not installed, saying what to install', async () => {
    const tasks = pool('missing_module.py');
    try {
      const outcome = await tasks.runAttempt(attempt(pathsBatch(['a'])));
      expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BROKEN', retryable: false });
      expect(outcome.message).toBe(
        `The entry script could not be loaded: ModuleNotFoundError: No module named 'not_installed_module_for_tests'. Install not_installed_module_for_tests for the interpreter ${realPython()} (PARALLEL_JOB_PYTHON).`,
      );
    } finally {
      await tasks.destroy();
    }
  });

  it('declares the task broken when the interpreter cannot be started, naming the setting', async () => {
    const tasks = pool('behaviours.py', { python: '/nonexistent/python3' });
    try {
      const outcome = await tasks.runAttempt(attempt(pathsBatch(['echo'])));
      expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BROKEN', retryable: false });
      expect(outcome.message).toBe(
        "The Python interpreter '/nonexistent/python3' (app setting PARALLEL_JOB_PYTHON) could not be started: spawn /nonexistent/python3 ENOENT",
      );
    } finally {
      await tasks.destroy();
    }
  });

  it('calls shutdown() once in each warm process when the pool is drained', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'pj-shutdown-'));
    const marker = path.join(folder, 'shutdowns');
    const tasks = pool('behaviours.py', { maxConcurrency: 2 });
    const job = pythonJob({ environmentVariables: { PJ_SHUTDOWN_MARKER: marker } });
    const outcomes = await Promise.all(
      [0, 1, 2, 3].map(() => tasks.runAttempt(attempt(pathsBatch(['echo']), { job }))),
    );
    const pids = new Set(outcomes.flatMap((outcome) => echoRows(outcome.rowsText).map((row) => row.pid)));
    const results = await tasks.close();
    expect(results.filter((result) => result.ranShutdown)).toHaveLength(pids.size);
    expect(new Set(readFileSync(marker, 'utf8').trim().split('\n').map(Number))).toEqual(pids);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    rmSync(folder, { recursive: true, force: true });
  });
});

function realPython(): string {
  return execFileSync(TEST_PYTHON, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
}

describe('Python tasks on tables (pandas)', () => {
  const csv = [
    'id,name,price,note,mode',
    '1,"Smith, Anna",3.5,,types',
    '2,"He said ""hi""",4,x,types',
    '3,plain,,"two',
    'lines",types',
    '',
  ].join('\n');
  const records = [{ id: '1' }, { id: '2' }, { id: '3' }];
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'pj-table-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  function tableBatch(text: string, rows = records): Extract<BatchData, { kind: 'table' }> {
    const file = path.join(folder, `t-${Math.random().toString(36).slice(2)}.csv`);
    writeFileSync(file, text);
    return {
      kind: 'table',
      format: 'csv',
      files: [file],
      count: rows.length,
      recordAt: (position) => rows[position],
      partitionKeyValue: { region: 'eu', year: '2026' },
    };
  }

  it('gives run() a DataFrame typed as pandas.read_csv types it, and the mini-batch context', async () => {
    const tasks = pool('table.py', { maxConcurrency: 1 });
    try {
      const outcome = await tasks.runAttempt(attempt(tableBatch(csv), { miniBatchIndex: 4, attempt: 2 }));
      expect(outcome.status).toBe('succeeded');
      const rows = outcome.rowsText
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown);
      expect(rows).toEqual([
        { column: 'id', dtype: 'int64', values: [1, 2, 3] },
        { column: 'name', dtype: 'object', values: ['Smith, Anna', 'He said "hi"', 'plain'] },
        { column: 'price', dtype: 'float64', values: [3.5, 4, null] },
        { column: 'note', dtype: 'object', values: [null, 'x', 'two\nlines'] },
        { column: 'mode', dtype: 'object', values: ['types', 'types', 'types'] },
        { partition_key_value: { region: 'eu', year: '2026' }, minibatch_index: 4, attempt: 2, rows: 3 },
      ]);
    } finally {
      await tasks.destroy();
    }
  });

  it('writes a DataFrame result as Azure ML does: one row per DataFrame row, values separated by spaces, no header', async () => {
    const tasks = pool('table.py', { maxConcurrency: 1 });
    try {
      const outcome = await tasks.runAttempt(
        attempt(tableBatch('id,name,mode\n1,Smith Anna,frame\n2,Lee,frame\n', records.slice(0, 2))),
      );
      expect(outcome).toMatchObject({ status: 'succeeded', items: 2, succeeded: 2, rows: 2 });
      expect(outcome.rowsText).toBe('1 "Smith Anna" 10\n2 Lee 20\n');
      // Read back the way Azure ML users do.
      const readBack = execFileSync(
        TEST_PYTHON,
        [
          '-c',
          'import sys, pandas as pd; print(pd.read_csv(sys.stdin, delimiter=" ", header=None).values.tolist())',
        ],
        { input: outcome.rowsText, encoding: 'utf8' },
      );
      expect(readBack.trim()).toBe("[[1, 'Smith Anna', 10], [2, 'Lee', 20]]");
    } finally {
      await tasks.destroy();
    }
  });

  it('names the failed rows fail() points at by their records', async () => {
    const tasks = pool('table.py', { maxConcurrency: 1 });
    const rows = [
      { id: '1', mode: 'fail' },
      { id: '2', mode: 'fail' },
      { id: '3', mode: 'fail' },
    ];
    try {
      const outcome = await tasks.runAttempt(attempt(tableBatch('id,mode\n1,fail\n2,fail\n3,fail\n', rows)));
      expect(outcome).toMatchObject({
        status: 'partial',
        items: 3,
        succeeded: 1,
        failed: 2,
        rowsText: '2\n',
      });
      expect(outcome.failedItems).toEqual([
        { item: { id: '1', mode: 'fail' }, position: 0, error: 'odd id 1' },
        { item: { id: '3', mode: 'fail' }, position: 2, error: 'odd id 3' },
      ]);
    } finally {
      await tasks.destroy();
    }
  });

  it('fails a table job at init, saying what to install, when the interpreter has no pandas', async () => {
    const tasks = pool('table.py', { maxConcurrency: 1, python: pythonWithoutSitePackages() });
    try {
      const outcome = await tasks.runAttempt(attempt(tableBatch(csv)));
      expect(outcome).toMatchObject({ status: 'failed', code: 'TASK_BROKEN', retryable: false });
      expect(outcome.message).toMatch(
        /^This job's input is a table, so run\(\) receives a pandas DataFrame, but the Python at \S+ cannot import pandas \(No module named 'pandas'\)\. Install it for that interpreter \(pip install pandas, or Debian's python3-pandas\)/,
      );
      expect(outcome.timings.initMs).toBeGreaterThan(0);
    } finally {
      await tasks.destroy();
    }
  });
});

describe('Python output folders', () => {
  const job: JobContextData = pythonJob({
    argv: ['--model_folder', 'outputs/job-py/models'],
    argvParts: [['--model_folder'], [{ output: 'models' }]],
    outputs: { models: { type: 'uri_folder', path: 'outputs/job-py/models' } },
    folderOutputs: ['models'],
    outputDirOf: 'models',
  });

  it('binds ${{outputs.x}} to a folder of the process, and moves what each attempt wrote aside for publishing', async () => {
    const tasks = pool('writer.py', { maxConcurrency: 1 });
    try {
      const first = await tasks.runAttempt(
        attempt(
          pathsBatch(['a', 'b'], () => 'write'),
          { job, attempt: 3 },
        ),
      );
      expect(first.status).toBe('succeeded');
      expect(first.files).toBeDefined();
      expect(readdirSync(path.join(first.files!, 'outputs', 'models', 'models')).sort()).toEqual([
        'a.bin',
        'b.bin',
      ]);
      expect(readFileSync(path.join(first.files!, 'outputs', 'models', 'models', 'a.bin'), 'utf8')).toBe(
        'model of a, attempt 3',
      );
      expect(readdirSync(path.join(first.files!, 'logs')).sort()).toEqual(['a.log', 'b.log']);
      // The next attempt starts with an empty folder: it sees nothing of the first one's files.
      const second = await tasks.runAttempt(
        attempt(
          pathsBatch(['c'], () => 'write'),
          { job },
        ),
      );
      expect(readdirSync(path.join(second.files!, 'outputs', 'models', 'models'))).toEqual(['c.bin']);
      expect(existsSync(path.join(first.files!, 'outputs', 'models', 'models', 'a.bin'))).toBe(true);
      const failed = await tasks.runAttempt(
        attempt(
          pathsBatch(['d'], () => 'fail'),
          { job },
        ),
      );
      expect(failed.code).toBe('TASK_RUN_FAILED');
      expect(readdirSync(path.join(failed.files!, 'outputs', 'models'))).toEqual(['d.partial']);
      const escaped = await tasks.runAttempt(
        attempt(
          pathsBatch(['e'], () => 'escape'),
          { job },
        ),
      );
      expect(readdirSync(path.join(escaped.files!, 'outputs')).sort()).toEqual(['escaped.txt', 'models']);
      for (const outcome of [first, second, failed, escaped])
        rmSync(outcome.files!, { recursive: true, force: true });
    } finally {
      await tasks.destroy();
    }
  });
});
