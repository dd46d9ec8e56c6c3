import { z } from 'zod';
import { BlobStore } from '../../../src/storage/blobStore';
import {
  StorageContentError,
  StorageNotFoundError,
  StorageTransientError,
  StorageAccessDeniedError,
} from '../../../src/errors';
import { useAzurite, uniqueContainer } from '../../support/azurite';
import type { RunningAzurite } from '@parallel-job/functions-host';

let azurite: RunningAzurite;
let store: BlobStore;

beforeAll(async () => {
  azurite = await useAzurite();
  store = BlobStore.fromConnectionString(azurite.connectionString);
});
afterAll(async () => {
  await azurite.stop();
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('BlobStore against Azurite', () => {
  it('writes, stats, reads whole and ranged, and deletes', async () => {
    const container = uniqueContainer('bs');
    await store.ensureContainer(container);
    await store.ensureContainer(container); // idempotent
    const written = await store.write(container, 'a/b.txt', 'hello world', {
      contentType: 'text/plain',
      metadata: { kind: 'greeting' },
    });
    expect(written.created).toBe(true);
    expect(written.etag).not.toBe('');

    const info = await store.stat(container, 'a/b.txt');
    expect(info).toMatchObject({ name: 'a/b.txt', size: 11, contentType: 'text/plain', etag: written.etag });
    expect(info?.metadata).toEqual({ kind: 'greeting' });
    expect(await store.stat(container, 'a/missing.txt')).toBeUndefined();

    expect(await store.readText(container, 'a/b.txt')).toBe('hello world');
    expect((await store.read(container, 'a/b.txt', { start: 6 })).toString()).toBe('world');
    expect((await store.read(container, 'a/b.txt', { start: 2, end: 5 })).toString()).toBe('llo');
    expect((await store.read(container, 'a/b.txt', { start: 11, end: 20 })).length).toBe(0);
    expect((await store.read(container, 'a/b.txt', { start: 50 })).length).toBe(0);

    const chunks: Buffer[] = [];
    for await (const chunk of await store.stream(container, 'a/b.txt')) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).toString()).toBe('hello world');

    expect(store.url(container, 'a/b.txt')).toBe(`${store.accountUrl}/${container}/a/b.txt`);
    await store.delete(container, 'a/b.txt');
    await store.delete(container, 'a/b.txt'); // missing is fine
    expect(await store.stat(container, 'a/b.txt')).toBeUndefined();
  });

  it('ifNotExists keeps the first write and reports created:false', async () => {
    const container = uniqueContainer('bs');
    await store.ensureContainer(container);
    const first = await store.writeJson(container, 'marker.json', { winner: 1 }, { ifNotExists: true });
    const second = await store.writeJson(container, 'marker.json', { winner: 2 }, { ifNotExists: true });
    expect(first.created).toBe(true);
    expect(second).toEqual({ etag: first.etag, created: false });
    expect(await store.readJson(container, 'marker.json', z.object({ winner: z.number() }))).toEqual({
      winner: 1,
    });
  });

  it('readJson names the blob when the schema does not fit', async () => {
    const container = uniqueContainer('bs');
    await store.ensureContainer(container);
    await store.writeJson(container, 'bad.json', { winner: 'x' });
    await store.write(container, 'notjson.json', '{nope');
    const schema = z.object({ winner: z.number() });
    await expect(store.readJson(container, 'bad.json', schema)).rejects.toThrow(StorageContentError);
    await expect(store.readJson(container, 'bad.json', schema)).rejects.toThrow(/bad\.json.*winner/);
    await expect(store.readJson(container, 'notjson.json', schema)).rejects.toThrow(
      /notjson\.json.*not valid JSON/,
    );
  });

  it('lists in order across service pages, with metadata when asked', async () => {
    const container = uniqueContainer('bs');
    await store.ensureContainer(container);
    const names = Array.from({ length: 12 }, (_, i) => `p/f-${String(i).padStart(2, '0')}.txt`);
    await Promise.all(
      names.map((name, i) => store.write(container, name, 'x'.repeat(i), { metadata: { i: String(i) } })),
    );
    await store.write(container, 'q/other.txt', 'y');

    const pages = await collect(store.listPages(container, 'p/', { pageSize: 5 }));
    expect(pages.map((page) => page.length)).toEqual([5, 5, 2]);
    const listed = await collect(store.list(container, 'p/', { pageSize: 5, includeMetadata: true }));
    expect(listed.map((blob) => blob.name)).toEqual(names);
    expect(listed.map((blob) => blob.size)).toEqual(names.map((_, i) => i));
    expect(listed[3]?.metadata).toEqual({ i: '3' });
  });

  it('stages blocks and commits them in the given order', async () => {
    const container = uniqueContainer('bs');
    await store.ensureContainer(container);
    const id = (n: number): string => Buffer.from(`block-${String(n).padStart(4, '0')}`).toString('base64');
    expect(await store.listBlocks(container, 'out.txt')).toEqual({ committed: [], uncommitted: [] });
    await store.stageBlock(container, 'out.txt', id(2), Buffer.from('two\n'));
    await store.stageBlock(container, 'out.txt', id(1), Buffer.from('one\n'));
    await store.stageBlock(container, 'out.txt', id(1), Buffer.from('ONE\n')); // restaging replaces
    expect((await store.listBlocks(container, 'out.txt')).uncommitted.sort()).toEqual([id(1), id(2)]);
    await store.commitBlocks(container, 'out.txt', [id(1), id(2)], { contentType: 'text/plain' });
    expect(await store.readText(container, 'out.txt')).toBe('ONE\ntwo\n');
    expect(await store.listBlocks(container, 'out.txt')).toEqual({
      committed: [id(1), id(2)],
      uncommitted: [],
    });
  });

  it('turns a missing container into StorageNotFoundError naming it', async () => {
    const container = uniqueContainer('absent');
    await expect(collect(store.list(container, ''))).rejects.toThrow(StorageNotFoundError);
    await expect(store.read(container, 'x.txt')).rejects.toMatchObject({
      code: 'STORAGE_NOT_FOUND',
      container,
      message: expect.stringContaining(container),
    });
    await expect(store.write(container, 'x.txt', 'x')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
  });

  it('turns a bad account key into StorageAccessDeniedError', async () => {
    const container = uniqueContainer('bs');
    await store.ensureContainer(container);
    const wrongKey = azurite.connectionString.replace(
      /AccountKey=[^;]+/,
      `AccountKey=${Buffer.from('wrong').toString('base64')}`,
    );
    const denied = BlobStore.fromConnectionString(wrongKey, { retry: { maxTries: 1 } });
    await expect(denied.read(container, 'x.txt')).rejects.toThrow(StorageAccessDeniedError);
  });

  it('turns an unreachable endpoint into a retryable StorageTransientError', async () => {
    const stopped = await useAzurite();
    const unreachable = BlobStore.fromConnectionString(stopped.connectionString, {
      retry: { maxTries: 1 },
    });
    await stopped.stop();
    const failure = await unreachable.read('any', 'x.txt').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StorageTransientError);
    expect(failure).toMatchObject({ code: 'STORAGE_TRANSIENT', retryable: true });
  });

  it('forAccount returns itself for the same account and a new store for another', () => {
    expect(store.forAccount(`${store.accountUrl}/`)).toBe(store);
    const other = store.forAccount('https://someotheraccount.blob.core.windows.net');
    expect(other).not.toBe(store);
    expect(other.accountUrl).toBe('https://someotheraccount.blob.core.windows.net');
  });
});
