import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobStore } from '../../../src/storage/blobStore';
import { resolveInputLocation, uploadLocalFolder } from '../../../src/storage/inputs';
import { InputPathError } from '../../../src/errors';
import { useAzurite, uniqueContainer } from '../../support/azurite';
import type { RunningAzurite } from '@parallel-job/functions-host';

const app = { accountUrl: 'https://appacct.blob.core.windows.net' };

describe('resolveInputLocation', () => {
  it('reads <container>/<prefix> on the app account', () => {
    expect(resolveInputLocation('inputs/images/2024', app)).toEqual({
      accountUrl: app.accountUrl,
      container: 'inputs',
      prefix: 'images/2024',
    });
    expect(resolveInputLocation('inputs', app)).toEqual({
      accountUrl: app.accountUrl,
      container: 'inputs',
      prefix: '',
    });
    expect(resolveInputLocation('/data/x.csv', { ...app, defaultContainer: 'inputs' })).toEqual({
      accountUrl: app.accountUrl,
      container: 'inputs',
      prefix: 'data/x.csv',
    });
  });

  it('reads Azure and emulator blob URLs, decoding names', () => {
    expect(resolveInputLocation('https://other.blob.core.windows.net/raw/a%20b/c.csv', app)).toEqual({
      accountUrl: 'https://other.blob.core.windows.net',
      container: 'raw',
      prefix: 'a b/c.csv',
    });
    expect(resolveInputLocation('http://127.0.0.1:10000/devstoreaccount1/raw/folder/', app)).toEqual({
      accountUrl: 'http://127.0.0.1:10000/devstoreaccount1',
      container: 'raw',
      prefix: 'folder/',
    });
  });

  it.each([
    ['azureml://datastores/workspaceblobstore/paths/data/', /Copy the data to a blob container/],
    ['azureml:my-data:3', /data assets are not available/],
    ['wasbs://raw@acct.blob.core.windows.net/x/y', /https:\/\/acct\.blob\.core\.windows\.net\/raw\/x\/y/],
    ['abfss://raw@acct.dfs.core.windows.net/x', /https:\/\/acct\.blob\.core\.windows\.net\/raw\/x/],
    ['adl://store.azuredatalakestore.net/x', /adl: scheme is not supported/],
    ['https://acct.dfs.core.windows.net/raw/x', /blob endpoint instead/],
    ['https://acct.blob.core.windows.net/raw/x?sv=2020&sig=abc', /SAS tokens are not used/],
    ['https://example.com/raw/x', /not an Azure blob storage endpoint/],
    ['Bad_Container/x', /not a valid container name/],
    ['/x', /names no container/],
    ['./local/folder', /local path/],
    ['', /empty/],
  ])('refuses %s with what to write instead', (input, message) => {
    let thrown: unknown;
    try {
      resolveInputLocation(input, app);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InputPathError);
    expect(thrown).toMatchObject({ code: 'INPUT_PATH_INVALID' });
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('uploadLocalFolder', () => {
  let azurite: RunningAzurite;
  let store: BlobStore;
  let dir: string;
  let outside: string;

  beforeAll(async () => {
    azurite = await useAzurite();
    store = BlobStore.fromConnectionString(azurite.connectionString);
    dir = await mkdtemp(path.join(os.tmpdir(), 'pj-upload-'));
    outside = await mkdtemp(path.join(os.tmpdir(), 'pj-outside-'));
  });
  afterAll(async () => {
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('uploads nested files and skips links that leave the folder', async () => {
    await mkdir(path.join(dir, 'sub', 'deep'), { recursive: true });
    await writeFile(path.join(dir, 'a.txt'), 'aaa');
    await writeFile(path.join(dir, 'sub', 'b.txt'), 'bb');
    await writeFile(path.join(dir, 'sub', 'deep', 'c.txt'), 'c');
    await writeFile(path.join(outside, 'secret.txt'), 'do not upload');
    await symlink(path.join(outside, 'secret.txt'), path.join(dir, 'escape.txt'));
    await symlink(outside, path.join(dir, 'escape-dir'));
    await symlink(path.join(dir, 'a.txt'), path.join(dir, 'inside-link.txt'));
    await symlink(dir, path.join(dir, 'sub', 'loop'));

    const container = uniqueContainer('up');
    const result = await uploadLocalFolder(store, dir, container, 'jobs/in/');
    const names: string[] = [];
    for await (const blob of store.list(container, '')) names.push(blob.name);
    expect(names).toEqual([
      'jobs/in/a.txt',
      'jobs/in/inside-link.txt',
      'jobs/in/sub/b.txt',
      'jobs/in/sub/deep/c.txt',
    ]);
    expect(result).toEqual({ files: 4, bytes: 3 + 3 + 2 + 1 });
    expect(await store.readText(container, 'jobs/in/sub/deep/c.txt')).toBe('c');
  });

  it('refuses a path that is not a folder', async () => {
    await expect(uploadLocalFolder(store, path.join(dir, 'nope'), uniqueContainer('up'), '')).rejects.toThrow(
      InputPathError,
    );
  });
});
