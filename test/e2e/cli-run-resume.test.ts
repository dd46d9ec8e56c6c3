import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive, readStorageState } from '@parallel-job/functions-host';
import { stopLeftoverStorage } from '../support/hostProcess';

// `parallel-job run` as a user runs it (bin/parallel-job.js in a child process, state in a data
// folder): killed, or interrupted with Ctrl-C, and then run again with the same command, it resumes
// the job and ends with the output of an uninterrupted run.

jest.setTimeout(180_000);

const repoRoot = path.resolve(__dirname, '..', '..');
const bin = path.join(repoRoot, 'bin', 'parallel-job.js');
const FILES = 120;
let work: string;
const dataDirs: string[] = [];

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `parallel-job run job.yml --data-dir <dataDir> --out <out>` in the work folder. */
function start(
  dataDir: string,
  out: string,
  extra: string[] = [],
): { child: ChildProcess; done: Promise<Finished>; stderr: () => string } {
  dataDirs.push(dataDir);
  const child = spawn(
    process.execPath,
    [bin, 'run', 'job.yml', '--data-dir', dataDir, '--out', out, ...extra],
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Finished>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done, stderr: () => stderr };
}

/** Resolves once the run reports at least `count` mini-batches done. */
async function progressAtLeast(stderr: () => string, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const done = [...stderr().matchAll(/Running: (\d+)\/\d+ mini-batches/g)].map((m) => Number(m[1]));
    if (done.some((value) => value >= count)) return;
    if (Date.now() > deadline) throw new Error(`no progress to ${count}:\n${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The append_row file a run downloaded (the only file under <out>/outputs/rows). */
function outputFile(out: string): Buffer {
  const dir = path.join(out, 'outputs', 'rows');
  const files = readdirSync(dir);
  expect(files).toHaveLength(1);
  return readFileSync(path.join(dir, files[0] as string));
}

const summary = (stdout: string): string[] =>
  stdout.split('\n').filter((line) => /mini-batches:|items:/.test(line));

let reference: { output: Buffer; summary: string[] };

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cli-run-resume-'));
  mkdirSync(path.join(work, 'data'));
  mkdirSync(path.join(work, 'src'));
  for (let i = 0; i < FILES; i += 1)
    writeFileSync(path.join(work, 'data', `file-${String(i).padStart(4, '0')}.txt`), `${i}`);
  copyFileSync(
    path.join(repoRoot, 'test', 'fixtures', 'tasks', 'flaky.js'),
    path.join(work, 'src', 'flaky.js'),
  );
  writeFileSync(
    path.join(work, 'job.yml'),
    [
      'type: parallel',
      'name: resume-me',
      'inputs:',
      '  data: { type: uri_folder, path: ./data }',
      'outputs:',
      '  rows: { type: uri_folder }',
      'input_data: ${{inputs.data}}',
      "mini_batch_size: '1'",
      'max_concurrency_per_instance: 4',
      'retry_settings: { max_retries: 5, timeout: 60 }',
      'task:',
      '  type: run_function',
      '  code: ./src',
      '  entry_script: flaky.js',
      '  program_arguments: --fail_rate 0.1 --seed resume --delay_ms 60',
      '  append_row_to: ${{outputs.rows}}',
      '',
    ].join('\n'),
  );
});

afterAll(() => {
  for (const dir of dataDirs) stopLeftoverStorage(dir);
  rmSync(work, { recursive: true, force: true });
});

it('runs the job uninterrupted (the reference)', async () => {
  const uninterrupted = await start(path.join(work, 'state-reference'), path.join(work, 'out-reference'))
    .done;
  expect(uninterrupted.code).toBe(0);
  reference = {
    output: outputFile(path.join(work, 'out-reference')),
    summary: summary(uninterrupted.stdout),
  };
  expect(reference.output.toString().trim().split('\n')).toHaveLength(FILES);
});

it('resumes a killed run when the same command runs again, with the uninterrupted result', async () => {
  const dataDir = path.join(work, 'state-killed');
  const out = path.join(work, 'out-killed');
  const first = start(dataDir, out);
  await progressAtLeast(first.stderr, 20);
  first.child.kill('SIGKILL');
  await first.done;
  const storage = readStorageState(path.join(dataDir, 'azurite'));
  expect(storage && isAlive(storage.pid)).toBe(true); // storage outlives the killed run

  const again = await start(dataDir, out).done;
  expect(again.stderr).toMatch(/Resuming job resume-me-[0-9a-f]{12} \(Running, \d+\/120 mini-batches done\)/);
  expect(again.code).toBe(0);
  expect(summary(again.stdout)).toEqual(reference.summary);
  expect(outputFile(out).equals(reference.output)).toBe(true);
  expect(isAlive((storage as { pid: number }).pid)).toBe(false); // and stops with the run that ends
});

it('cancels gracefully on Ctrl-C, then runs the rest when the same command runs again', async () => {
  const dataDir = path.join(work, 'state-interrupted');
  const out = path.join(work, 'out-interrupted');
  const first = start(dataDir, out);
  await progressAtLeast(first.stderr, 20);
  first.child.kill('SIGINT');
  const interrupted = await first.done;
  expect(interrupted.stderr).toContain('Ctrl-C: canceling the job gracefully');
  expect(interrupted.code).toBe(130);
  expect(interrupted.stdout).toMatch(/Job resume-me-[0-9a-f]{12}: Canceled/);
  // A consistent partial output: some of the rows, each once, in mini-batch order.
  const partial = outputFile(out).toString().trim().split('\n');
  const all = reference.output.toString().trim().split('\n');
  expect(partial.length).toBeGreaterThanOrEqual(20);
  expect(partial.length).toBeLessThan(FILES);
  expect(partial).toEqual(all.filter((row) => partial.includes(row)));
  const storage = readStorageState(path.join(dataDir, 'azurite'));
  expect(isAlive((storage as { pid: number }).pid)).toBe(false);

  const again = await start(dataDir, out).done;
  expect(again.stderr).toMatch(
    /ended Canceled: running its unfinished mini-batches as resume-me-[0-9a-f]{12}\.r1/,
  );
  expect(again.code).toBe(0);
  expect(outputFile(out).equals(reference.output)).toBe(true);

  // --fresh starts anew: a new job, the same result.
  const fresh = await start(dataDir, path.join(work, 'out-fresh'), ['--fresh']).done;
  expect(fresh.stderr).toMatch(/Started job resume-me-[0-9a-f]{12}-[0-9a-z]+ /);
  expect(fresh.code).toBe(0);
  expect(summary(fresh.stdout)).toEqual(reference.summary);
});
