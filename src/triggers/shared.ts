import { z } from 'zod';
import { InputPathError, SpecValidationError, type ValidationIssue, validationIssueSchema } from '../errors';
import { JOB_NAME_PATTERN } from '../job/schema';

/**
 * What the triggers share: which blob names are specs, the default job name of a spec blob, and the
 * `_rejected/<name>.json` record a bad upload or schedule leaves next to it.
 */

/** Blobs with these extensions are job specs; every other name in the jobs container is ignored. */
export const SPEC_EXTENSIONS = ['.yml', '.yaml', '.json'] as const;

/** Rejection records live under this prefix of the container that held the bad input. */
export const REJECTED_PREFIX = '_rejected/';

/** What `<container>/_rejected/<name>.json` holds. */
export const rejectionRecordSchema = z.object({
  blob: z.string(),
  etag: z.string(),
  rejected_at: z.string(),
  code: z.string(),
  message: z.string(),
  issues: z.array(validationIssueSchema),
});
export type RejectionRecord = z.infer<typeof rejectionRecordSchema>;

/** Minimal logger: an InvocationContext fits. */
export interface TriggerLog {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

export function specExtension(name: string): string | undefined {
  const lower = name.toLowerCase();
  return SPEC_EXTENSIONS.find((extension) => lower.endsWith(extension));
}

/** The job name used when the spec has none: the blob's base name, fitted to the job-name rule. */
export function defaultJobName(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const extension = specExtension(base);
  const stem = (extension ? base.slice(0, -extension.length) : base)
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return JOB_NAME_PATTERN.test(stem) ? stem : 'job';
}

export function rejectionRecordName(name: string): string {
  return `${REJECTED_PREFIX}${name}.json`;
}

/** Problems in what the user uploaded: recorded once, never retried (a retry cannot fix the blob). */
export function userInputIssues(error: unknown): { code: string; issues: ValidationIssue[] } | undefined {
  if (error instanceof SpecValidationError) return { code: error.code, issues: [...error.issues] };
  if (error instanceof InputPathError) {
    return { code: error.code, issues: [{ path: 'inputs', message: error.message }] };
  }
  return undefined;
}
