import { z } from 'zod';
import { BlobStore } from '../../../src/storage/blobStore';
import {
  StorageContentError,
  StorageNotFoundError,
  StorageTransientError,
  StorageAccessDeniedError,
} from '../../../src/errors';
import { useAzurite, useAzuriteStore, uniqueContainer } from '../../support/azurite';

const env = useAzuriteStore();

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('BlobStore against Azurite', () => {
  it('writes, stats, reads whole and ranged, and deletes', async () => {
    const container = uniqueContainer('bs');
    await env.store.ensureContainer(container);
    await env.store.ensureContainer(container); // idempotent
    const written = await env.store.write(container, 'a/b.txt', 'hello world', {
      contentType: 'text/plain',
      metadata: { kind: 'greeting' },
    });
    expect(written.created).toBe(true);
    expect(written.etag).not.toBe('');

    const info = await env.store.stat(container, 'a/b.txt');
    expect(info).toMatchObject({ name: 'a/b.txt', size: 11, contentType: 'text/plain', etag: written.etag });
    expect(info?.metadata).toEqual({ kind: 'greeting' });
    expect(await env.store.stat(container, 'a/missing.txt')).toBeUndefined();

    expect(await env.store.readText(container, 'a/b.txt')).toBe('hello world');
    expect((await env.store.read(container, 'a/b.txt', { start: 6 })).toString()).toBe('world');
    expect((await env.store.read(container, 'a/b.txt', { start: 2, end: 5 })).toString()).toBe('llo');
    expect((await env.store.read(container, 'a/b.txt', { start: 11, end: 20 })).length).toBe(0);
    expect((await env.store.read(container, 'a/b.txt', { start: 50 })).length).toBe(0);

    const chunks: Buffer[] = [];
    for await (const chunk of await env.store.stream(container, 'a/b.txt')) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).toString()).toBe('hello world');

    expect(env.store.url(container, 'a/b.txt')).toBe(`${env.store.accountUrl}/${container}/a/b.txt`);
    await env.store.delete(container, 'a/b.txt');
    await env.store.delete(container, 'a/b.txt'); // missing is fine
    expect(await env.store.stat(container, 'a/b.txt')).toBeUndefined();
  });

  it('ifNotExists keeps the first write and reports created:false', async () => {
    const container = uniqueContainer('bs');
    await env.store.ensureContainer(container);
    const first = await env.store.writeJson(container, 'marker.json', { winner: 1 }, { ifNotExists: true });
    const second = await env.store.writeJson(container, 'marker.json', { winner: 2 }, { ifNotExists: true });
    expect(first.created).toBe(true);
    expect(second).toEqual({ etag: first.etag, created: false });
    expect(await env.store.readJson(container, 'marker.json', z.object({ winner: z.number() }))).toEqual({
      winner: 1,
    });
  });

  it('readJson names the blob when the schema does not fit', async () => {
    const container = uniqueContainer('bs');
    await env.store.ensureContainer(container);
    await env.store.writeJson(container, 'bad.json', { winner: 'x' });
    await env.store.write(container, 'notjson.json', '{nope');
    const schema = z.object({ winner: z.number() });
    await expect(env.store.readJson(container, 'bad.json', schema)).rejects.toThrow(StorageContentError);
    await expect(env.store.readJson(container, 'bad.json', schema)).rejects.toThrow(/bad\.json.*winner/);
    await expect(env.store.readJson(container, 'notjson.json', schema)).rejects.toThrow(
      /notjson\.json.*not valid JSON/,
    );
  });

  it('lists in order across service pages, with metadata when asked', async () => {
    const container = uniqueContainer('bs');
    await env.store.ensureContainer(container);
    const names = Array.from({ length: 12 }, (_, i) => `p/f-${String(i).padStart(2, '0')}.txt`);
    await Promise.all(
      names.map((name, i) => env.store.write(container, name, 'x'.repeat(i), { metadata: { i: String(i) } })),
    );
    await env.store.write(container, 'q/other.txt', 'y');

    const pages = await collect(env.store.listPages(container, 'p/', { pageSize: 5 }));
    expect(pages.map((page) => page.length)).toEqual([5, 5, 2]);
    const listed = await collect(env.store.list(container, 'p/', { pageSize: 5, includeMetadata: true }));
    expect(listed.map((blob) => blob.name)).toEqual(names);
    expect(listed.map((blob) => blob.size)).toEqual(names.map((_, i) => i));
    expect(listed[3]?.metadata).toEqual({ i: '3' });
  });

  it('stages blocks and commits them in the given order', async () => {
    const container = uniqueContainer('bs');
    await env.store.ensureContainer(container);
    const id = (n: number): string => Buffer.from(`block-${String(n).padStart(4, '0')}`).toString('base64');
    expect(await env.store.listBlocks(container, 'out.txt')).toEqual({ committed: [], uncommitted: [] });
    await env.store.stageBlock(container, 'out.txt', id(2), Buffer.from('two\n'));
    await env.store.stageBlock(container, 'out.txt', id(1), Buffer.from('one\n'));
    await env.store.stageBlock(container, 'out.txt', id(1), Buffer.from('ONE\n')); // restaging replaces
    expect((await env.store.listBlocks(container, 'out.txt')).uncommitted.sort()).toEqual([id(1), id(2)]);
    await env.store.commitBlocks(container, 'out.txt', [id(1), id(2)], { contentType: 'text/plain' });
    expect(await env.store.readText(container, 'out.txt')).toBe('ONE\ntwo\n');
    expect(await env.store.listBlocks(container, 'out.txt')).toEqual({
      committed: [id(1), id(2)],
      uncommitted: [],
    });
  });

  it('turns a missing container into StorageNotFoundError naming it', async () => {
    const container = uniqueContainer('absent');
    await expect(collect(env.store.list(container, ''))).rejects.toThrow(StorageNotFoundError);
    await expect(env.store.read(container, 'x.txt')).rejects.toMatchObject({
      code: 'STORAGE_NOT_FOUND',
      container,
      message: expect.stringContaining(container),
    });
    await expect(env.store.write(container, 'x.txt', 'x')).rejects.toMatchObject({
      code: 'STORAGE_NOT_FOUND',
    });
  });

  it('turns a bad account key into StorageAccessDeniedError', async () => {
    const container = uniqueContainer('bs');
    await env.store.ensureContainer(container);
    const wrongKey = env.azurite.connectionString.replace(
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
    expect(env.store.forAccount(`${env.store.accountUrl}/`)).toBe(env.store);
    const other = env.store.forAccount('https://someotheraccount.blob.core.windows.net');
    expect(other).not.toBe(env.store);
    expect(other.accountUrl).toBe('https://someotheraccount.blob.core.windows.net');
  });
});
