import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { probePort } from '@parallel-job/functions-host';

// `npm start` as the README says, on a fresh clone's working tree: storage on the standard emulator
// ports, input uploaded with `UseDevelopmentStorage=true`, a job submitted over HTTP, then Ctrl-C.
// This is the only test that uses ports 10000-10002 and 7071 (every other test takes free ports).
//
// The "clone" is a copy of the files git tracks, taken from the working tree (so uncommitted changes
// are what is tested), plus the dist/ folders and node_modules linked to the installed packages: what
// `git clone && npm ci` gives (npm ci's "prepare" builds the app and its workspace packages), without the
// minutes a real npm ci takes.

jest.setTimeout(120_000);

const repoRoot = path.resolve(__dirname, '..', '..');
const PORTS = [10000, 10001, 10002, 7071];
const FILES = 30;
let clone: string;
let npm: ChildProcess | undefined;

function freshClone(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'npm-start-'));
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '');
  for (const file of tracked) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    try {
      cpSync(path.join(repoRoot, file), path.join(dir, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // deleted, not yet committed
    }
  }
  cpSync(path.join(repoRoot, 'dist'), path.join(dir, 'dist'), { recursive: true });
  for (const name of readdirSync(path.join(repoRoot, 'packages'))) {
    const built = path.join('packages', name, 'dist');
    cpSync(path.join(repoRoot, built), path.join(dir, built), { recursive: true });
  }
  linkInstalled(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), dir);
  return dir;
}

/**
 * The clone's node_modules: links to the installed packages, except that a workspace package (npm's link
 * into the repository) is linked to the clone's own copy, as npm ci links it, so the clone runs its own
 * host package.
 */
function linkInstalled(from: string, to: string, dir: string): void {
  mkdirSync(to);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isSymbolicLink()) {
      const real = path.relative(repoRoot, realpathSync(source));
      const workspace = !real.startsWith('..') && !real.startsWith('node_modules');
      symlinkSync(workspace ? path.join(dir, real) : source, target);
    } else if (entry.isDirectory() && entry.name.startsWith('@')) linkInstalled(source, target, dir);
    else symlinkSync(source, target);
  }
}

/** Processes that belong to the clone: started from it or running in it (Linux /proc). */
function processesOf(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + path.sep) || cmdline.includes(dir))
        found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

beforeAll(async () => {
  const taken = [];
  for (const port of PORTS) if ((await probePort('127.0.0.1', port)) !== 'free') taken.push(port);
  if (taken.length > 0)
    throw new Error(`npm-start.test needs ports ${PORTS.join(', ')} free; in use: ${taken.join(', ')}`);
  clone = freshClone();
});

afterAll(async () => {
  // Only after a failure is anything left; kill what the test started, by pid.
  const kill = (pid: number): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  if (npm?.pid && npm.exitCode === null && npm.signalCode === null) kill(-npm.pid);
  for (const line of processesOf(clone)) kill(Number(line.split(':')[0]));
  await new Promise((resolve) => setTimeout(resolve, 200));
  rmSync(clone, { recursive: true, force: true });
});

it('npm start serves the app with storage on the emulator ports, runs a job, and stops clean on Ctrl-C', async () => {
  // The README: task code in the app's tasks/ folder.
  mkdirSync(path.join(clone, 'tasks'));
  writeFileSync(
    path.join(clone, 'tasks', 'upper.js'),
    'exports.run = (items) => items.map((item) => item.name.toUpperCase());\n',
  );

  const env = { ...process.env };
  delete env.AzureWebJobsStorage;
  // Its own process group, like a terminal's foreground job: Ctrl-C goes to the whole group.
  npm = spawn('npm', ['start'], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  npm.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => npm?.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!output.includes('Host listening on')) {
    if (npm.exitCode !== null || Date.now() > deadline)
      throw new Error(`npm start did not serve:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(output).toContain('Host listening on http://127.0.0.1:7071');
  // The group activity under its name and, for calls a running job scheduled before an upgrade, its earlier one.
  expect(output).toMatch(/ParallelJob_RunGroup: activityTrigger/);
  expect(output).toMatch(/ParallelJob_RunMiniBatches: activityTrigger/);
  expect(output).toContain(`data in ${path.join(clone, '.parallel-job', 'azurite')}`);
  expect(output).toContain('Blob: http://127.0.0.1:10000/devstoreaccount1');
  expect(output).toMatch(/Connection string: DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;/);
  for (const container of ['inputs', 'outputs', 'logs', 'jobs', 'schedules'])
    expect(output).toMatch(new RegExp(`^ +${container} `, 'm'));
  expect(output).toContain('SubmitJob: [POST] http://127.0.0.1:7071/api/jobs');

  // Upload input as a user would, with the SDK and the emulator shortcut.
  const service = BlobServiceClient.fromConnectionString('UseDevelopmentStorage=true');
  const inputs = service.getContainerClient('inputs');
  const names = Array.from({ length: FILES }, (_, i) => `doc-${String(i).padStart(3, '0')}.txt`);
  for (const name of names) await inputs.uploadBlockBlob(`docs/${name}`, name, name.length);

  const spec = [
    'type: parallel',
    'name: upper',
    'inputs:',
    '  docs: { type: uri_folder, path: inputs/docs }',
    'outputs:',
    '  rows: { type: uri_folder }',
    'input_data: ${{inputs.docs}}',
    "mini_batch_size: '4'",
    'task:',
    '  type: run_function',
    '  code: .',
    '  entry_script: upper.js',
    '  append_row_to: ${{outputs.rows}}',
  ].join('\n');
  const submitted = await fetch('http://127.0.0.1:7071/api/jobs?id=upper-1', {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: spec,
  });
  expect(submitted.status).toBe(202);
  let view: { status: string; outputs: Record<string, string> };
  for (;;) {
    view = (await (await fetch('http://127.0.0.1:7071/api/jobs/upper-1')).json()) as typeof view;
    if (['Completed', 'Failed', 'Canceled'].includes(view.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(view.status).toBe('Completed');
  const outputUrl = new URL(view.outputs.rows as string);
  const [, , container, ...rest] = outputUrl.pathname.split('/');
  const rows = await service
    .getContainerClient(container as string)
    .getBlobClient(rest.join('/'))
    .downloadToBuffer();
  expect(rows.toString()).toBe(names.map((name) => `DOCS/${name.toUpperCase()}\n`).join(''));

  // Ctrl-C: the host drains and stops its storage; nothing of the clone is left running.
  const running = processesOf(clone);
  expect(running.some((line) => line.includes(' host'))).toBe(true);
  expect(running.some((line) => line.includes('storageProcess.js'))).toBe(true);
  process.kill(-(npm.pid as number), 'SIGINT');
  await exited;
  const stopDeadline = Date.now() + 15_000;
  while (processesOf(clone).length > 0 && Date.now() < stopDeadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  expect(processesOf(clone)).toEqual([]);
  for (const port of PORTS) expect(await probePort('127.0.0.1', port)).toBe('free');
});
