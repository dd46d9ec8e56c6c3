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

function parseSpec(value: unknown) {
  return jobSpecSchema.safeParse(value, { error: plainMessages, reportInput: true });
}

/**
 * The single gate for a spec value from any source (YAML, JSON, HTTP, the ParallelJob constructor):
 * key screening, then the schema, then cross-field checks. Every problem found is returned at once.
 */
export function validateJobValue(raw: unknown): JobValidation {
  const screened = screenKeys(raw);
  const parsed = parseSpec(screened.value);
  const schemaIssues = parsed.success ? [] : fromZodIssues(parsed.error.issues);
  // Cross-field checks need a schema-valid spec: without one, check what remains once the invalid
  // fields are taken out (their defaults apply), so that one round of fixes is enough.
  const checkable = parsed.success ? parsed.data : withoutFields(screened.value, schemaIssues);
  const checked = checkable ? checkJobSpec(checkable) : { issues: [], warnings: [] };
  const issues = [...screened.issues, ...schemaIssues, ...checked.issues];
  const warnings = [...screened.warnings, ...checked.warnings];
  if (parsed.success && issues.length === 0) return { ok: true, spec: parsed.data, warnings };
  return { ok: false, issues, warnings };
}

/** The spec parsed with the fields named by `issues` removed, or undefined if it still fails. */
function withoutFields(value: unknown, issues: readonly PathIssue[]): JobSpec | undefined {
  if (issues.some((issue) => issue.path.length === 0)) return undefined;
  const copy: unknown = structuredClone(value);
  // Last first, so that removing a list element does not shift the indices still to be removed.
  for (const { path } of [...issues].reverse()) deletePath(copy, path);
  const reparsed = parseSpec(copy);
  return reparsed.success ? reparsed.data : undefined;
}

function deletePath(value: unknown, path: readonly (string | number)[]): void {
  let node = value;
  for (const segment of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<string | number, unknown>)[segment];
  }
  if (typeof node !== 'object' || node === null) return;
  const last = path[path.length - 1]!;
  if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1);
  else delete (node as Record<string | number, unknown>)[last];
}
