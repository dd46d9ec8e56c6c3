import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { startAzurite } from '../../../src/storage/azurite';

let containers = 0;
/** A container name not used before in this file (each test has an Azurite of its own). */
const uniqueContainer = (prefix = 'test'): string => `${prefix}-${(containers += 1)}`;

describe('in-process Azurite', () => {
  it('round-trips a blob and a queue message on free ports', async () => {
    const azurite = await startAzurite();
    try {
      expect(azurite.blobEndpoint).not.toContain(':10000');
      const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
      const container = blobs.getContainerClient(uniqueContainer());
      await container.create();
      await container.getBlockBlobClient('a.txt').upload('hello', 5);
      const body = await container.getBlobClient('a.txt').downloadToBuffer();
      expect(body.toString()).toBe('hello');

      const queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
      const queue = queues.getQueueClient(uniqueContainer('q'));
      await queue.create();
      await queue.sendMessage('ping');
      const received = await queue.receiveMessages();
      expect(received.receivedMessageItems[0]?.messageText).toBe('ping');
    } finally {
      await azurite.stop();
    }
  });

  it('looks blobs and blocks up by name without mixing up equal names in other containers or blobs', async () => {
    // Point lookups go through the name index first (lookUpBlobsByName); the answers must stay exact.
    const azurite = await startAzurite();
    try {
      const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
      const [first, second] = [uniqueContainer(), uniqueContainer()].map((name) =>
        blobs.getContainerClient(name),
      );
      await first!.create();
      await second!.create();
      await first!.getBlockBlobClient('same.txt').upload('first', 5);
      await second!.getBlockBlobClient('same.txt').upload('second', 6);
      await first!.getBlockBlobClient('same.txt').upload('first again', 11);
      expect((await first!.getBlobClient('same.txt').downloadToBuffer()).toString()).toBe('first again');
      expect((await second!.getBlobClient('same.txt').downloadToBuffer()).toString()).toBe('second');

      // The same block ids staged on two blobs of one container, and on a blob of the same name elsewhere.
      const id = (n: number) => Buffer.from(`block-${n}`).toString('base64');
      const targets = [
        first!.getBlockBlobClient('a.txt'),
        first!.getBlockBlobClient('b.txt'),
        second!.getBlockBlobClient('a.txt'),
      ];
      for (const [t, target] of targets.entries()) {
        for (const n of [0, 1, 2]) await target.stageBlock(id(n), Buffer.from(`${t}${n};`), 3);
      }
      // Staging an id again replaces that blob's block only; an id of another length is refused, as in Azure.
      await targets[2]!.stageBlock(id(1), Buffer.from('2x;'), 3);
      await expect(
        targets[1]!.stageBlock(Buffer.from('block-10').toString('base64'), Buffer.from('no'), 2),
      ).rejects.toMatchObject({ statusCode: 400 });
      await targets[0]!.commitBlockList([id(2), id(0)]);
      await targets[1]!.commitBlockList([id(1)]);
      await targets[2]!.commitBlockList([id(0), id(1), id(2)]);
      const texts = await Promise.all(
        targets.map(async (target) => (await target.downloadToBuffer()).toString()),
      );
      expect(texts).toEqual(['02;00;', '11;', '20;2x;22;']);
      const listed = await targets[0]!.getBlockList('all');
      expect(listed.committedBlocks?.map((block) => block.name)).toEqual([id(2), id(0)]);
    } finally {
      await azurite.stop();
    }
  });

  it('lists pages through the name index exactly as a sorted scan would', async () => {
    // listBlobs walks the name index from the prefix or marker (azuriteListing.ts); the pages must be
    // the service's: only this container, only committed blobs without snapshots, `_` and `%` literal.
    const azurite = await startAzurite();
    try {
      const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
      const [listed, other] = [uniqueContainer(), uniqueContainer()].map((name) =>
        blobs.getContainerClient(name),
      );
      await listed!.create();
      await other!.create();
      const names = [
        ...Array.from({ length: 30 }, (_, i) => `in/a_${String(i).padStart(2, '0')}.txt`),
        ...Array.from({ length: 5 }, (_, i) => `in/a%${i}.txt`),
        'in/ab.txt',
        'in/sub/x.txt',
        'in/sub/y.txt',
        'in0.txt',
        'im.txt',
        'in',
      ];
      for (const name of names) await listed!.getBlockBlobClient(name).upload(name, name.length);
      for (const name of names.slice(0, 10)) await other!.getBlockBlobClient(name).upload('x', 1);
      await other!.getBlockBlobClient('in/a_99.txt').upload('x', 1);
      await listed!.getBlockBlobClient('in/a_00.txt').createSnapshot();
      await listed!.getBlockBlobClient('in/uncommitted.txt').stageBlock('YQ==', 'a', 1);

      const sorted = (list: string[]): string[] => [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const flat = async (prefix: string, pageSize: number): Promise<string[][]> => {
        const pages: string[][] = [];
        for await (const page of listed!.listBlobsFlat({ prefix }).byPage({ maxPageSize: pageSize }))
          pages.push(page.segment.blobItems.map((item) => item.name));
        return pages;
      };
      const inA = sorted(names.filter((name) => name.startsWith('in/a_')));
      const pages = await flat('in/a_', 7);
      expect(pages.map((page) => page.length)).toEqual([7, 7, 7, 7, 2]);
      expect(pages.flat()).toEqual(inA);
      expect((await flat('in', 1000)).flat()).toEqual(sorted(names.filter((name) => name.startsWith('in'))));
      expect((await flat('', 4)).flat()).toEqual(sorted(names));
      expect((await flat('in/a%', 2)).flat()).toEqual(
        sorted(names.filter((name) => name.startsWith('in/a%'))),
      );
      expect(await flat('nothing/', 5)).toEqual([[]]);

      const levels: string[] = [];
      for await (const page of listed!
        .listBlobsByHierarchy('/', { prefix: 'in/' })
        .byPage({ maxPageSize: 3 })) {
        levels.push(...(page.segment.blobPrefixes ?? []).map((prefix) => `${prefix.name}`));
        levels.push(...page.segment.blobItems.map((item) => item.name));
      }
      expect(sorted(levels)).toEqual(
        sorted([...names.filter((name) => /^in\/[^/]+$/.test(name)), 'in/sub/']),
      );
    } finally {
      await azurite.stop();
    }
  });
});
