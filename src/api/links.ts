import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { DownloadLinkError } from '../errors';

/**
 * Short-lived signed links to one job file or folder, so that the status page's links open by a plain
 * click without a function key in any URL. A link names exactly what it serves (job, kind, name, path)
 * and when it stops working, and carries an HMAC-SHA256 of that under the app's link secret.
 */

export const LINK_LIFETIME_MS = 15 * 60_000;

export interface LinkTarget {
  jobId: string;
  kind: 'outputs' | 'logs';
  /** A key of the job's `outputs` / `log_files`. */
  name: string;
  /** A path inside that output or log folder ('' for the entry itself; ends with '/' for a folder). */
  path: string;
}

const payloadSchema = z.object({
  j: z.string().min(1),
  k: z.enum(['outputs', 'logs']),
  n: z.string().min(1),
  p: z.string(),
  e: z.number().int().positive(),
});

// Used when PARALLEL_JOB_LINK_SECRET is unset: links then work only on this process, which is all one
// machine needs. Kept for the process's lifetime so that rebuilt services keep accepting earlier links.
const processSecret = randomBytes(32);

export function linkSecret(configured: string | undefined): Buffer {
  return configured ? Buffer.from(configured, 'utf8') : processSecret;
}

const mac = (secret: Buffer, payload: string): Buffer =>
  createHmac('sha256', secret).update(`parallel-job-link.v1.${payload}`).digest();

/** The token of a link to `target` valid until `now + LINK_LIFETIME_MS`. */
export function signLink(secret: Buffer, target: LinkTarget, now = Date.now()): string {
  const payload = Buffer.from(
    JSON.stringify({
      j: target.jobId,
      k: target.kind,
      n: target.name,
      p: target.path,
      e: now + LINK_LIFETIME_MS,
    }),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** What a token names, if its signature verifies and it has not expired; DownloadLinkError otherwise. */
export function verifyLink(secret: Buffer, token: string, now = Date.now()): LinkTarget {
  const invalid = new DownloadLinkError(LINK_LIFETIME_MS / 60_000);
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) throw invalid;
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  // Lengths first: timingSafeEqual throws on unequal lengths, and the length of a MAC is no secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  const parsed = payloadSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.e <= now) throw invalid;
  return { jobId: parsed.data.j, kind: parsed.data.k, name: parsed.data.n, path: parsed.data.p };
}
