/**
 * The one retry policy of a job: exponential backoff from a base, capped at a minute, with jitter derived
 * from a key so that retries spread out and every replay computes the same delay. Mini-batch retries
 * (in the group activity and the shard), group calls that threw (the shard) and finalize's steps (the
 * root) all back off this way.
 */

/** FNV-1a: a stable 32-bit hash, so jitter is the same on every replay. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export const MAX_RETRY_DELAY_MS = 60_000;
/** Jitter: each delay is within this share of the exponential value, either way. */
const JITTER = 0.2;
/** A call that threw (an activity, not a task) is tried again no sooner than this, whatever the base. */
export const MIN_CALL_RETRY_MS = 100;

/**
 * The wait before retry `retry` (1 for the first): base x 2^(retry-1), capped at a minute, with +-20%
 * jitter derived from `key`. A base of 0 retries at once.
 */
export function backoffMs(baseMs: number, retry: number, key: string): number {
  if (baseMs <= 0) return 0;
  const exponential = Math.min(baseMs * 2 ** Math.max(0, retry - 1), MAX_RETRY_DELAY_MS);
  const unit = stableHash(key) / 0xffffffff; // [0, 1]
  return Math.round(exponential * (1 - JITTER + 2 * JITTER * unit));
}

/** The wait before mini-batch `index`'s attempt `attempt` (2, 3, ...), keyed by job, mini-batch and attempt. */
export function retryDelayMs(jobId: string, index: number, attempt: number, baseMs: number): number {
  return backoffMs(baseMs, attempt - 1, `${jobId}/${index}/${attempt}`);
}

/** The wait before calling an activity that threw again, for the `retry`-th time. */
export function callRetryDelayMs(baseMs: number, retry: number, key: string): number {
  return backoffMs(Math.max(MIN_CALL_RETRY_MS, baseMs), retry, key);
}

/**
 * The same policy for an activity the durable extension retries itself (finalize's steps): the same base,
 * doubling and cap. Such retries take no jitter: the extension computes their delays.
 */
export function activityRetryOptions(
  baseMs: number,
  attempts: number,
): {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient: number;
  maxRetryIntervalInMilliseconds: number;
} {
  return {
    firstRetryIntervalInMilliseconds: Math.max(MIN_CALL_RETRY_MS, baseMs),
    maxNumberOfAttempts: attempts,
    backoffCoefficient: 2,
    maxRetryIntervalInMilliseconds: MAX_RETRY_DELAY_MS,
  };
}
