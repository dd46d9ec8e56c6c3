import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostChild, startChildLocalHost } from '../../src/hostChild';

// Hosts started one after another in one process load the app afresh and pick up the journal.
const appDir = path.join(__dirname, '..', 'fixtures', 'conformance-app');
let dataDir: string;
/** The one process both hosts of the first test run in. */
let hosts: HostChild;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-host-reload-'));
  hosts = HostChild.spawn();
});
afterAll(async () => {
  await hosts?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const json = async (response: Response): Promise<Record<string, unknown>> =>
  (await response.json()) as Record<string, unknown>;

it('reloads the app and resumes a waiting orchestration in a second host on the same folder', async () => {
  const options = { appDir, port: 0, dataDir, storage: 'memory' as const, quiet: true };
  const first = await hosts.startLocalHost(options);
  expect((await fetch(`${first.url}/api/start/Stages/kept`, { method: 'POST' })).status).toBe(202);
  for (let i = 0; i < 100; i += 1) {
    const status = await json(await fetch(`${first.url}/runtime/webhooks/durabletask/instances/kept`));
    if (status.customStatus !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await first.stop();

  const second = await hosts.startLocalHost(options);
  try {
    expect(second.url).not.toBe(first.url);
    const observed = await json(await fetch(`${second.url}/api/observations`));
    expect(observed.hooks).toMatchObject({ appStart: 1 }); // fresh module state, not the first host's
    const waiting = await json(await fetch(`${second.url}/runtime/webhooks/durabletask/instances/kept`));
    expect(waiting).toMatchObject({ runtimeStatus: 'Running', customStatus: { stage: 'waiting for go' } });

    const raised = await fetch(`${second.url}/durabletask/instances/kept/raiseEvent/go`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify('again'),
    });
    expect(raised.status).toBe(202);
    let final: Record<string, unknown> = {};
    for (let i = 0; i < 200; i += 1) {
      final = await json(await fetch(`${second.url}/runtime/webhooks/durabletask/instances/kept`));
      if (final.runtimeStatus === 'Completed') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(final).toMatchObject({ runtimeStatus: 'Completed', output: 'Hello again' });
  } finally {
    await second.stop();
  }
});

it('says clearly when package.json "main" matches no file', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'local-host-empty-'));
  fs.writeFileSync(path.join(empty, 'package.json'), JSON.stringify({ main: 'dist/functions/*.js' }));
  fs.writeFileSync(path.join(empty, 'host.json'), JSON.stringify({ version: '2.0' }));
  try {
    await expect(
      startChildLocalHost({ appDir: empty, port: 0, storage: 'memory', quiet: true }),
    ).rejects.toMatchObject({
      code: 'LOCAL_HOST_CONFIG',
      message: expect.stringContaining('no file in'),
    });
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
