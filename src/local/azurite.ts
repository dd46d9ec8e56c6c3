import fs from 'node:fs';
import path from 'node:path';

import { DEV_ACCOUNT, DEV_ACCOUNT_KEY, developmentEndpoints } from './connectionString';
import { LokiLinesAdapter } from './lokiLines';

export { DEV_ACCOUNT, DEV_ACCOUNT_KEY };

export interface AzuriteOptions {
  /** Folder for persisted data; omitted = everything in memory. */
  dataDir?: string;
  host?: string;
  /** 0 (the default) picks free ports. */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
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
interface BlobServerInternals {
  metadataStore?: {
    db?: {
      getCollection(name: string): LokiCollection | null;
      persistenceMethod?: string;
      persistenceAdapter?: unknown;
    };
  };
}

/** The blob metadata (one document per blob and block: the big one) is saved line by line (lokiLines.ts). */
function saveBlobsAsLines(server: AzuriteServer): void {
  const db = (server as BlobServerInternals).metadataStore?.db;
  if (!db) throw new Error('Azurite changed: its blob metadata store was not found');
  db.persistenceMethod = 'adapter';
  db.persistenceAdapter = new LokiLinesAdapter();
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
  const db = (server as BlobServerInternals).metadataStore?.db;
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

/** Blob and queue configurations take the same positional arguments; only names and port differ. */
function extentConfiguration(
  Configuration: ConfigClass,
  placement: ServerPlacement,
  port: number | undefined,
  service: 'blob' | 'queue',
): unknown {
  const { host, at, inMemory } = placement;
  const persistence = [{ locationId: 'Default', locationPath: at(`${service}storage`), maxConcurrency: 1 }];
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
  if (!inMemory) saveBlobsAsLines(blob);
  const servers = [blob, queue, table];
  await Promise.all(servers.map((server) => server.start()));
  lookUpBlobsByName(blob);

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
