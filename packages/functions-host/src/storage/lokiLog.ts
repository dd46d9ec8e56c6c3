import fs from 'node:fs';
import path from 'node:path';

/**
 * The write-ahead log of one lokijs database (Azurite keeps all its metadata in lokijs). lokijs keeps
 * its documents in memory and saves the whole database now and then (Azurite asks every 5 s), so a
 * process killed between two saves forgot every write of the last seconds that it had already
 * acknowledged. Here every insert, update and remove of a document is appended to `<database>.log`
 * as it happens, inside the lokijs call, before Azurite answers; loading replays the log over the last
 * snapshot (lokiLines.ts) with lokijs's own document ids, and each snapshot empties the log.
 *
 * Why this and not Azurite's SQL store on SQLite: measured on this machine (bench/RESULTS.md, "Storage
 * that keeps every acknowledged write"), the SQL store lists 100,000 blobs in 21.9 s (220 s projected
 * for a million, over the 120 s goal), uploads 185 blobs/s against lokijs's 700, and answers 501 for
 * append blobs, which this app's attempt records are. The log keeps lokijs's speed and every feature,
 * and costs one write() per change (3 µs) and one grouped fdatasync per acknowledged request.
 *
 * Records are lines `[collection, op, payload]`: `i` (insert) and `u` (update) carry the document,
 * `d` (remove) its `$loki`. Replaying is idempotent (the last record of an id wins), so a crash
 * between a snapshot's rename and the log's truncation loses nothing.
 */

/** Flushes a folder's entries (a file created in it) to disk. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.promises.open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export type LogRecord = [collection: string, op: 'i' | 'u' | 'd', payload: unknown];

interface LokiDocument {
  $loki: number;
}

/** What lokijs saves of a collection, as far as replaying touches it. */
export interface SerializedCollection {
  name: string;
  data: LokiDocument[];
  maxId?: number;
  binaryIndices?: Record<string, { name: string; dirty: boolean; values: number[] }>;
}
export interface SerializedDatabase {
  collections: SerializedCollection[];
}

/** lokijs's collection, as far as the log listens to it. */
interface LokiCollection {
  name: string;
  binaryIndices: Record<string, { dirty: boolean } | undefined>;
  ensureIndex(property: string, force?: boolean): void;
  on(event: 'insert' | 'update' | 'delete', listener: (document: unknown) => void): void;
}
/** lokijs's database, as far as the log hooks into it. */
export interface LokiDatabase {
  filename: string;
  collections: LokiCollection[];
  persistenceMethod?: string;
  persistenceAdapter?: unknown;
  autosaveDirty(): boolean;
  saveDatabase(callback?: (error?: Error | null) => void): void;
  loadJSONObject(dbObject: unknown, options?: unknown): void;
  addCollection(name: string, options?: unknown): LokiCollection;
  removeCollection(name: string): void;
  close(callback?: (error?: Error | null) => void): void;
}

/**
 * A snapshot is taken once the log passes half the last snapshot's size, and at least 32 MiB: loading
 * then reads at most 1.5 times the data, and each byte of metadata is written about three times.
 * FUNCTIONS_HOST_STORAGE_SNAPSHOT_BYTES sets the log size outright (the tests take snapshots every few
 * writes).
 */
const SNAPSHOT_LOG_SHARE = 0.5;
const SNAPSHOT_LOG_FLOOR_BYTES = 32 * 2 ** 20;
const SNAPSHOT_AFTER_BYTES = Number(process.env.FUNCTIONS_HOST_STORAGE_SNAPSHOT_BYTES) || undefined;

export class MetadataLog {
  readonly file: string;
  private fd: number | undefined;
  /** Bytes in the log now. */
  bytes = 0;
  /** Size of the last snapshot (0 before one is known). */
  snapshotBytes = 0;
  /** Records appended / made durable (fdatasync'ed), counted since the process started. */
  private appended = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;
  /** Called (once until the next snapshot) when the log has grown enough for a snapshot. */
  onFull: () => void = () => undefined;
  private fullSignalled = false;
  /**
   * Folders whose new entries must reach the disk with the records that name them: the log's own
   * (when the log file is new) and, for an extent database, the folder of the extent files (a new
   * extent document means a new file there).
   */
  private readonly folders: string[];
  private foldersToSync = new Set<string>();

  constructor(database: string, newFilesIn?: string) {
    this.file = `${database}.log`;
    this.folders = newFilesIn ? [newFilesIn] : [];
  }

  /** Appends one record with one write(): once it returns, a killed process keeps it (the OS has it). */
  append(record: LogRecord): void {
    const line = `${JSON.stringify(record)}\n`;
    if (this.fd === undefined) {
      if (!fs.existsSync(this.file)) this.foldersToSync.add(path.dirname(this.file));
      this.fd = fs.openSync(this.file, 'a');
    }
    if (record[1] === 'i') for (const folder of this.folders) this.foldersToSync.add(folder);
    fs.writeSync(this.fd, line);
    this.bytes += Buffer.byteLength(line);
    this.appended += 1;
    if (!this.fullSignalled && this.wantsSnapshot()) {
      this.fullSignalled = true;
      this.onFull();
    }
  }

  /** Resolves once every record appended so far is on disk; concurrent callers share one fdatasync. */
  async durable(): Promise<void> {
    const target = this.appended;
    while (this.synced < target) {
      if (this.fd === undefined) return; // closed: a clean stop wrote the snapshot
      if (!this.syncing) {
        const upTo = this.appended;
        const fd = this.fd;
        const folders = [...this.foldersToSync];
        this.foldersToSync.clear();
        this.syncing = Promise.all([
          new Promise<void>((resolve, reject) =>
            fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())),
          ),
          ...folders.map(syncFolder),
        ])
          .then(() => {
            this.synced = Math.max(this.synced, upTo);
          })
          .finally(() => {
            this.syncing = undefined;
          });
      }
      await this.syncing;
    }
  }

  /**
   * The records of the log, up to a torn last line (a write cut short by a crash, never acknowledged),
   * which is cut off the file: records appended after it would otherwise be lost behind it.
   */
  read(): LogRecord[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const records: LogRecord[] = [];
    let whole = 0;
    for (let start = 0; start < text.length;) {
      const end = text.indexOf('\n', start);
      if (end < 0) break;
      try {
        records.push(JSON.parse(text.slice(start, end)) as LogRecord);
      } catch {
        break;
      }
      start = end + 1;
      whole = start;
    }
    this.bytes = Buffer.byteLength(text.slice(0, whole));
    if (whole < text.length) fs.truncateSync(this.file, this.bytes);
    return records;
  }

  /** After a snapshot that holds every record: empties the log. */
  truncate(snapshotBytes: number): void {
    this.snapshotBytes = snapshotBytes;
    if (this.fd !== undefined) fs.ftruncateSync(this.fd, 0);
    else if (fs.existsSync(this.file)) fs.truncateSync(this.file, 0);
    this.bytes = 0;
    this.fullSignalled = false;
    // The snapshot was fsynced before the log was emptied; new files' folder entries still wait.
    if (this.foldersToSync.size === 0) this.synced = this.appended;
  }

  wantsSnapshot(): boolean {
    const limit =
      SNAPSHOT_AFTER_BYTES ?? Math.max(SNAPSHOT_LOG_FLOOR_BYTES, this.snapshotBytes * SNAPSHOT_LOG_SHARE);
    return this.bytes >= limit;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Applies log records to a loaded snapshot, in place. The last record of a document id wins; a
 * collection whose documents changed gets its binary indices rebuilt by lokijs on first use.
 */
export function replay(database: SerializedDatabase, records: LogRecord[]): void {
  const byName = new Map(database.collections.map((collection) => [collection.name, collection]));
  const changed = new Map<SerializedCollection, Map<number, LokiDocument>>();
  for (const [name, op, payload] of records) {
    const collection = byName.get(name);
    // Collections are only added or removed with a snapshot right after (attachLog), so a record of
    // a collection the snapshot lacks belongs to one removed later.
    if (!collection) continue;
    let documents = changed.get(collection);
    if (!documents) {
      documents = new Map(collection.data.map((document) => [document.$loki, document]));
      changed.set(collection, documents);
    }
    if (op === 'd') {
      documents.delete(payload as number);
    } else {
      const document = payload as LokiDocument;
      documents.set(document.$loki, document);
      collection.maxId = Math.max(collection.maxId ?? 0, document.$loki);
    }
  }
  for (const [collection, documents] of changed) {
    const data = [...documents.values()];
    // lokijs finds documents by id with a binary search over data in id order.
    if (data.some((document, index) => index > 0 && document.$loki < (data[index - 1] as LokiDocument).$loki))
      data.sort((a, b) => a.$loki - b.$loki);
    collection.data = data;
    for (const [key, index] of Object.entries(collection.binaryIndices ?? {}))
      (collection.binaryIndices as Record<string, unknown>)[key] = { ...index, dirty: true, values: [] };
  }
}

/**
 * Rebuilds the binary indices that replaying left to rebuild: lokijs's adaptive indices are never
 * rebuilt on their own (a dirty one would answer nothing).
 */
function rebuildIndices(collection: LokiCollection): void {
  for (const [key, index] of Object.entries(collection.binaryIndices)) {
    if (index?.dirty) collection.ensureIndex(key, true);
  }
}

function listen(collection: LokiCollection, log: MetadataLog): void {
  const name = collection.name;
  collection.on('insert', (inserted) => {
    for (const document of Array.isArray(inserted) ? inserted : [inserted]) log.append([name, 'i', document]);
  });
  collection.on('update', (document) => log.append([name, 'u', document]));
  collection.on('delete', (document) => log.append([name, 'd', (document as LokiDocument).$loki]));
}

/**
 * Makes one lokijs database durable through its log. `adapterFor` makes the adapter that saves and
 * loads the snapshots and replays the log on load (lokiLines.ts), writing a snapshot only when
 * `shouldSave` says so: when the log has grown (not every 5 s, which at a million blobs rewrote 800 MB
 * each time), when a collection is added or removed, and on a clean close.
 */
export function attachLog(
  db: LokiDatabase,
  log: MetadataLog,
  adapterFor: (shouldSave: () => boolean) => unknown,
): void {
  let closing = false;
  let structural = false;
  const shouldSave = (): boolean => log.wantsSnapshot() || structural || (closing && log.bytes > 0);
  db.persistenceMethod = 'adapter';
  db.persistenceAdapter = adapterFor(shouldSave);
  db.autosaveDirty = shouldSave;
  // A snapshot as soon as the log is long enough, after the write that filled it has been answered.
  log.onFull = () =>
    setImmediate(() =>
      db.saveDatabase((error) => {
        // The log keeps every write; the next autosave tries the snapshot again.
        if (error) console.error(`Storage snapshot of ${db.filename} failed: ${error.message}`);
      }),
    );

  const loadJSONObject = db.loadJSONObject.bind(db);
  const addCollection = db.addCollection.bind(db);
  db.loadJSONObject = (dbObject, options) => {
    // lokijs re-creates each collection through addCollection here: no snapshot for those.
    db.addCollection = addCollection;
    loadJSONObject(dbObject, options);
    for (const collection of db.collections) {
      rebuildIndices(collection);
      listen(collection, log);
    }
    db.addCollection = addWithSnapshot;
  };
  const snapshot = (): void => {
    structural = true;
    db.saveDatabase((error) => {
      if (error) throw error;
    });
    structural = false;
  };
  const addWithSnapshot = (name: string, options?: unknown): LokiCollection => {
    const collection = addCollection(name, options);
    listen(collection, log);
    snapshot();
    return collection;
  };
  db.addCollection = addWithSnapshot;
  const removeCollection = db.removeCollection.bind(db);
  db.removeCollection = (name) => {
    removeCollection(name);
    snapshot();
  };
  const close = db.close.bind(db);
  db.close = (callback) => {
    closing = true;
    close((error) => {
      log.close();
      callback?.(error);
    });
  };
}
