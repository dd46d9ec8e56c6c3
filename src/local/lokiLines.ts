import fs from 'node:fs';
import readline from 'node:readline';

/**
 * A lokijs persistence adapter ("reference" mode) that saves a database as lines: a marker, the database
 * without its documents, then one line per document. lokijs' own file adapter serializes the whole
 * database into one string first, so every save (Azurite saves every 5 s) briefly holds the whole
 * file in memory: 199 MB at 230,000 blobs. Here the lines go to the file
 * in 1 MiB chunks. The file is written beside and renamed over the old one, as lokijs does, so a process
 * killed mid-save leaves the previous save intact. Files in lokijs' own format still load.
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
interface SerializedDb {
  collections: { data: unknown[] }[];
}

export class LokiLinesAdapter {
  readonly mode = 'reference';

  /** `copy` is lokijs' shallow copy of the database: its collections may be emptied here. */
  exportDatabase(file: string, copy: LokiLike, callback: (error: Error | null) => void): void {
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
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(temporary, file);
      callback(null);
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd);
      callback(error as Error);
    }
  }

  /** Answers the database as an object (this format), a string (lokijs' format) or null (no file). */
  loadDatabase(file: string, callback: (value: unknown) => void): void {
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
      db.collections[Number(line.slice(0, tab))]?.data.push(JSON.parse(line.slice(tab + 1)));
    };
    lines.once('close', () => {
      if (failed) callback(failed);
      else if (legacy) callback(fs.readFileSync(file, 'utf8'));
      else callback(db ?? new Error(`${file} is incomplete`));
    });
    lines.once('error', (error) => callback(error));
  }
}
