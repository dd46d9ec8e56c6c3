import { z } from 'zod';
import { SpecValidationError } from '../errors';
import type { BlobStore } from './blobStore';
import { isJobId } from '../submit/ids';

/**
 * The job index: one small blob per submitted job in the logs container, named so that a listing returns
 * the newest job first, so `GET /api/jobs` reads one listing page instead of every instance in the hub.
 * `~` cannot start a job id, so the index never mixes with a job folder (`<jobId>/`).
 */
export const JOB_INDEX_PREFIX = '~index/';

/** Milliseconds are inverted against this bound (year 2286) so that listing order is newest first. */
const LAST_MS = 9_999_999_999_999;
const NAME = /^~index\/(\d{13})-(.+)\.json$/;

export interface JobIndexEntry {
  id: string;
  name?: string;
  created: string;
}

export function jobIndexName(jobId: string, created: Date): string {
  return `${JOB_INDEX_PREFIX}${String(LAST_MS - created.getTime()).padStart(13, '0')}-${jobId}.json`;
}

/** Records a job about to start. Written before the instance starts, so no started job is missing. */
export async function writeJobIndex(
  store: BlobStore,
  logsContainer: string,
  entry: JobIndexEntry,
): Promise<void> {
  await store.ensureContainer(logsContainer);
  await store.writeJson(logsContainer, jobIndexName(entry.id, new Date(entry.created)), entry, {
    // Metadata must be ASCII: the name is kept in the body only.
    metadata: { id: entry.id, created: entry.created },
  });
}

/** Where a listing resumes: the service's page marker, entries to skip on that page, the page size. */
const cursorSchema = z.object({
  m: z.string().max(1024).optional(),
  s: z.number().int().nonnegative().max(5000),
  p: z.number().int().min(1).max(5000),
});
export type JobIndexCursor = z.infer<typeof cursorSchema>;

export function encodeCursor(cursor: JobIndexCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

export function decodeCursor(token: string): JobIndexCursor {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw new SpecValidationError([
      { path: 'continuation', message: 'not a continuation token from a `next` link of GET /api/jobs' },
    ]);
  }
}

/** One page of the index from `marker`: job ids newest first. */
export async function readJobIndexPage(
  store: BlobStore,
  logsContainer: string,
  options: { marker?: string; pageSize: number },
): Promise<{ ids: string[]; nextMarker?: string }> {
  await store.ensureContainer(logsContainer);
  const page = await store.listPage(logsContainer, JOB_INDEX_PREFIX, {
    pageSize: options.pageSize,
    ...(options.marker ? { marker: options.marker } : {}),
  });
  const ids: string[] = [];
  for (const blob of page.blobs) {
    const id = NAME.exec(blob.name)?.[2];
    if (id && isJobId(id)) ids.push(id);
  }
  return { ids, ...(page.nextMarker ? { nextMarker: page.nextMarker } : {}) };
}
