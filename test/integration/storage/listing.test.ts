import { blobPathProblem } from '../../../src/storage/access';
import fc from 'fast-check';
import {
  BlobServiceClient,
  generateBlobSASQueryParameters,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { BlobStore } from '../../../src/storage/blobStore';
import { parseListing } from '../../../src/storage/listing';
import { StorageAccessDeniedError } from '../../../src/errors';
import { useAzuriteStore, uniqueContainer } from '../../support/azurite';

const env = useAzuriteStore();
let service: BlobServiceClient;

beforeAll(() => {
  service = BlobServiceClient.fromConnectionString(env.azurite.connectionString);
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** What the SDK's own listing reports, in the store's shape: the reference the fast listing must match. */
async function sdkListing(container: string, prefix: string) {
  const out = [];
  for await (const item of service
    .getContainerClient(container)
    .listBlobsFlat({ prefix, includeMetadata: true })) {
    out.push({
      name: item.name,
      size: item.properties.contentLength,
      etag: item.properties.etag,
      lastModified: item.properties.lastModified,
      contentType: item.properties.contentType,
      metadata: item.metadata,
    });
  }
  return out;
}

// Names with what XML escapes, spaces, multi-byte text and characters that sort around the ASCII range.
const nameChar = fc.constantFrom(...Array.from('aZ09-_.~ &<>"\'()+,;=@!é漢😀ü/'));
const blobName = fc
  .array(nameChar, { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(''))
  .filter(
    (name) =>
      !name.startsWith('/') &&
      !name.endsWith('/') &&
      !name.includes('//') &&
      !name.endsWith('.') &&
      // The store refuses `.` and `..` segments (storage would resolve them into another path).
      blobPathProblem(name) === undefined,
  );

describe('the fast listing against Azurite', () => {
  it('reports exactly what the SDK reports, across pages, for awkward names and metadata', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(blobName, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 5 }),
        async (names, pageSize) => {
          const container = uniqueContainer('ls');
          await env.store.ensureContainer(container);
          for (const [i, name] of names.entries()) {
            await env.store.write(container, `p/${name}`, 'x'.repeat(i), {
              contentType: i % 2 ? 'text/csv' : 'application/octet-stream',
              metadata: i % 3 ? { kind: `k${i}`, note: 'a&b' } : undefined,
            });
          }
          const ours = (
            await collect(env.store.listPages(container, 'p/', { pageSize, includeMetadata: true }))
          ).flat();
          expect(ours).toEqual(await sdkListing(container, 'p/'));
        },
      ),
      { numRuns: 10 },
    );
  });

  it('walks one folder level with folders and blobs merged in name order', async () => {
    const container = uniqueContainer('ls');
    await env.store.ensureContainer(container);
    for (const name of ['t/a=1/x.csv', 't/a=2/y.csv', 't/b.csv', 't/a=1.csv', 't/c &d.csv'])
      await env.store.write(container, name, 'x');
    const entries = await collect(env.store.listFolder(container, 't/', { pageSize: 2 }));
    expect(entries.map((e) => ('folder' in e ? e.folder : e.blob.name))).toEqual([
      't/a=1.csv',
      't/a=1/',
      't/a=2/',
      't/b.csv',
      't/c &d.csv',
    ]);
  });

  it('lists with a SAS connection string, and a SAS without list permission is refused as access denied', async () => {
    const container = uniqueContainer('ls');
    await env.store.ensureContainer(container);
    await env.store.write(container, 'one.txt', '1');
    const key = /AccountKey=([^;]+)/.exec(env.azurite.connectionString)![1]!;
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(env.azurite.connectionString)![1]!;
    const sasFor = (permissions: string) =>
      generateBlobSASQueryParameters(
        {
          containerName: container,
          permissions: ContainerSASPermissions.parse(permissions),
          expiresOn: new Date(Date.now() + 3_600_000),
        },
        new StorageSharedKeyCredential('devstoreaccount1', key),
      ).toString();
    const withList = BlobStore.fromConnectionString(
      `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sasFor('rl')}`,
    );
    expect((await collect(withList.list(container, ''))).map((b) => b.name)).toEqual(['one.txt']);
    const readOnly = BlobStore.fromConnectionString(
      `BlobEndpoint=${blobEndpoint};SharedAccessSignature=${sasFor('r')}`,
    );
    await expect(collect(readOnly.list(container, ''))).rejects.toBeInstanceOf(StorageAccessDeniedError);
  });
});

describe('parseListing', () => {
  it('reads names that come percent-encoded and treats an empty NextMarker as the end', () => {
    const xml =
      '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="c"><Prefix>p/</Prefix><Blobs>' +
      '<Blob><Name Encoded="true">p%2Fa%EF%BF%BEb</Name><Properties><Last-Modified>Tue, 24 Nov 2026 10:00:00 GMT</Last-Modified>' +
      '<Etag>0x1</Etag><Content-Length>7</Content-Length><Content-Type /></Properties></Blob>' +
      '<BlobPrefix><Name>p/q/</Name></BlobPrefix></Blobs><NextMarker /></EnumerationResults>';
    expect(parseListing(xml)).toEqual({
      blobs: [{ name: 'p/a\uFFFEb', size: 7, etag: '0x1', lastModified: new Date('2026-11-24T10:00:00Z') }],
      prefixes: ['p/q/'],
    });
  });
});
