import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LokiLinesAdapter } from '../../../src/local/lokiLines';

// The persisted storage saves Azurite's blob metadata with LokiLinesAdapter: what it saves loads back
// the same, and a file in lokijs' own format (folders written before it) still loads.

interface Collection {
  insert(doc: object): void;
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
