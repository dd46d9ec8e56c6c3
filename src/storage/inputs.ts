import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { InputLocation } from '../plan/descriptor';
import { InputPathError } from '../errors';
import { AZURE_BLOB_SUFFIXES, isAzureBlobHost, isLoopbackHost } from './access';
import type { BlobStore } from './blobStore';

export type { InputLocation } from '../plan/descriptor';

export interface ResolveInputOptions {
  /** The app's storage account (BlobStore.accountUrl); `<container>/<prefix>` paths live there. */
  accountUrl: string;
  /** Container for paths written as `/<prefix>` (no container part). */
  defaultContainer?: string;
}

const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
const WRITE_INSTEAD =
  'write `<container>/<prefix>` for the app storage account, or `https://<account>.blob.core.windows.net/<container>/<prefix>`';

function checkContainer(original: string, container: string): void {
  if (!CONTAINER_NAME.test(container)) {
    throw new InputPathError(
      original,
      `'${container}' is not a valid container name (3-63 characters: lowercase letters, digits and single hyphens, starting with a letter or digit). ${WRITE_INSTEAD}.`,
    );
  }
}

function splitContainerAndPrefix(original: string, rest: string): { container: string; prefix: string } {
  const trimmed = rest.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  const container = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const prefix = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (!container) throw new InputPathError(original, `it names no container; ${WRITE_INSTEAD}.`);
  checkContainer(original, container);
  return { container, prefix };
}

/** For `scheme://container@account.host/path`, the blob URL the user should write instead. */
function blobUrlFor(original: string): string | undefined {
  const match = /^[a-z]+:\/\/([^@/]+)@([^./]+)\.(?:blob|dfs)\.([^/]+)\/?(.*)$/i.exec(original);
  if (!match) return undefined;
  const [, container, account, suffix, rest] = match;
  return `https://${account}.blob.${suffix}/${container}/${rest ?? ''}`;
}

function fromUrl(original: string): InputLocation {
  let url: URL;
  try {
    url = new URL(original);
  } catch {
    throw new InputPathError(original, `it is not a valid URL; ${WRITE_INSTEAD}.`);
  }
  if (url.search) {
    throw new InputPathError(
      original,
      'remove the query string: SAS tokens are not used, the app reads inputs with its own identity (give it "Storage Blob Data Reader" on the account).',
    );
  }
  let segments: string[];
  try {
    segments = url.pathname.split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    throw new InputPathError(original, `its path has a malformed %-escape; ${WRITE_INSTEAD}.`);
  }
  // Emulator URLs carry the account as the first path segment: http://127.0.0.1:10000/devstoreaccount1/...
  if (isLoopbackHost(url.hostname)) {
    const account = segments[1];
    if (!account)
      throw new InputPathError(
        original,
        'an emulator URL needs the account after the port (/devstoreaccount1/...).',
      );
    const { container, prefix } = splitContainerAndPrefix(original, segments.slice(2).join('/'));
    return { accountUrl: `${url.origin}/${account}`, container, prefix };
  }
  if (/\.dfs\./i.test(url.hostname)) {
    throw new InputPathError(
      original,
      `use the blob endpoint instead of the Data Lake one: https://${url.hostname.replace(/\.dfs\./i, '.blob.')}${url.pathname}`,
    );
  }
  // The app's identity token goes to this host: only Azure's own blob endpoints qualify.
  if (!isAzureBlobHost(url.hostname)) {
    throw new InputPathError(
      original,
      `'${url.hostname}' is not an Azure blob storage endpoint (<account>${AZURE_BLOB_SUFFIXES.join(', <account>')}); ${WRITE_INSTEAD}.`,
    );
  }
  if (url.protocol !== 'https:') {
    throw new InputPathError(original, `use https:// for blob URLs; ${WRITE_INSTEAD}.`);
  }
  const { container, prefix } = splitContainerAndPrefix(original, segments.slice(1).join('/'));
  return { accountUrl: url.origin, container, prefix };
}

/**
 * Turns an input `path` into the account, container and prefix to list. Accepted: `<container>/<prefix>`
 * on the app's account, `/<prefix>` in `defaultContainer`, and blob URLs (Azure, or an emulator on the
 * loopback address). Azure ML URIs and other schemes are refused with the form to write instead.
 */
export function resolveInputLocation(inputPath: string, options: ResolveInputOptions): InputLocation {
  const original = inputPath;
  const trimmed = inputPath.trim();
  if (!trimmed) throw new InputPathError(original, `it is empty; ${WRITE_INSTEAD}.`);

  if (/^azureml:/i.test(trimmed)) {
    throw new InputPathError(
      original,
      `Azure ML datastores and data assets are not available outside Azure ML. Copy the data to a blob container and ${WRITE_INSTEAD}.`,
    );
  }
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return fromUrl(trimmed);
  if (scheme === 'wasb' || scheme === 'wasbs' || scheme === 'abfs' || scheme === 'abfss') {
    const suggestion = blobUrlFor(trimmed);
    throw new InputPathError(
      original,
      suggestion
        ? `write the blob URL instead: ${suggestion}`
        : `${scheme}:// paths are not read directly; ${WRITE_INSTEAD}.`,
    );
  }
  if (scheme === 'file') {
    throw new InputPathError(
      original,
      'local files are accepted only when running locally, as a plain folder path (they are uploaded first).',
    );
  }
  if (scheme !== undefined) {
    throw new InputPathError(original, `the ${scheme}: scheme is not supported; ${WRITE_INSTEAD}.`);
  }
  if (trimmed.startsWith('/')) {
    if (!options.defaultContainer) {
      throw new InputPathError(original, `it names no container; ${WRITE_INSTEAD}.`);
    }
    checkContainer(original, options.defaultContainer);
    return {
      accountUrl: options.accountUrl.replace(/\/+$/, ''),
      container: options.defaultContainer,
      prefix: trimmed.replace(/^\/+/, ''),
    };
  }
  if (trimmed.startsWith('.') || trimmed.includes('\\')) {
    throw new InputPathError(
      original,
      `it looks like a local path, which is accepted only when running locally; ${WRITE_INSTEAD}.`,
    );
  }
  const { container, prefix } = splitContainerAndPrefix(original, trimmed);
  return { accountUrl: options.accountUrl.replace(/\/+$/, ''), container, prefix };
}

/** Files under `root`, sorted, as [absolute path, POSIX path relative to root]; links leaving root are skipped. */
async function listLocalFiles(root: string): Promise<Array<[string, string]>> {
  const realRoot = await fs.realpath(root);
  const inside = (target: string): boolean => target === realRoot || target.startsWith(realRoot + path.sep);
  const files: Array<[string, string]> = [];
  const visitedDirs = new Set<string>([realRoot]);

  async function walk(dir: string, relative: string): Promise<void> {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      let isFile = entry.isFile();
      let isDir = entry.isDirectory();
      if (entry.isSymbolicLink()) {
        const target = await fs.realpath(full).catch(() => undefined);
        if (!target || !inside(target)) continue; // a dangling link, or one that escapes the folder
        const stat = await fs.stat(target);
        isFile = stat.isFile();
        isDir = stat.isDirectory();
        if (isDir) {
          if (visitedDirs.has(target)) continue; // a loop back into a folder already walked
          visitedDirs.add(target);
        }
      }
      if (isDir) await walk(full, rel);
      else if (isFile) files.push([full, rel]);
    }
  }
  await walk(realRoot, '');
  return files;
}

/**
 * Local mode: copies a folder to `<container>/<prefix>/` so the job can read it like any other input.
 * Blob names are the files' relative POSIX paths; symbolic links that leave the folder are skipped.
 */
export async function uploadLocalFolder(
  store: BlobStore,
  localDir: string,
  container: string,
  prefix: string,
  options?: {
    concurrency?: number;
    /** Called after each file with the number uploaded so far and the total. */
    onProgress?: (done: number, total: number) => void;
  },
): Promise<{ files: number; bytes: number }> {
  const stat = await fs.stat(localDir).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new InputPathError(localDir, 'it is not a folder on this machine.');
  }
  await store.ensureContainer(container);
  const base = prefix.replace(/^\/+/, '').replace(/\/*$/, prefix.replace(/^\/+/, '') ? '/' : '');
  const files = await listLocalFiles(localDir);
  const concurrency = Math.max(1, options?.concurrency ?? 4);
  let next = 0;
  let bytes = 0;
  let uploaded = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const [absolute, relative] = files[next++]!;
      // Read `bytes` only after the await: `bytes += await ...` would add to a stale value.
      const size = await store.uploadFile(container, `${base}${relative}`, absolute);
      bytes += size;
      uploaded += 1;
      options?.onProgress?.(uploaded, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return { files: files.length, bytes };
}
