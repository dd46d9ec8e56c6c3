import { z } from 'zod';
import { checkJobSpec } from './checks';
import { fromZodIssues, type PathIssue } from './issues';
import { screenKeys } from './keys';
import { jobSpecSchema, type JobSpec } from './schema';

export type JobValidation =
  { ok: true; spec: JobSpec; warnings: string[] } | { ok: false; issues: PathIssue[]; warnings: string[] };

/** Fallback wording for zod's own messages, for the few places without a field-specific one. */
const plainMessages: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return undefined;
};

/**
 * The single gate for a spec value from any source (YAML, JSON, HTTP, the ParallelJob constructor):
 * key screening, then the schema, then cross-field checks. Every problem found is returned at once;
 * cross-field checks need a schema-valid spec, so they add to the list only when the schema passed.
 */
export function validateJobValue(raw: unknown): JobValidation {
  const screened = screenKeys(raw);
  const parsed = jobSpecSchema.safeParse(screened.value, { error: plainMessages, reportInput: true });
  const issues = [...screened.issues, ...(parsed.success ? [] : fromZodIssues(parsed.error.issues))];
  if (!parsed.success) return { ok: false, issues, warnings: screened.warnings };
  const checked = checkJobSpec(parsed.data);
  const warnings = [...screened.warnings, ...checked.warnings];
  issues.push(...checked.issues);
  return issues.length ? { ok: false, issues, warnings } : { ok: true, spec: parsed.data, warnings };
}
