import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startChildLocalHost } from '../../src/hostChild';
import { startAzurite } from '../../src/storage/azurite';
import { isAlive, openStorage, type LocalStorage } from '../../src/storage/localStorage';
import { startHostProcess, stopLeftoverStorage } from '../support/hostProcess';

// The local host's persisted storage process: started, found again, reused, refused.

const appDir = path.join(__dirname, '..', 'fixtures', 'conformance-app');
const FREE = { blob: 0, queue: 0, table: 0 };
const FREE_PORT_FLAGS = ['--blob-port', '0', '--queue-port', '0', '--table-port', '0'];
let folder: string;
const opened: LocalStorage[] = [];

beforeEach(() => {
  folder = mkdtempSync(path.join(os.tmpdir(), 'local-storage-'));
});

afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.stop().catch(() => undefined);
  rmSync(folder, { recursive: true, force: true });
});

async function open(ports: Partial<typeof FREE> = FREE): Promise<LocalStorage> {
  const storage = await openStorage({ folder, ports });
  opened.push(storage);
  return storage;
}

it('keeps data across a stop, finds a running storage process again, and reuses its ports', async () => {
  const first = await open();
  expect(first.origin).toBe('started');
  expect(isAlive(first.pid as number)).toBe(true);
  const kept = BlobServiceClient.fromConnectionString(first.connectionString).getContainerClient('kept');
  await kept.create();
  await kept.getBlockBlobClient('a.txt').upload('written before the stop', 23);

  // A host that did not stop cleanly left it running: the next one takes it over.
  const found = await open();
  expect(found).toMatchObject({ origin: 'adopted', pid: first.pid, ports: first.ports });

  await found.stop();
  expect(isAlive(first.pid as number)).toBe(false);
  const again = await open();
  expect(again.origin).toBe('started');
  expect(again.pid).not.toBe(first.pid);
  expect(again.ports).toEqual(first.ports); // 0 = the ports this folder had
  const reopened = BlobServiceClient.fromConnectionString(again.connectionString).getContainerClient('kept');
  expect((await reopened.getBlobClient('a.txt').downloadToBuffer()).toString()).toBe(
    'written before the stop',
  );
});

it('uses an emulator already running on the wanted ports and leaves it running', async () => {
  const emulator = await startAzurite();
  try {
    const port = (url: string): number => Number(new URL(url).port);
    const storage = await open({
      blob: port(emulator.blobEndpoint),
      queue: port(emulator.queueEndpoint),
      table: port(emulator.tableEndpoint),
    });
    expect(storage.origin).toBe('external');
    expect(storage.pid).toBeUndefined();
    await storage.stop();
    const stillUp = BlobServiceClient.fromConnectionString(emulator.connectionString);
    await expect(stillUp.getContainerClient('still-up').createIfNotExists()).resolves.toMatchObject({
      succeeded: true,
    });
  } finally {
    await emulator.stop();
  }
});

it('refuses a port held by something that is not a storage emulator', async () => {
  const other = http.createServer((_, res) => res.end('not storage'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const port = (other.address() as AddressInfo).port;
    await expect(openStorage({ folder, ports: { ...FREE, blob: port } })).rejects.toMatchObject({
      code: 'STORAGE_PORT_TAKEN',
      message: expect.stringContaining(`blob ${port}`) as unknown,
    });
  } finally {
    other.close();
  }
});

it('refuses a data folder another host is using', async () => {
  const host = await startHostProcess(appDir, folder, FREE_PORT_FLAGS);
  try {
    await expect(
      startChildLocalHost({ appDir, port: 0, dataDir: folder, storagePorts: FREE, quiet: true }),
    ).rejects.toMatchObject({ code: 'DATA_DIR_IN_USE' });
  } finally {
    const stopped = new Promise((resolve) => host.child.once('exit', resolve));
    host.child.kill('SIGTERM');
    expect(await stopped).toBe(0);
    stopLeftoverStorage(folder);
  }
});
