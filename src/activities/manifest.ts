import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';
import { StorageContentError } from '../errors';

/**
 * manifest.json: the state of every mini-batch when the job ended. SUCCEEDED entries name the attempt
 * (and generation) whose block is in the output, so a re-run keeps them and runs only the others.
 *
 * Finalize streams it: a header line that opens the `miniBatches` array, then one entry per line in
 * mini-batch order, then `]}`. The whole blob is still one JSON document of the schema below, and
 * `manifestEntries` reads it back line by line without holding it.
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
  /** The files the winning attempt published into uri_folder outputs: output name -> names in its folder. */
  files: z.record(z.string(), z.array(z.string())).optional(),
  /** The winning attempt's token, in those files' metadata (finalize removes files with any other). */
  filesToken: z.string().optional(),
});
export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

export const manifestHeaderSchema = z.object({
  jobId: z.string(),
  generation: z.number().int().nonnegative(),
  status: z.enum(['Completed', 'Failed', 'Canceled']),
});
export type ManifestHeader = z.infer<typeof manifestHeaderSchema>;

export const manifestSchema = manifestHeaderSchema.extend({
  miniBatches: z.array(manifestEntrySchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

const OPEN_ARRAY = ',"miniBatches":[';

/** The manifest's text before its first entry (ends with a newline). */
export function manifestHead(header: ManifestHeader): string {
  const head = JSON.stringify(manifestHeaderSchema.parse(header));
  return `${head.slice(0, -1)}${OPEN_ARRAY}\n`;
}

/** One entry's line; every entry but the first starts with the comma that separates it. */
export function manifestLine(entry: ManifestEntry, first: boolean): string {
  return `${first ? '' : ',\n'}${JSON.stringify(entry)}`;
}

export const MANIFEST_TAIL = '\n]}\n';

/** The whole manifest in memory: small jobs and callers that need random access. */
export async function readManifest(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): Promise<Manifest> {
  return store.readJson(logsContainer, jobFolder(jobId).manifest, manifestSchema);
}

/**
 * The manifest's entries in mini-batch order, one line in memory at a time. A manifest written in one
 * line (before finalize streamed it) is read whole once.
 */
export async function* manifestEntries(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): AsyncIterable<ManifestEntry> {
  const name = jobFolder(jobId).manifest;
  const input = await store.stream(logsContainer, name);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let header = false;
  try {
    for await (const raw of lines) {
      if (!header) {
        if (!raw.endsWith(OPEN_ARRAY)) break;
        parseLine(logsContainer, name, `${raw}]}`, manifestSchema);
        header = true;
        continue;
      }
      const line = raw.endsWith(',') ? raw.slice(0, -1) : raw;
      if (line === ']}' || line === '') continue;
      yield parseLine(logsContainer, name, line, manifestEntrySchema);
    }
  } finally {
    lines.close();
    (input as { destroy?: () => void }).destroy?.();
  }
  if (!header) yield* (await readManifest(store, logsContainer, jobId)).miniBatches;
}

function parseLine<T>(container: string, name: string, line: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new StorageContentError(container, name, `not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new StorageContentError(container, name, parsed.error.issues[0]?.message ?? 'invalid entry', {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
