/**
 * Side inputs: the data inputs other than `input_data` (a model folder, a lookup table), which Azure ML
 * mounts read-only and scripts open by path. Planning pins each one's blobs by etag into the job record;
 * every host downloads a pinned version once into a read-only cache keyed by those versions, shared by its
 * workers and kept across jobs while the versions are unchanged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../plan/preview';
import { z } from 'zod';
import { SideInputError, StorageNotFoundError } from '../errors';
import type { EffectiveJob } from '../job/effective';
import { inputLocationSchema } from '../plan/descriptor';
import type { AccessPolicy } from './access';
import type { BlobStore } from './blobStore';
import { resolveInputLocation } from './inputs';

/** More files than this in one side input is a spec problem: it belongs in input_data, or in an archive. */
export const MAX_SIDE_INPUT_FILES = 100_000;

export const pinnedSideInputSchema = z.object({
  name: z.string(),
  type: z.enum(['uri_folder', 'uri_file', 'mltable']),
  location: inputLocationSchema,
  /** Blob names relative to the input's folder (for uri_file, the file's own name), with their versions. */
  blobs: z.array(z.object({ name: z.string(), size: z.number().int().nonnegative(), etag: z.string() })),
  bytes: z.number().int().nonnegative(),
  /** What the cache folder is named after: the place and every blob's version. */
  key: z.string(),
});
export type PinnedSideInput = z.infer<typeof pinnedSideInputSchema>;

/** The side inputs of a job: its data inputs but `input_data`. */
export function sideInputs(
  job: Pick<EffectiveJob, 'inputs' | 'inputData'>,
): [string, { type: PinnedSideInput['type']; path: string }][] {
  return Object.entries(job.inputs).flatMap(([name, input]) =>
    typeof input === 'object' && name !== job.inputData.name ? [[name, input] as const] : [],
  );
}

/**
 * Lists one side input and pins its blobs. Throws SideInputError (naming `inputs.<name>.path`) for a
 * missing file, or one larger than `maxBytes` (PARALLEL_JOB_MAX_SIDE_INPUT_BYTES).
 */
export async function pinSideInput(
  store: BlobStore,
  access: AccessPolicy,
  name: string,
  input: { type: PinnedSideInput['type']; path: string },
  maxBytes: number,
): Promise<PinnedSideInput> {
  const field = `inputs.${name}.path`;
  const location = resolveInputLocation(input.path, { accountUrl: store.accountUrl });
  access.assert(location, 'read', field);
  const source = store.forAccount(location.accountUrl);
  const blobs: PinnedSideInput['blobs'] = [];
  let bytes = 0;
  const tooLarge = (): SideInputError =>
    new SideInputError(
      field,
      `'${input.path}' holds more than ${formatBytes(maxBytes)} (the app setting PARALLEL_JOB_MAX_SIDE_INPUT_BYTES), which every host downloads before the task starts; raise the setting, or point the input at a smaller folder`,
    );
  if (input.type === 'uri_file') {
    const file = await source.stat(location.container, location.prefix).catch((error: unknown) => {
      if (error instanceof StorageNotFoundError) return undefined;
      throw error;
    });
    if (!file) throw new SideInputError(field, `the file '${input.path}' does not exist`);
    blobs.push({ name: path.posix.basename(file.name), size: file.size, etag: file.etag });
    bytes = file.size;
    if (bytes > maxBytes) throw tooLarge();
  } else {
    const folder = location.prefix === '' ? '' : `${location.prefix.replace(/\/+$/, '')}/`;
    for await (const blob of source.list(location.container, folder)) {
      blobs.push({ name: blob.name.slice(folder.length), size: blob.size, etag: blob.etag });
      bytes += blob.size;
      if (bytes > maxBytes) throw tooLarge();
      if (blobs.length > MAX_SIDE_INPUT_FILES) {
        throw new SideInputError(
          field,
          `'${input.path}' holds more than ${MAX_SIDE_INPUT_FILES.toLocaleString('en-US')} files, which every host downloads before the task starts; make it input_data, or pack the files into fewer`,
        );
      }
    }
  }
  const key = createHash('sha256')
    .update(JSON.stringify({ location, type: input.type, blobs }))
    .digest('hex')
    .slice(0, 32);
  return { name, type: input.type, location, blobs, bytes, key };
}

/** Every side input of the job, pinned (planning writes them into the job record). */
export async function pinSideInputs(
  store: BlobStore,
  access: AccessPolicy,
  job: Pick<EffectiveJob, 'inputs' | 'inputData'>,
  maxBytes: number,
): Promise<PinnedSideInput[]> {
  const pinned: PinnedSideInput[] = [];
  for (const [name, input] of sideInputs(job))
    pinned.push(await pinSideInput(store, access, name, input, maxBytes));
  return pinned;
}

/**
 * The host's read-only cache of side inputs: `<root>/<key>/`, downloaded once, whole, then renamed into
 * place, so that a crash never leaves a half folder under a key. Concurrent attempts of this process share
 * one download; another process on the same folder finds the finished one.
 */
export class SideInputCache {
  private readonly downloads = new Map<string, Promise<string>>();

  constructor(private readonly root: string) {}

  /** The local path of a pinned side input: its folder, or for uri_file the file in it. */
  async localPath(store: BlobStore, input: PinnedSideInput): Promise<string> {
    let folder = this.downloads.get(input.key);
    if (!folder) {
      folder = this.materialize(store, input);
      this.downloads.set(input.key, folder);
      // A failed download is tried again by the next attempt.
      folder.catch(() => this.downloads.delete(input.key));
    }
    const local = await folder;
    return input.type === 'uri_file' ? path.join(local, input.blobs[0]!.name) : local;
  }

  private async materialize(store: BlobStore, input: PinnedSideInput): Promise<string> {
    const target = path.join(this.root, input.key);
    if (await exists(target)) {
      // Marks it used, for whoever clears old entries by age.
      await utimes(target, new Date(), new Date()).catch(() => undefined);
      return target;
    }
    const partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(partial, { recursive: true });
    try {
      const source = store.forAccount(input.location.accountUrl);
      const folder =
        input.type === 'uri_file'
          ? input.location.prefix
          : input.location.prefix === ''
            ? ''
            : `${input.location.prefix.replace(/\/+$/, '')}/`;
      for (const blob of input.blobs) {
        const local = path.join(partial, ...blob.name.split('/'));
        await mkdir(path.dirname(local), { recursive: true });
        const name = input.type === 'uri_file' ? folder : `${folder}${blob.name}`;
        await source.downloadToFile(input.location.container, name, local, { ifMatch: blob.etag });
      }
      await makeReadOnly(partial);
      try {
        await rename(partial, target);
      } catch (error) {
        // Another process finished the same key first: its copy is the same versions.
        if (!(await exists(target))) throw error;
        await removeCacheFolder(partial);
      }
      return target;
    } catch (error) {
      await removeCacheFolder(partial);
      throw error;
    }
  }
}

async function exists(target: string): Promise<boolean> {
  return stat(target).then(
    () => true,
    () => false,
  );
}

/** Files 0444 and folders 0555: a task that writes into its model by mistake gets an error, not a changed cache. */
async function makeReadOnly(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) await makeReadOnly(full);
    else await chmod(full, 0o444);
  }
  await chmod(folder, 0o555);
}

/** Removes a cache folder that makeReadOnly locked. */
export async function removeCacheFolder(folder: string): Promise<void> {
  const unlock = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755).catch(() => undefined);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) await unlock(path.join(dir, entry.name));
  };
  await unlock(folder);
  await rm(folder, { recursive: true, force: true });
}
