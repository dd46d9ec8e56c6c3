import { z } from 'zod';
import { parseMiniBatchSize } from './miniBatchSize';
import { relativePathProblem } from './relativePath';

/** Field builders whose error messages say what the value must be, so every field reads the same way. */

function describe(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (typeof input === 'string') return `the string "${input}"`;
  if (Array.isArray(input)) return 'a list';
  if (input === null) return 'null';
  if (typeof input === 'object') return 'a mapping';
  return typeof input === 'number' || typeof input === 'boolean' ? String(input) : typeof input;
}

export function mustBe(rule: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? `is required: give ${rule}` : `must be ${rule}; got ${describe(issue.input)}`;
}

export interface NumberRule {
  rule: string;
  integer?: boolean;
  min?: number;
  /** True when `min` itself is not allowed, e.g. timeouts `(0, 259200]`. */
  minExclusive?: boolean;
  max?: number;
}

export function boundedNumber({ rule, integer, min, minExclusive, max }: NumberRule) {
  const error = mustBe(rule);
  let schema = z.number({ error });
  if (integer) schema = schema.int({ error });
  if (min !== undefined) schema = minExclusive ? schema.gt(min, { error }) : schema.gte(min, { error });
  if (max !== undefined) schema = schema.lte(max, { error });
  return schema.transform(withoutNegativeZero);
}

/** JSON cannot carry -0, so the spec never holds one: the wire form must load back equal. */
export function withoutNegativeZero(value: number): number {
  return Object.is(value, -0) ? 0 : value;
}

export function text(rule = 'a string') {
  return z.string({ error: mustBe(rule) });
}

/** `dict[str, str]` in Azure ML; numbers and booleans are written as strings, as YAML users expect. */
export function stringMap(keyPattern?: RegExp, keyRule?: string) {
  const key = keyPattern
    ? z.string().regex(keyPattern, { error: `${keyRule ?? 'a valid key'}` })
    : z.string();
  const value = z
    .union([z.string(), z.number(), z.boolean()], { error: mustBe('a string, number or boolean') })
    .transform(String);
  return z.record(key, value, { error: mustBe('a mapping of names to strings') });
}

export function relativePath(insideWhat: string) {
  return text(`a relative path inside ${insideWhat}`).superRefine((value, ctx) => {
    const problem = relativePathProblem(value, insideWhat);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

export const miniBatchSizeField = z
  .union([z.string(), z.number()], {
    error: mustBe('a whole number of files, or a size such as 1mb for tabular input'),
  })
  .superRefine((value, ctx) => {
    const parsed = parseMiniBatchSize(value);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
  });

/** Data paths must be something blob storage (or a local folder in local mode) can serve. */
export function dataPathProblem(value: string): string | undefined {
  const use =
    'use a blob URL (https://<account>.blob.core.windows.net/<container>/<path>) or <container>/<path>';
  if (value.trim() === '') return `must not be empty; ${use}`;
  if (/^azureml:/i.test(value))
    return `Azure ML asset references and azureml:// paths are not supported; ${use}`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'https' && scheme !== 'http') {
    return `${scheme}:// paths are not supported; ${use}`;
  }
  return undefined;
}

export function dataPath() {
  return text('a blob URL or <container>/<path>').superRefine((value, ctx) => {
    const problem = dataPathProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}
