import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { planPreviewSchema } from '../../src/api/wire';

/**
 * `parallel-job plan` and the local-input checks of `run`, through the real CLI in a child process, as a
 * user runs them.
 */

const root = path.resolve(__dirname, '..', '..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'cli-local-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'bin', 'parallel-job.js'), ...args],
      { cwd: scratch, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const example = (name: string) => path.join(root, 'examples', name, 'job.yml');

/** A copy of the score-files example (spec and task code) whose reviews input is `inputPath`. */
function scoreSpec(inputPath: string): string {
  const folder = mkdtempSync(path.join(scratch, 'spec-'));
  const text = readFileSync(example('score-files'), 'utf8').replace('path: ./data', `path: ${inputPath}`);
  cpSync(path.join(root, 'examples', 'score-files', 'src'), path.join(folder, 'src'), { recursive: true });
  const file = path.join(folder, 'job.yml');
  writeFileSync(file, text);
  return file;
}

describe('parallel-job plan', () => {
  it.each([
    [
      'score-files',
      /^6 mini-batches of files of inputs\/plan-[a-z0-9]+\/reviews \(60 files\), [\d.]+ KiB in all\.$/,
    ],
    [
      'tabular-csv',
      /^\d+ mini-batches of byte ranges of tables in inputs\/plan-[a-z0-9]+\/transactions, [\d.]+ KiB in all\.$/,
    ],
    [
      'partitioned-sales',
      /^\d+ mini-batches of partitions of inputs\/plan-[a-z0-9]+\/sales \(\d+ files\), [\d.]+ KiB in all\.$/,
    ],
  ])('summarises %s for people', async (name, firstLine) => {
    const { code, stdout, stderr } = await cli(['plan', example(name)]);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(firstLine);
    expect(stdout).toMatch(/\nBytes per mini-batch: min .*, median .*, max .*\n {2}<= /);
    expect(stdout).toMatch(/\nFirst \d+ mini-batch(es)?:\n {2}#0 {2}/);
    expect(stdout).toMatch(
      /durable work items: about [\d,]+ for short tasks \(a group call runs many mini-batches\), up to [\d,]+ for tasks of 20 s or more/,
    );
  });

  it('names the ignored Azure ML keys once, in one short line', async () => {
    const { stderr } = await cli(['plan', example('score-files')]);
    expect(stderr.split('\n').filter((line) => line.includes('Azure ML'))).toEqual([
      'warning: Ignored Azure ML settings (no meaning on Azure Functions): $schema, compute.',
    ]);
  });

  it('prints the preview as JSON with --json', async () => {
    const { code, stdout } = await cli(['plan', example('score-files'), '--json']);
    expect(code).toBe(0);
    const preview = planPreviewSchema.parse(JSON.parse(stdout));
    expect(preview).toMatchObject({ kind: 'files', miniBatches: 6, items: 60 });
  });

  it('shows the progress of a large folder upload', async () => {
    const data = path.join(scratch, 'many');
    mkdirSync(data);
    for (let i = 0; i < 250; i += 1)
      writeFileSync(path.join(data, `r-${String(i).padStart(3, '0')}.txt`), 'good');
    const { code, stderr } = await cli(['plan', scoreSpec(data)]);
    expect(code).toBe(0);
    const progress = stderr.split('\n').filter((line) => line.startsWith('Uploading '));
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress.at(-1)).toMatch(
      new RegExp(`^Uploading ${data}: 250 of 250 files \\([\\d,]+ files/s\\)$`),
    );
  });
});

describe('local inputs are checked before anything starts', () => {
  it('a missing folder is a spec error naming the field and the folder meant, exit code 2', async () => {
    const { code, stdout, stderr } = await cli([
      'run',
      scoreSpec('./data-2026'),
      '--data-dir',
      path.join(scratch, 'state'),
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /inputs\.reviews\.path: the local path "\.\/data-2026" does not exist \(looked for .*data-2026\)/,
    );
    expect(stderr).not.toMatch(/\n\s+at /);
    // Nothing started: no host, no state.
    expect(stderr).not.toContain('State:');
  });

  it('names the sibling folder that was probably meant', async () => {
    const parent = mkdtempSync(path.join(scratch, 'clicks-'));
    mkdirSync(path.join(parent, 'clicks-2025'));
    writeFileSync(path.join(parent, 'clicks-2025', 'a.txt'), 'good');
    const { code, stderr } = await cli(['plan', scoreSpec(path.join(parent, 'clicks-2026'))]);
    expect(code).toBe(2);
    expect(stderr).toContain(`Did you mean "${path.join(parent, 'clicks-2025')}"?`);
  });

  it('an empty folder is refused the same way', async () => {
    const empty = mkdtempSync(path.join(scratch, 'empty-'));
    const { code, stderr } = await cli([
      'run',
      scoreSpec(empty),
      '--data-dir',
      path.join(scratch, 'state-empty'),
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/inputs\.reviews\.path: the local folder ".*empty-.*" is empty/);
  });
});
