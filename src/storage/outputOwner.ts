import { DataPlaceRefusedError, StorageNotFoundError } from '../errors';
import type { AccessPolicy } from './access';
import type { BlobStore } from './blobStore';

/**
 * An append_row output blob is written only by the job that created it (and that job's re-runs, which
 * complete the same output). The owner is recorded in the blob's metadata when it is committed, so that
 * a job can never commit its rows over a blob it did not create: a deployed package, another job's output,
 * or data a person put there.
 */
export const OUTPUT_OWNER_METADATA = 'parallel_job_output_of';

export type OutputClaim =
  | { ok: true; metadata: Record<string, string>; conditions: { ifMatch: string } | { ifNoneMatch: '*' } }
  | { ok: false; problem: string };

/**
 * Whether `owner` may commit `blob`: it does not exist, or its metadata names `owner`. The conditions make
 * the commit fail if someone else writes the blob in between.
 */
export async function claimOutput(
  store: BlobStore,
  container: string,
  blob: string,
  owner: string,
): Promise<OutputClaim> {
  const metadata = { [OUTPUT_OWNER_METADATA]: owner };
  const existing = await store.stat(container, blob).catch((error: unknown) => {
    // A container that does not exist yet holds no blob to protect.
    if (error instanceof StorageNotFoundError && error.blob === undefined) return undefined;
    throw error;
  });
  if (!existing) return { ok: true, metadata, conditions: { ifNoneMatch: '*' } };
  const recorded = existing.metadata?.[OUTPUT_OWNER_METADATA];
  if (recorded === owner) return { ok: true, metadata, conditions: { ifMatch: existing.etag } };
  const by = recorded ? `job '${recorded}'` : 'something other than a job';
  return {
    ok: false,
    problem: `the blob '${container}/${blob}' already exists and was written by ${by}; a job writes only outputs it creates, so choose a new path or delete that blob first`,
  };
}

/**
 * The one check before a job writes an output blob of the app's account: the place must be writable and
 * the blob this owner's (see claimOutput). Throws DataPlaceRefusedError naming `field`.
 */
export async function claimOutputBlob(
  deps: { store: BlobStore; access: AccessPolicy },
  container: string,
  blob: string,
  owner: string,
  field: string,
): Promise<Extract<OutputClaim, { ok: true }>> {
  deps.access.assert({ accountUrl: deps.store.accountUrl, container, prefix: blob }, 'write', field);
  const claim = await claimOutput(deps.store, container, blob, owner);
  if (!claim.ok) throw new DataPlaceRefusedError(field, claim.problem);
  return claim;
}
