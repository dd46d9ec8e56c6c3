import { z } from 'zod';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';

/**
 * manifest.json: the state of every mini-batch when the job ended. SUCCEEDED entries name the attempt
 * (and generation) whose block is in the output, so a re-run keeps them and runs only the others.
 */
export const manifestEntrySchema = z.object({
  index: z.number().int().nonnegative(),
  status: z.enum(['SUCCEEDED', 'FAILED', 'PENDING']),
  /** Winning attempt and the generation that ran it (absent for PENDING). */
  attempt: z.number().int().positive().optional(),
  generation: z.number().int().nonnegative().optional(),
  items: z.number().int().nonnegative().optional(),
  failed: z.number().int().nonnegative().optional(),
  rows: z.number().int().nonnegative().optional(),
});
export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

export const manifestSchema = z.object({
  jobId: z.string(),
  generation: z.number().int().nonnegative(),
  status: z.enum(['Completed', 'Failed', 'Canceled']),
  miniBatches: z.array(manifestEntrySchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

export async function readManifest(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): Promise<Manifest> {
  return store.readJson(logsContainer, jobFolder(jobId).manifest, manifestSchema);
}
