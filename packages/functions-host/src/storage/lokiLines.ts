import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { replay, type MetadataLog, type SerializedDatabase } from './lokiLog';

/**
 * A lokijs persistence adapter ("reference" mode) that saves a database as lines: a marker, the database
 * without its documents, then one line per document. lokijs' own file adapter serializes the whole
 * database into one string first, so every save (Azurite saves every 5 s) briefly holds the whole
 * file in memory: 199 MB at 230,000 blobs. Here the lines go to the file
 * in 1 MiB chunks. The file is written beside, flushed to disk and renamed over the old one, so a process
 * killed (or a machine that loses power) mid-save leaves the previous save intact. Files in lokijs' own
 * format still load.
 *
 * With a write-ahead log (lokiLog.ts), a save is a snapshot: loading replays the log over it, a save
 * empties the log, and `shouldSave` decides whether a save asked for is worth writing (Azurite asks at
 * every start and every 5 s).
 */

const FORMAT = '{"format":"parallel-job/loki-lines/1"}';
const CHUNK = 1 << 20;

interface LokiCollectionLike {
  data: unknown[];
}
interface LokiLike {
  collections: LokiCollectionLike[];
  serialize(options: { serializationMethod: 'normal' }): string;
}
type SerializedDb = SerializedDatabase;

/** Flushes a folder's entries (a rename) to disk. */
function syncFolder(folder: string): void {
  const fd = fs.openSync(folder, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class LokiLinesAdapter {
  readonly mode = 'reference';

  constructor(
    private readonly log?: MetadataLog,
    private readonly shouldSave: () => boolean = () => true,
  ) {}

  /** `copy` is lokijs' shallow copy of the database: its collections may be emptied here. */
  exportDatabase(file: string, copy: LokiLike, callback: (error: Error | null) => void): void {
    if (!this.shouldSave() && fs.existsSync(file)) {
      callback(null);
      return;
    }
    const temporary = `${file}~`;
    let fd: number | undefined;
    try {
      const documents = copy.collections.map((collection) => collection.data);
      for (const collection of copy.collections) collection.data = [];
      const shell = copy.serialize({ serializationMethod: 'normal' });
      fd = fs.openSync(temporary, 'w');
      let chunk = `${FORMAT}\n${shell}\n`;
      documents.forEach((docs, index) => {
        for (const doc of docs) {
          chunk += `${index}\t${JSON.stringify(doc)}\n`;
          if (chunk.length >= CHUNK) {
            fs.writeSync(fd as number, chunk);
            chunk = '';
          }
        }
      });
      fs.writeSync(fd, chunk);
      fs.fsyncSync(fd);
      const size = fs.fstatSync(fd).size;
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(temporary, file);
      syncFolder(path.dirname(file));
      // Only now that the snapshot is on disk may the log it holds go.
      this.log?.truncate(size);
      callback(null);
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd);
      callback(error as Error);
    }
  }

  /**
   * Answers the database as an object (this format, or lokijs' with log records replayed), a string
   * (lokijs' format) or null (no file).
   */
  loadDatabase(file: string, callback: (value: unknown) => void): void {
    this.readSnapshot(file, (value) => {
      if (value === null || value instanceof Error || !this.log) {
        callback(value);
        return;
      }
      try {
        this.log.snapshotBytes = fs.statSync(file).size;
        const records = this.log.read();
        if (records.length === 0) {
          callback(value);
          return;
        }
        const db = (typeof value === 'string' ? JSON.parse(value) : value) as SerializedDb;
        replay(db, records);
        callback(db);
      } catch (error) {
        callback(error);
      }
    });
  }

  private readSnapshot(file: string, callback: (value: unknown) => void): void {
    if (!fs.existsSync(file)) {
      callback(null);
      return;
    }
    const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let first: string | undefined;
    let db: SerializedDb | undefined;
    let legacy = false;
    let failed: Error | undefined;
    lines.on('line', (line) => {
      if (legacy || failed) return;
      try {
        readLine(line);
      } catch (error) {
        failed = error as Error;
        lines.close();
      }
    });
    const readLine = (line: string): void => {
      if (first === undefined) {
        first = line;
        if (line !== FORMAT) {
          legacy = true;
          lines.close();
        }
        return;
      }
      if (!db) {
        db = JSON.parse(line) as SerializedDb;
        return;
      }
      if (line === '') return;
      const tab = line.indexOf('\t');
      db.collections[Number(line.slice(0, tab))]?.data.push(
        JSON.parse(line.slice(tab + 1)) as { $loki: number },
      );
    };
    lines.once('close', () => {
      if (failed) callback(failed);
      else if (legacy) callback(fs.readFileSync(file, 'utf8'));
      else callback(db ?? new Error(`${file} is incomplete`));
    });
    lines.once('error', (error) => callback(error));
  }
}
