import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, watch } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { isAlive, openStorage, type LocalStorage } from '../../src/storage/localStorage';

// The storage process keeps every write it answered: writers upload, delete and append as fast as they
// can, the storage process is SIGKILLed, and the storage started again on the folder must hold every
// answered write. Snapshots are taken every few writes here; every other kill is at a random moment,
// the others as soon as a snapshot file appears (most land while it is being written).
// STORAGE_KILL_SEED=<n> replays a run's random kill moments.

jest.setTimeout(180_000);

const ROUNDS = 6;
const WRITERS = 12;
const CONTAINER = 'durable';
const FREE = { blob: 0, queue: 0, table: 0 };

const seed = Number(process.env.STORAGE_KILL_SEED ?? Date.now() % 1_000_000);
/** A kill moment in [300, 1500) ms that the seed and the round fix, so that a run can be replayed. */
const killMomentMs = (round: number): number =>
  300 + (createHash('sha256').update(`${seed}/${round}`).digest().readUInt32BE(0) % 1200);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let folder: string;
let storage: LocalStorage | undefined;
const previousSnapshotBytes = process.env.FUNCTIONS_HOST_STORAGE_SNAPSHOT_BYTES;

beforeAll(() => {
  folder = mkdtempSync(path.join(os.tmpdir(), 'storage-durability-'));
  // The storage process inherits it: a snapshot every ~40 writes.
  process.env.FUNCTIONS_HOST_STORAGE_SNAPSHOT_BYTES = '40000';
});

afterAll(async () => {
  if (previousSnapshotBytes === undefined) delete process.env.FUNCTIONS_HOST_STORAGE_SNAPSHOT_BYTES;
  else process.env.FUNCTIONS_HOST_STORAGE_SNAPSHOT_BYTES = previousSnapshotBytes;
  await storage?.stop().catch(() => undefined);
  rmSync(folder, { recursive: true, force: true });
});

/** The blob metadata snapshot being written (lokiLines.ts writes beside, then renames). */
const SNAPSHOT_TEMPORARY = '__blob__.json~';

/** SIGKILLs the storage process as soon as it starts writing a snapshot of the blob metadata. */
function killAtSnapshot(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(folder, (_, name) => {
      if (name !== SNAPSHOT_TEMPORARY || !existsSync(path.join(folder, name))) return;
      process.kill(pid, 'SIGKILL');
      watcher.close();
      resolve();
    });
  });
}

/** What the writers were told succeeded, in the order they were told. */
interface Acknowledged {
  present: Map<string, string>;
  deleted: Set<string>;
  appended: string[];
  /** Appends asked for: the one in flight at a kill may or may not have landed. */
  tried: string[];
}

/** A client that tries each request once: a request the storage did not answer is not acknowledged. */
function containerOf(connectionString: string): ContainerClient {
  return BlobServiceClient.fromConnectionString(connectionString, {
    retryOptions: { maxTries: 1 },
  }).getContainerClient(CONTAINER);
}

/** A blob's text; a failed read names the blob and what the storage answered. */
async function text(container: ContainerClient, name: string): Promise<string> {
  try {
    return (await container.getBlobClient(name).downloadToBuffer()).toString('utf8');
  } catch (error) {
    const { statusCode, code, message } = error as { statusCode?: number; code?: string; message?: string };
    throw new Error(`reading ${name} after a kill: ${statusCode ?? ''} ${code ?? ''} ${message ?? ''}`);
  }
}

/** Writes until the storage stops answering; records every answered write. */
async function write(store: ContainerClient, round: number, acknowledged: Acknowledged): Promise<void> {
  let stopped = false;
  const writer = async (id: number): Promise<void> => {
    for (let n = 0; !stopped; n += 1) {
      const name = `r${round}/w${id}_${String(n).padStart(5, '0')}%.txt`;
      const body = `round ${round} writer ${id} write ${n}`;
      try {
        if (id === 0) {
          const record = `${round}:${n}\n`;
          acknowledged.tried.push(record);
          await store.getAppendBlobClient('records.jsonl').appendBlock(record, record.length);
          acknowledged.appended.push(record);
        } else if (n % 5 === 4) {
          const victim = `r${round}/w${id}_${String(n - 2).padStart(5, '0')}%.txt`;
          // Unanswered, a delete may or may not have landed: the blob counts as neither present nor deleted.
          acknowledged.present.delete(victim);
          await store.getBlobClient(victim).delete();
          acknowledged.deleted.add(victim);
        } else {
          await store.getBlockBlobClient(name).upload(body, body.length);
          acknowledged.present.set(name, body);
        }
      } catch {
        stopped = true;
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, id) => writer(id)));
}

it(`keeps every answered write across ${ROUNDS} SIGKILLs of the storage process`, async () => {
  storage = await openStorage({ folder, ports: FREE });
  const first = containerOf(storage.connectionString);
  await first.create();
  await first.getAppendBlobClient('records.jsonl').create();
  const acknowledged: Acknowledged = {
    present: new Map(),
    deleted: new Set(),
    appended: [],
    tried: [],
  };
  const kills: string[] = [];

  for (let round = 0; round < ROUNDS; round += 1) {
    const pid = storage.pid as number;
    const writing = write(containerOf(storage.connectionString), round, acknowledged);
    if (round % 2 === 0) {
      const killAfter = killMomentMs(round);
      kills.push(`${killAfter} ms`);
      await sleep(killAfter);
      process.kill(pid, 'SIGKILL');
    } else {
      await killAtSnapshot(pid);
      kills.push(existsSync(path.join(folder, SNAPSHOT_TEMPORARY)) ? 'in a snapshot' : 'after a snapshot');
    }
    while (isAlive(pid)) await sleep(10);
    await writing;

    storage = await openStorage({ folder, ports: FREE });
    expect(storage.origin).toBe('started');
    const reopened = containerOf(storage.connectionString);
    const listed = new Set<string>();
    for await (const item of reopened.listBlobsFlat()) listed.add(item.name);
    const missing = [...acknowledged.present.keys()].filter((name) => !listed.has(name));
    const resurrected = [...acknowledged.deleted].filter((name) => listed.has(name));
    expect({ round, missing, resurrected }).toEqual({ round, missing: [], resurrected: [] });
    const sample = [...acknowledged.present].filter((_, index) => index % 17 === 0);
    for (const [name, body] of sample) expect(await text(reopened, name)).toBe(body);
    // Every answered append, in order; besides them only appends that were in flight at a kill.
    const records = (await text(reopened, 'records.jsonl')).split(/(?<=\n)/).filter(Boolean);
    const answered = new Set(acknowledged.appended);
    expect(records.filter((record) => answered.has(record))).toEqual(acknowledged.appended);
    const inFlight = acknowledged.tried.filter((record) => !answered.has(record));
    expect(records.filter((record) => !answered.has(record) && !inFlight.includes(record))).toEqual([]);
  }
  console.log(
    `storage durability (STORAGE_KILL_SEED=${seed}): kills ${kills.join(', ')}; ` +
      `${acknowledged.present.size} blobs, ${acknowledged.deleted.size} deletes, ` +
      `${acknowledged.appended.length} appends answered`,
  );
  expect(acknowledged.present.size).toBeGreaterThan(ROUNDS * 50);
  expect(acknowledged.appended.length).toBeGreaterThan(ROUNDS * 5);
});
