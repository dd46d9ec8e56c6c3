import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LokiLinesAdapter } from '../../../src/storage/lokiLines';
import { attachLog, MetadataLog, type LokiDatabase } from '../../../src/storage/lokiLog';

// The persisted storage saves Azurite's metadata with LokiLinesAdapter: what it saves loads back
// the same, and a file in lokijs' own format (folders written before it) still loads. With its
// write-ahead log (lokiLog.ts), every change since the last snapshot loads back too.

interface Collection {
  insert(doc: object): Record<string, unknown>;
  update(doc: object): void;
  remove(doc: object): void;
  findOne(query: object): Record<string, unknown> | null;
  find(query?: object): Record<string, unknown>[];
}
interface Db {
  addCollection(name: string, options?: { indices?: string[] }): Collection;
  getCollection(name: string): Collection | null;
  saveDatabase(callback: (error?: Error | null) => void): void;
  loadDatabase(options: object, callback: (error?: Error | null) => void): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Loki = require('lokijs') as new (file: string, options?: object) => Db;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'loki-lines-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const save = (db: Db): Promise<void> =>
  new Promise((resolve, reject) => db.saveDatabase((error) => (error ? reject(error) : resolve())));
const load = (db: Db): Promise<void> =>
  new Promise((resolve, reject) => db.loadDatabase({}, (error) => (error ? reject(error) : resolve())));

function fill(db: Db): void {
  const blobs = db.addCollection('blobs', { indices: ['name'] });
  for (let i = 0; i < 2500; i += 1)
    blobs.insert({ name: `b-${i}`, text: `line\twith tab ${i}\nand newline`, md5: Buffer.from([i % 256]) });
  db.addCollection('empty');
}

const names = (db: Db): unknown[] =>
  (db.getCollection('blobs')?.find() ?? []).map(({ name, text, md5, $loki }) => ({ name, text, md5, $loki }));

it('loads what it saved, line by line', async () => {
  const file = path.join(dir, 'db.json');
  const written = new Loki(file, { adapter: new LokiLinesAdapter() });
  fill(written);
  await save(written);
  const text = readFileSync(file, 'utf8').split('\n');
  expect(text[0]).toBe('{"format":"parallel-job/loki-lines/1"}');
  expect(text.length).toBeGreaterThan(2500);

  const read = new Loki(file, { adapter: new LokiLinesAdapter() });
  await load(read);
  expect(names(read)).toEqual(JSON.parse(JSON.stringify(names(written))));
  expect(read.getCollection('empty')).not.toBeNull();
  expect(read.getCollection('blobs')?.find({ name: 'b-2499' })).toHaveLength(1);
});

it("loads a file in lokijs' own format", async () => {
  const file = path.join(dir, 'legacy.json');
  const written = new Loki(file, { persistenceMethod: 'fs' });
  fill(written);
  await save(written);
  expect(readFileSync(file, 'utf8').startsWith('{"filename"')).toBe(true);

  const read = new Loki(file, { adapter: new LokiLinesAdapter() });
  await load(read);
  expect(names(read)).toEqual(JSON.parse(JSON.stringify(names(written))));
});

/** A database as the storage opens it: snapshots line by line, every change logged. */
function logged(file: string): { db: Db; log: MetadataLog } {
  const db = new Loki(file, { autosave: false });
  const log = new MetadataLog(file);
  attachLog(db as unknown as LokiDatabase, log, (shouldSave) => new LokiLinesAdapter(log, shouldSave));
  return { db, log };
}

describe('with the write-ahead log', () => {
  it('loads every change made after the last snapshot, with the same ids and working indices', async () => {
    const file = path.join(dir, 'logged.json');
    const { db } = logged(file);
    fill(db);
    await save(db); // a snapshot: the log is emptied
    expect(statSync(`${file}.log`, { throwIfNoEntry: false })?.size ?? 0).toBe(0);
    const blobs = db.getCollection('blobs') as Collection;
    const changed = blobs.findOne({ name: 'b-10' }) as Record<string, unknown>;
    changed.text = 'changed';
    blobs.update(changed);
    blobs.remove(blobs.findOne({ name: 'b-11' }) as object);
    blobs.insert({ name: 'after-snapshot', text: 'new', md5: Buffer.from([1]) });
    // Killed here: no save. The next process loads the snapshot and replays the log.
    const { db: read } = logged(file);
    await load(read);
    expect(names(read)).toEqual(JSON.parse(JSON.stringify(names(db))));
    const reread = read.getCollection('blobs') as Collection;
    expect(reread.findOne({ name: 'b-10' })?.text).toBe('changed');
    expect(reread.findOne({ name: 'b-11' })).toBeNull();
    expect(reread.find({ name: 'after-snapshot' })).toHaveLength(1);
    expect(reread.insert({ name: 'next' }).$loki).toBe(2502);
  });

  it('replays a log over a snapshot that already holds it (killed between the two), and skips a torn line', async () => {
    const file = path.join(dir, 'twice.json');
    const { db } = logged(file);
    fill(db);
    await save(db);
    const blobs = db.getCollection('blobs') as Collection;
    blobs.insert({ name: 'x', text: 'one' });
    const x = blobs.findOne({ name: 'x' }) as Record<string, unknown>;
    x.text = 'two';
    blobs.update(x);
    blobs.remove(blobs.findOne({ name: 'b-0' }) as object);
    const log = readFileSync(`${file}.log`);
    db.addCollection('added'); // a snapshot (a collection was added), and the log emptied
    expect(statSync(`${file}.log`).size).toBe(0);
    // The log as it was before the snapshot emptied it, plus a write cut off mid-line.
    appendFileSync(`${file}.log`, Buffer.concat([log, Buffer.from('["blobs","i",{"name":"to')]));
    const { db: read } = logged(file);
    await load(read);
    const reread = read.getCollection('blobs') as Collection;
    expect(reread.find({ name: 'x' }).map((doc) => doc.text)).toEqual(['two']);
    expect(reread.findOne({ name: 'b-0' })).toBeNull();
    expect(reread.find()).toHaveLength(2500);

    // The torn line was cut off: what is written after it loads too.
    reread.insert({ name: 'after the torn line' });
    const { db: third } = logged(file);
    await load(third);
    expect((third.getCollection('blobs') as Collection).find({ name: 'after the torn line' })).toHaveLength(
      1,
    );
  });
});
