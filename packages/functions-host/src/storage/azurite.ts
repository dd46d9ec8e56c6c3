import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform, pipeline } from 'node:stream';

import { listBlobsByNameIndex, type BlobCollection, type ListingStore } from './azuriteListing';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY, developmentEndpoints } from './connectionString';
import { LocalHostError } from '../errors';
import { LokiLinesAdapter } from './lokiLines';
import { attachLog, MetadataLog, type LokiDatabase } from './lokiLog';

export { DEV_ACCOUNT, DEV_ACCOUNT_KEY };

/**
 * The versions whose internals this file, azuriteListing.ts, lokiLog.ts and lokiLines.ts were written
 * against (their stores, collections, events and save hooks are no public contract); package.json pins
 * both exactly, and a unit test keeps the pins and these equal.
 */
export const PATCHED_VERSIONS = { azurite: '3.35.0', lokijs: '1.5.12' } as const;

/** Refuses to serve on other versions: a store that silently stopped logging would lose writes. */
export function checkPatchedVersions(
  installed: (name: keyof typeof PATCHED_VERSIONS) => string = (name) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(`${name}/package.json`) as { version: string }).version,
): void {
  for (const name of Object.keys(PATCHED_VERSIONS) as (keyof typeof PATCHED_VERSIONS)[]) {
    const version = installed(name);
    if (version !== PATCHED_VERSIONS[name])
      throw new LocalHostError(
        'STORAGE_VERSION',
        `The local storage runs on ${name} ${PATCHED_VERSIONS[name]}, but ${name} ${version} is installed. ` +
          `Run npm ci in the app that depends on @parallel-job/functions-host to install the pinned version.`,
      );
  }
}

export interface AzuriteOptions {
  /** Folder for persisted data; omitted = everything in memory. */
  dataDir?: string;
  host?: string;
  /** 0 (the default) picks free ports. */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  /**
   * With `dataDir`: answer a write only once its metadata log is on disk (fdatasync, grouped across
   * concurrent requests), so that it survives a power loss and not only a killed process. Default true.
   */
  syncWrites?: boolean;
}

export interface RunningAzurite {
  connectionString: string;
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  stop(): Promise<void>;
}

interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
}
type ServerClass = new (config: unknown) => AzuriteServer;
type ConfigClass = new (...args: unknown[]) => unknown;

/** The part of Azurite's lokijs blob store that point lookups go through. */
interface LokiCollection {
  findOne(query: unknown): unknown;
}
interface MetadataStore {
  db: LokiDatabase & { getCollection(name: string): LokiCollection | null };
  init(): Promise<void>;
}
/** What Azurite's blob, queue and table servers hold: their lokijs stores. */
interface ServerInternals {
  metadataStore?: MetadataStore;
  extentMetadataStore?: MetadataStore;
}

/**
 * Every lokijs database of the servers (blob and queue metadata and extents, tables) gets a write-ahead
 * log (lokiLog.ts) and saves its snapshots line by line (lokiLines.ts). With `syncWrites`, each call of
 * a metadata store (blob, queue, table) waits, before it returns and hence before Azurite answers, until
 * every log is on disk: the extents' logs too, whose records the blob's record points to. Blob contents
 * are already fdatasync'ed by Azurite's extent store before their metadata is written.
 */
function logEveryWrite(
  servers: AzuriteServer[],
  extentFolders: Map<AzuriteServer, string>,
  syncWrites: boolean,
): void {
  const logs: MetadataLog[] = [];
  for (const server of servers) {
    const { metadataStore, extentMetadataStore } = server as ServerInternals;
    for (const store of [metadataStore, extentMetadataStore]) {
      if (!store) continue;
      // A new extent document is a new extent file: its folder entry must reach the disk too.
      const newFilesIn = store === extentMetadataStore ? extentFolders.get(server) : undefined;
      const log = new MetadataLog(store.db.filename, newFilesIn);
      attachLog(store.db, log, (shouldSave) => new LokiLinesAdapter(log, shouldSave));
      logs.push(log);
    }
  }
  if (!syncWrites) return;
  const everyLogDurable = async (): Promise<void> => {
    await Promise.all(logs.map((log) => log.durable()));
  };
  for (const server of servers) {
    const store = (server as ServerInternals).metadataStore;
    if (store) waitForDurableWrites(store, everyLogDurable);
  }
}

/** Wraps the store's async methods (its whole interface) to return once their writes are on disk. */
function waitForDurableWrites(store: MetadataStore, durable: () => Promise<void>): void {
  const methods = store as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(store))) {
    const method = methods[name];
    if (typeof method !== 'function' || method.constructor.name !== 'AsyncFunction') continue;
    if (name === 'init' || name === 'close' || name === 'clean') continue;
    const call = method as (...args: unknown[]) => Promise<unknown>;
    methods[name] = async (...args: unknown[]) => {
      const result = await call.apply(store, args);
      await durable();
      return result;
    };
  }
}

/**
 * Azurite indexes its blob and block collections by accountName first, and lokijs narrows an AND query
 * through its first clause only, so every point lookup (each blob write, each staged block) scanned every
 * blob of the account: writes slowed down linearly as the store filled (12 ms each at 20,000 blobs here,
 * against 1.4 ms). Two changes, to findOne only (its answer is one document, the first in index order):
 * - ask by the most selective indexed field: a block's id, else its blob's name; a blob's name;
 * - take the first document of that index range and check the other clauses on it, because lokijs's AND
 *   drops findOne's "first only" and would still filter every block of the blob (each staged block of an
 *   output blob that already held n cost O(n)). When that first document does not match (another
 *   container's blob of the same name), the whole query runs as before.
 */
function lookUpBlobsByName(server: AzuriteServer): void {
  const db = (server as ServerInternals).metadataStore?.db;
  const selectiveFirst: Array<[string, string[]]> = [
    ['$BLOBS_COLLECTION$', ['name']],
    ['$BLOCKS_COLLECTION$', ['name', 'blobName']],
  ];
  for (const [name, keys] of selectiveFirst) {
    const collection = db?.getCollection(name);
    if (!collection) continue;
    const findOne = collection.findOne.bind(collection);
    collection.findOne = (query: unknown) => {
      if (typeof query !== 'object' || query === null) return findOne(query);
      const clauses = query as Record<string, unknown>;
      const key = keys.find((candidate) => typeof clauses[candidate] === 'string');
      if (!key) return findOne(query);
      const first = findOne({ [key]: clauses[key] });
      if (first === null || matchesEveryClause(first, clauses)) return first;
      return findOne({ [key]: clauses[key], ...clauses });
    };
  }
}

/** Runs `patch` once the blob metadata store has loaded its collections. */
function afterInit(server: AzuriteServer, patch: () => void): void {
  const store = (server as ServerInternals).metadataStore;
  if (!store) throw new Error('Azurite changed: its blob metadata store was not found');
  const init = store.init.bind(store);
  store.init = async () => {
    await init();
    patch();
  };
}

/**
 * Lists blobs through the name index (azuriteListing.ts). The indices on account, container and
 * snapshot go: nearly every document shares their values, so no query gains from them, while lokijs
 * kept each sorted on every insert and remove (an array splice over every blob of the store).
 */
function listByNameIndex(server: AzuriteServer): void {
  const store = (server as ServerInternals).metadataStore;
  const collection = (name: string): BlobCollection | undefined =>
    (store?.db.getCollection(name) ?? undefined) as BlobCollection | undefined;
  const blobs = collection('$BLOBS_COLLECTION$');
  if (!store || !blobs) throw new Error('Azurite changed: its blob metadata store was not found');
  for (const [name, unused] of [
    ['$BLOBS_COLLECTION$', ['accountName', 'containerName', 'snapshot']],
    ['$BLOCKS_COLLECTION$', ['accountName', 'containerName']],
  ] as const) {
    const indices = collection(name)?.binaryIndices;
    for (const key of unused) if (indices) delete indices[key];
  }
  listBlobsByNameIndex(store as unknown as ListingStore, blobs, load('blob/persistence/PageWithDelimiter'), {
    createLeaseState: (adapter, context) =>
      load<{ createLeaseState(adapter: unknown, context: unknown): { sync(syncer: unknown): never } }>(
        'blob/lease/LeaseFactory',
      ).createLeaseState(adapter, context),
    Adapter: load('blob/lease/BlobLeaseAdapter'),
    Syncer: load('blob/lease/BlobLeaseSyncer'),
  });
}

interface ExtentChunk {
  id: string;
  offset: number;
  count: number;
}
interface ExtentStore {
  appendExtent(data: Buffer | NodeJS.ReadableStream, contextId?: string): Promise<ExtentChunk>;
  readExtent(chunk: ExtentChunk | undefined, contextId?: string): Promise<NodeJS.ReadableStream>;
}

/** Appends up to this size are kept in memory for the read that follows them. */
const RECENT_APPEND_BYTES = 64 * 1024;
const RECENT_APPENDS = 256;

/**
 * Azurite's Put Blob writes the body to an extent file, then opens that file again and reads the body
 * back to compute its MD5 (an open, a read and a close per upload: a tenth of the storage's time for
 * small files). The last few small appends are kept in memory, and a read of exactly such an extent
 * range is answered from there. Extents are append-only: the bytes at a range never change.
 */
function readBackRecentAppends(server: AzuriteServer): void {
  const store = (server as { extentStore?: ExtentStore }).extentStore;
  if (!store) throw new Error('Azurite changed: its extent store was not found');
  const recent = new Map<string, Buffer>();
  const keyOf = (chunk: ExtentChunk): string => `${chunk.id}:${chunk.offset}:${chunk.count}`;
  const appendExtent = store.appendExtent.bind(store);
  const readExtent = store.readExtent.bind(store);
  store.appendExtent = async (data, contextId) => {
    let kept: Buffer[] | undefined = [];
    let size = 0;
    let body: Buffer | NodeJS.ReadableStream = data;
    if (Buffer.isBuffer(data)) {
      kept = data.length <= RECENT_APPEND_BYTES ? [data] : undefined;
    } else {
      const tee = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (kept && size <= RECENT_APPEND_BYTES) kept.push(chunk);
          else kept = undefined;
          done(null, chunk);
        },
      });
      pipeline(data as Readable, tee, () => undefined); // an error of the body reaches the append
      body = tee;
    }
    const chunk = await appendExtent(body, contextId);
    const whole = kept && Buffer.concat(kept);
    if (whole && whole.length === chunk.count && chunk.count > 0) {
      recent.set(keyOf(chunk), whole);
      if (recent.size > RECENT_APPENDS) recent.delete(recent.keys().next().value as string);
    }
    return chunk;
  };
  store.readExtent = (chunk, contextId) => {
    const cached = chunk && recent.get(keyOf(chunk));
    if (!cached) return readExtent(chunk, contextId);
    recent.delete(keyOf(chunk));
    return Promise.resolve(Readable.from([cached]));
  };
}

/** True when every clause is a plain value equal to the document's field (lokijs's shorthand $eq). */
function matchesEveryClause(document: unknown, clauses: Record<string, unknown>): boolean {
  const fields = document as Record<string, unknown>;
  return Object.entries(clauses).every(
    ([field, value]) => (value === null || typeof value !== 'object') && fields[field] === value,
  );
}

// The package's main entry is the VS Code extension, so the servers are reached by their deep paths.
function load<T>(modulePath: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(`azurite/dist/src/${modulePath}`) as { default: T }).default;
}

/** Where the servers listen and keep their files (nowhere when in memory). */
interface ServerPlacement {
  host: string;
  at: (name: string) => string;
  inMemory: boolean;
}

/**
 * The arguments every Azurite configuration ends with, in its constructor's order: accept loose
 * requests, skip the API version check, no certificate (cert, key, password), no OAuth, product-style
 * URLs allowed, and whether to keep everything in memory.
 */
function sharedTail(inMemory: boolean): unknown[] {
  const loose = true;
  const skipApiVersionCheck = true;
  return [loose, skipApiVersionCheck, '', '', '', undefined, false, inMemory];
}

const EXTENT_WRITERS = 16;

/** Blob and queue configurations take the same positional arguments; only names and port differ. */
function extentConfiguration(
  Configuration: ConfigClass,
  placement: ServerPlacement,
  port: number | undefined,
  service: 'blob' | 'queue',
): unknown {
  const { host, at, inMemory } = placement;
  // Blob contents go to this many extent files at a time: each append waits for its fdatasync, and
  // one file at a time held uploads to about 450/s.
  const persistence = [
    { locationId: 'Default', locationPath: at(`${service}storage`), maxConcurrency: EXTENT_WRITERS },
  ];
  const databases = [at(`__${service}__.json`), at(`__${service}_extent__.json`)];
  const accessAndDebugLogsOff = [false, undefined, false, undefined];
  const keepAliveTimeout = undefined;
  return new Configuration(
    host,
    port ?? 0,
    keepAliveTimeout,
    ...databases,
    persistence,
    ...accessAndDebugLogsOff,
    ...sharedTail(inMemory),
  );
}

function tableConfiguration(
  Configuration: ConfigClass,
  placement: ServerPlacement,
  port: number | undefined,
): unknown {
  const { host, at, inMemory } = placement;
  const debugAndAccessLogsOff = [false, false, undefined, undefined];
  const keepAliveTimeout = undefined;
  return new Configuration(
    host,
    port ?? 0,
    keepAliveTimeout,
    at('__table__.json'),
    ...debugAndAccessLogsOff,
    ...sharedTail(inMemory),
  );
}

/**
 * Starts Azurite's blob, queue and table servers inside this process and returns a connection string
 * that points at them. Nothing is written to disk unless `dataDir` is given.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  checkPatchedVersions();
  const dir = options.dataDir;
  const inMemory = dir === undefined;
  const placement: ServerPlacement = {
    host: options.host ?? '127.0.0.1',
    at: (name) => path.join(dir ?? '.', name),
    inMemory,
  };
  // Azurite's metadata files are saved as `<name>~` and renamed: the folder must exist first.
  if (dir !== undefined) fs.mkdirSync(dir, { recursive: true });

  const BlobServer = load<ServerClass>('blob/BlobServer');
  const BlobConfiguration = load<ConfigClass>('blob/BlobConfiguration');
  const QueueServer = load<ServerClass>('queue/QueueServer');
  const QueueConfiguration = load<ConfigClass>('queue/QueueConfiguration');
  const TableServer = load<ServerClass>('table/TableServer');
  const TableConfiguration = load<ConfigClass>('table/TableConfiguration');
  const blob = new BlobServer(extentConfiguration(BlobConfiguration, placement, options.blobPort, 'blob'));
  const queue = new QueueServer(
    extentConfiguration(QueueConfiguration, placement, options.queuePort, 'queue'),
  );
  const table = new TableServer(tableConfiguration(TableConfiguration, placement, options.tablePort));
  const servers = [blob, queue, table];
  const extentFolders = new Map([
    [blob, placement.at('blobstorage')],
    [queue, placement.at('queuestorage')],
  ]);
  if (!inMemory) logEveryWrite(servers, extentFolders, options.syncWrites ?? true);
  // Before Azurite's garbage collector (started right after the stores) lists every blob, and before
  // the server listens.
  afterInit(blob, () => {
    lookUpBlobsByName(blob);
    listByNameIndex(blob);
  });
  if (!inMemory) readBackRecentAppends(blob);
  await Promise.all(servers.map((server) => server.start()));

  return {
    ...developmentEndpoints({
      blob: blob.getHttpServerAddress(),
      queue: queue.getHttpServerAddress(),
      table: table.getHttpServerAddress(),
    }),
    async stop() {
      await Promise.all(servers.map((server) => server.close()));
      if (inMemory) await Promise.all(servers.map((server) => server.clean()));
    },
  };
}
