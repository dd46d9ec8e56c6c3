import type { z } from 'zod';
import type { ValidationIssue } from '../errors';

/** A validation problem before it is given a YAML position: the path stays structured. */
export interface PathIssue {
  path: (string | number)[];
  message: string;
}

/** `retry_settings.timeout`, `partition_keys[0]`, `inputs.data.path`. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (text, segment) =>
      typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment,
    '',
  );
}

type ZodIssue = z.core.$ZodIssue;

/**
 * Zod issues as PathIssues. A union that failed is reported through the branch that matched the
 * value's shape (so a bad field inside an input mapping is named), otherwise with the union's message.
 */
export function fromZodIssues(issues: readonly ZodIssue[], prefix: (string | number)[] = []): PathIssue[] {
  return issues.flatMap((issue) => fromZodIssue(issue, prefix));
}

function fromZodIssue(issue: ZodIssue, prefix: (string | number)[]): PathIssue[] {
  const path = [
    ...prefix,
    ...issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment)),
  ];
  if (issue.code === 'invalid_union') {
    const shaped = issue.errors.find(
      (branch) => branch.length > 0 && branch.every((inner) => inner.path.length > 0),
    );
    if (shaped) return fromZodIssues(shaped, path);
  }
  if (issue.code === 'invalid_key') return fromZodIssues(issue.issues, path);
  return [{ path, message: issue.message }];
}

export function toValidationIssue(
  issue: PathIssue,
  position?: { line: number; column: number },
): ValidationIssue {
  return { path: formatPath(issue.path), message: issue.message, ...position };
}
