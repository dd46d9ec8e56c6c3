import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import { siblingScript } from '../childScript';
import { developmentEndpoints } from './connectionString';
import { LocalHostError } from '../errors';
import type { LogLine } from '../runtime/types';

/**
 * The local host's storage when it is persisted: Azurite in a process of its own, with its data under
 * one folder. The host process may die at any moment (the durable journal is written at once); the
 * storage process lives on, so every write it acknowledged is still there for the next host. A clean
 * stop of the host stops the storage it started or found; a crash leaves it running, and the next host
 * on the same folder finds it through `storage.json` and takes it over.
 */

/** The standard emulator ports (Azurite, Core Tools, `UseDevelopmentStorage=true`). */
export const STANDARD_PORTS: StoragePorts = { blob: 10000, queue: 10001, table: 10002 };

export interface StoragePorts {
  blob: number;
  queue: number;
  table: number;
}

export const storagePortsSchema = z.object({
  blob: z.number().int().min(0).max(65535),
  queue: z.number().int().min(0).max(65535),
  table: z.number().int().min(0).max(65535),
});

/** What the storage process writes once it serves, and what a later host reads to find it. */
const stateSchema = z.object({
  pid: z.number().int().positive(),
  token: z.string(),
  host: z.string(),
  ports: storagePortsSchema,
  startedAt: z.string(),
});
export type StorageState = z.infer<typeof stateSchema>;

/** The storage process's own arguments (one JSON argument). */
export const childConfigSchema = z.object({
  folder: z.string().min(1),
  host: z.string().min(1),
  ports: storagePortsSchema,
  token: z.string().min(1),
});
export type StorageChildConfig = z.infer<typeof childConfigSchema>;

export interface StorageOptions {
  /** The folder that holds the storage data, `storage.json` and `storage.log`. */
  folder: string;
  host?: string;
  /**
   * Ports to serve on. 0 = any free port; the ports a folder's storage got are kept in `storage.json`
   * and asked for again by later starts on that folder (blob URLs written into the data stay valid).
   */
  ports?: Partial<StoragePorts>;
  log?: LogLine;
  /** How long to wait for the storage process to serve (default 30 s). */
  startTimeoutMs?: number;
}

export interface LocalStorage {
  connectionString: string;
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  ports: StoragePorts;
  /** The storage process, when it is ours. */
  pid?: number;
  /**
   * `started`: this call started it. `adopted`: ours, left running by a host that did not stop cleanly.
   * `external`: an emulator someone else runs on those ports; it is never stopped by us.
   */
  origin: 'started' | 'adopted' | 'external';
  /** Stops the storage process (not an external emulator); it saves its data first. */
  stop(): Promise<void>;
}

export const stateFile = (folder: string): string => path.join(folder, 'storage.json');
export const logFile = (folder: string): string => path.join(folder, 'storage.log');

export function readStorageState(folder: string): StorageState | undefined {
  try {
    const parsed = stateSchema.safeParse(JSON.parse(fs.readFileSync(stateFile(folder), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Probe = 'free' | 'azurite' | 'other';

/** What answers on a port: nothing, an Azurite server (by its `Server` header), or something else. */
export function probePort(host: string, port: number, timeoutMs = 2000): Promise<Probe> {
  return new Promise((resolve) => {
    const request = http.get({ host, port, path: '/', timeout: timeoutMs, agent: false }, (response) => {
      const server = String(response.headers.server ?? '');
      response.resume();
      resolve(server.startsWith('Azurite-') ? 'azurite' : 'other');
    });
    request.on('timeout', () => {
      request.destroy();
      resolve('other');
    });
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ECONNREFUSED' ? 'free' : 'other'),
    );
  });
}

export function connectionStringFor(
  host: string,
  ports: StoragePorts,
): Omit<LocalStorage, 'origin' | 'stop'> {
  return {
    ports,
    ...developmentEndpoints({
      blob: `http://${host}:${ports.blob}`,
      queue: `http://${host}:${ports.queue}`,
      table: `http://${host}:${ports.table}`,
    }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends SIGTERM and waits until the process is gone (SIGKILL after `graceMs`). */
export async function stopProcess(pid: number, graceMs = 30_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
      throw new LocalHostError(
        'STORAGE_STOP_FAILED',
        `The storage process ${pid} did not stop within ${graceMs / 1000} s and was killed; data written in its last seconds may be lost.`,
      );
    }
    await sleep(50);
  }
}

function allAnswer(host: string, ports: StoragePorts, answer: Probe): Promise<boolean> {
  return Promise.all([ports.blob, ports.queue, ports.table].map((port) => probePort(host, port))).then(
    (probes) => probes.every((probe) => probe === answer),
  );
}

/** Our storage process for `folder`, if one is running and serving. */
async function findRunning(folder: string): Promise<StorageState | undefined> {
  const state = readStorageState(folder);
  if (!state || !isAlive(state.pid)) return undefined;
  // It may be starting up or saving: give it a moment to answer.
  for (let tries = 0; tries < 50; tries += 1) {
    if (await allAnswer(state.host, state.ports, 'azurite')) return state;
    if (!isAlive(state.pid)) return undefined;
    await sleep(100);
  }
  throw new LocalHostError(
    'STORAGE_FOLDER_BUSY',
    `The storage process ${state.pid} of ${folder} is running but does not answer on ports ` +
      `${state.ports.blob}/${state.ports.queue}/${state.ports.table}. Stop it (kill ${state.pid}) and start again.`,
  );
}

/**
 * Azurite keeps every blob's metadata in memory and turns over many short-lived objects per request.
 * With V8's default heap growth the storage process reached about 780 MiB at 100,000 mini-batches,
 * mostly garbage; growing the heap 20% at a time keeps it near its live size (about 310 MiB) at no
 * measurable cost in job time (bench/host-memory.js, bench/RESULTS.md). A 32 MiB young generation
 * lets a request's garbage die young: small uploads went from about 800/s to 1,100/s
 * (bench/storage.js).
 */
const STORAGE_HEAP_FLAGS = ['--heap-growing-percent=20', '--max-semi-space-size=32'];

function childEntry(): { script: string; execArgv: string[] } {
  const { script, loader } = siblingScript(__filename, 'storageProcess');
  return { script, execArgv: [...STORAGE_HEAP_FLAGS, ...loader] };
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** The ports asked for: 0 reuses the folder's remembered port (else any), none given the standard one. */
function wantedPorts(options: StorageOptions, folder: string): StoragePorts {
  const remembered = readStorageState(folder)?.ports;
  const want = (name: keyof StoragePorts): number => {
    const asked = options.ports?.[name];
    if (asked !== undefined && asked !== 0) return asked;
    return asked === 0 ? (remembered?.[name] ?? 0) : STANDARD_PORTS[name];
  };
  return { blob: want('blob'), queue: want('queue'), table: want('table') };
}

/**
 * An emulator already answering on all three fixed ports, used as it is; undefined when the fixed ports
 * are free. Errors with STORAGE_PORT_TAKEN when one answers as something else.
 */
async function emulatorOnFixedPorts(
  host: string,
  ports: StoragePorts,
  log: LogLine,
): Promise<LocalStorage | undefined> {
  const fixed = (Object.keys(ports) as (keyof StoragePorts)[]).filter((name) => ports[name] !== 0);
  const probes = await Promise.all(fixed.map((name) => probePort(host, ports[name])));
  if (fixed.length === 3 && probes.every((probe) => probe === 'azurite')) {
    log(
      `Storage: using the emulator already running on ${host}:${ports.blob}/${ports.queue}/${ports.table} ` +
        '(not started by this host: it keeps its own data and is left running).',
    );
    return { ...connectionStringFor(host, ports), origin: 'external', stop: () => Promise.resolve() };
  }
  const taken = fixed.filter((_, index) => probes[index] !== 'free');
  if (taken.length > 0) {
    const list = taken.map((name) => `${name} ${ports[name]}`).join(', ');
    throw new LocalHostError(
      'STORAGE_PORT_TAKEN',
      `Storage port${taken.length > 1 ? 's' : ''} ${list} ${taken.length > 1 ? 'are' : 'is'} in use by ` +
        `something that is not a complete storage emulator. Stop it, or choose other ports ` +
        `(--blob-port, --queue-port, --table-port; 0 = any free port).`,
    );
  }
  return undefined;
}

/**
 * Finds the storage of `folder` (ours and running, or an emulator already on the wanted ports) or starts
 * it in a process of its own. Errors with STORAGE_PORT_TAKEN when a wanted port answers as something
 * that is not an emulator.
 */
export async function openStorage(options: StorageOptions): Promise<LocalStorage> {
  const folder = path.resolve(options.folder);
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  fs.mkdirSync(folder, { recursive: true });

  const running = await findRunning(folder);
  if (running) {
    return {
      ...connectionStringFor(running.host, running.ports),
      pid: running.pid,
      origin: 'adopted',
      stop: () => stopProcess(running.pid),
    };
  }
  const ports = wantedPorts(options, folder);
  const external = await emulatorOnFixedPorts(host, ports, log);
  if (external) return external;
  return startStorageProcess(folder, host, ports, options.startTimeoutMs, log);
}

/** Spawns the storage process for `folder` and waits until it records that it serves. */
async function startStorageProcess(
  folder: string,
  host: string,
  ports: StoragePorts,
  startTimeoutMs: number | undefined,
  log: LogLine,
): Promise<LocalStorage> {
  const token = randomBytes(8).toString('hex');
  const config: StorageChildConfig = { folder, host, ports, token };
  const { script, execArgv } = childEntry();
  const out = fs.openSync(logFile(folder), 'a');
  // Its own process group: a Ctrl-C in the host's terminal reaches the host, which then stops storage
  // after its own work has drained (storage must outlive every write the host makes).
  const child = spawn(process.execPath, [...execArgv, script, JSON.stringify(config)], {
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  fs.closeSync(out);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.unref();

  const metadataBytes = metadataSize(folder);
  if (metadataBytes >= LARGE_METADATA_BYTES)
    log(
      `Storage: ${Math.round(metadataBytes / 2 ** 20)} MiB of blob metadata to load; the storage process will ` +
        `hold about ${(storageMemoryBytes(metadataBytes) / 2 ** 30).toFixed(1)} GiB of memory.`,
    );
  const started = Date.now();
  const deadline = started + (startTimeoutMs ?? storageStartBudgetMs(metadataBytes));
  let nextNote = started + 10_000;
  for (;;) {
    const state = readStorageState(folder);
    if (state?.token === token) {
      log(`Storage: started process ${state.pid} with data in ${folder}`);
      return {
        ...connectionStringFor(state.host, state.ports),
        pid: state.pid,
        origin: 'started',
        stop: () => stopProcess(state.pid),
      };
    }
    if (exited !== undefined || Date.now() > deadline) {
      if (exited === undefined && child.pid !== undefined) child.kill('SIGKILL');
      throw new LocalHostError(
        'STORAGE_START_FAILED',
        `The storage process did not start (${exited === undefined ? 'timed out' : `exit code ${exited}`}). ` +
          `Its log, ${logFile(folder)}, ends with:\n${tail(logFile(folder))}`,
      );
    }
    if (Date.now() > nextNote) {
      nextNote += 10_000;
      log(
        `Storage: loading ${Math.round(metadataBytes / 2 ** 20)} MiB of blob metadata from ${folder} ` +
          `(${Math.round((Date.now() - started) / 1000)} s)`,
      );
    }
    await sleep(50);
  }
}

/** From this much metadata on, the host says at start how much memory storage will hold. */
const LARGE_METADATA_BYTES = 100 * 2 ** 20;

/**
 * What the storage process holds with this much metadata loaded: about 1.7 times the files (a million
 * blobs: 785 MiB of metadata and its log, 1,180 MiB once loaded, 1,309 MiB at the peak of listing them
 * all; bench/storage.js), plus the process itself.
 */
export function storageMemoryBytes(metadataBytes: number): number {
  return 1.7 * metadataBytes + 100 * 2 ** 20;
}

/**
 * Bytes of Azurite's metadata files and their write-ahead logs in the folder, which the storage
 * process loads before it serves.
 */
function metadataSize(folder: string): number {
  try {
    return fs
      .readdirSync(folder)
      .filter((name) => /^__.*\.json(\.log)?$/.test(name))
      .reduce((total, name) => total + fs.statSync(path.join(folder, name)).size, 0);
  } catch {
    return 0;
  }
}

/**
 * How long the storage process may take to start: Azurite loads every blob's metadata first (7 s for
 * the 785 MiB of a million blobs on a 2-core machine, 65 s before its blob store was patched before its
 * first listing), so the budget grows with it: 30 s, plus 30 s per 100 MiB, room for a slow disk.
 */
export function storageStartBudgetMs(metadataBytes: number): number {
  return 30_000 + Math.ceil((metadataBytes / (100 * 2 ** 20)) * 30_000);
}
