import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHostProcess, type HostProcess } from '../support/hostProcess';

// Kill -9 the host in the middle of a 1,000-activity fan-out, restart it on the same folder, and the
// orchestration must finish with the same output as an uninterrupted run.
const appDir = path.join(__dirname, '..', 'fixtures', 'conformance-app');
const COUNT = 1000;
let dataDir: string;
const children: ChildProcess[] = [];

async function startHost(): Promise<HostProcess> {
  const host = await startHostProcess(appDir, dataDir, ['--memory']);
  children.push(host.child);
  return host;
}

interface Status {
  runtimeStatus: string;
  output: unknown;
  historyEvents?: { EventType: string }[];
}

async function getStatus(url: string, id: string, history = false): Promise<Status> {
  const response = await fetch(`${url}/runtime/webhooks/durabletask/instances/${id}?showHistory=${history}`);
  return (await response.json()) as Status;
}

async function waitForCompletion(url: string, id: string): Promise<Status> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await getStatus(url, id, true);
    if (status.runtimeStatus !== 'Running' && status.runtimeStatus !== 'Pending') return status;
    if (Date.now() > deadline) throw new Error(`instance ${id} still ${status.runtimeStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const completions = (status: Status): number =>
  (status.historyEvents ?? []).filter((event) => event.EventType === 'TaskCompleted').length;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-host-crash-'));
});

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('resumes an orchestration after SIGKILL and completes it with the uninterrupted output', async () => {
  const first = await startHost();
  const started = await fetch(`${first.url}/api/start/FanOut/crashed`, {
    method: 'POST',
    body: JSON.stringify({ count: COUNT, activity: 'SlowDouble' }),
  });
  expect(started.status).toBe(202);

  // Kill once some, but not all, activities have completed.
  let doneBeforeKill = 0;
  for (;;) {
    const status = await getStatus(first.url, 'crashed', true);
    doneBeforeKill = completions(status);
    if (doneBeforeKill >= 100 || status.runtimeStatus !== 'Running') break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const exited = new Promise((resolve) => first.child.once('exit', resolve));
  first.child.kill('SIGKILL');
  await exited;
  expect(doneBeforeKill).toBeGreaterThan(0);
  expect(doneBeforeKill).toBeLessThan(COUNT);

  const second = await startHost();
  const resumed = await waitForCompletion(second.url, 'crashed');
  expect(resumed.runtimeStatus).toBe('Completed');
  expect(completions(resumed)).toBe(COUNT);

  const clean = await fetch(`${second.url}/api/start/FanOut/uninterrupted`, {
    method: 'POST',
    body: JSON.stringify({ count: COUNT, activity: 'SlowDouble' }),
  });
  expect(clean.status).toBe(202);
  const reference = await waitForCompletion(second.url, 'uninterrupted');
  expect(reference.runtimeStatus).toBe('Completed');
  expect(resumed.output).toEqual(reference.output);

  const stopped = new Promise((resolve) => second.child.once('exit', resolve));
  second.child.kill('SIGTERM');
  expect(await stopped).toBe(0);
});
