import { specSizeProblem } from './limits';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SpecValidationError, type ValidationIssue } from '../errors';
import { toValidationIssue, type PathIssue } from './issues';
import type { JobSpec } from './schema';
import { validateJobValue } from './validate';
import { parseYaml, type Position } from './yamlText';

/** A validated spec and what the user should hear about it. */
export interface LoadedJob {
  spec: JobSpec;
  /** Non-fatal findings: ignored Azure ML keys, near-miss runner flags, conflicts. */
  warnings: string[];
  /** Folder of the spec file; `task.code` is relative to it in local runs. */
  baseDir?: string;
  /** Where the spec came from (a file path, a blob name), for messages. */
  source?: string;
}

export interface ParseJobTextOptions {
  /** Default: JSON when the text starts with `{`, YAML otherwise. */
  format?: 'yaml' | 'json';
  source?: string;
  baseDir?: string;
}

type Locate = (path: readonly (string | number)[]) => Position | undefined;

function fail(issues: readonly ValidationIssue[], source?: string): never {
  throw new SpecValidationError(issues, source);
}

function looksLikeText(pathOrText: string): boolean {
  return pathOrText.includes('\n') || pathOrText.trimStart().startsWith('{');
}

/**
 * The plain spec from a file path, or from YAML/JSON text (anything with a newline or starting with `{`),
 * with its warnings and folder. `loadJob` (parallelJob.ts) gives the job entity instead.
 */
export function loadJobSpec(pathOrText: string): LoadedJob {
  if (looksLikeText(pathOrText)) return parseJobText(pathOrText);
  const file = path.resolve(pathOrText);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return fail(
      [{ path: '', message: `cannot read the spec file ${file} (${reason}); check the path` }],
      pathOrText,
    );
  }
  const format = path.extname(file).toLowerCase() === '.json' ? 'json' : undefined;
  return parseJobText(text, { format, source: pathOrText, baseDir: path.dirname(file) });
}

export function parseJobText(text: string, options: ParseJobTextOptions = {}): LoadedJob {
  const { source, baseDir } = options;
  const tooLarge = specSizeProblem(text);
  if (tooLarge) fail([{ path: '', message: tooLarge }], source);
  const format = options.format ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  const { value, locate } = format === 'json' ? readJson(text, source) : readYaml(text, source);
  return withOrigin(validated(value, locate, source), baseDir, source);
}

/** For values that are already parsed (HTTP JSON bodies, queue messages). */
export function parseJobValue(value: unknown, source?: string): LoadedJob {
  return withOrigin(
    validated(value, () => undefined, source),
    undefined,
    source,
  );
}

function withOrigin(
  job: Omit<LoadedJob, 'baseDir' | 'source'>,
  baseDir?: string,
  source?: string,
): LoadedJob {
  return {
    ...job,
    ...(baseDir !== undefined ? { baseDir } : {}),
    ...(source !== undefined ? { source } : {}),
  };
}

function validated(value: unknown, locate: Locate, source?: string): Omit<LoadedJob, 'baseDir' | 'source'> {
  const result = validateJobValue(value);
  if (!result.ok) fail(positioned(result.issues, locate), source);
  return { spec: result.spec, warnings: result.warnings };
}

function positioned(issues: readonly PathIssue[], locate: Locate): ValidationIssue[] {
  return issues.map((issue) => toValidationIssue(issue, locate(issue.path)));
}

function readYaml(text: string, source?: string): { value: unknown; locate: Locate } {
  const parsed = parseYaml(text);
  if (!parsed.ok)
    return fail(
      parsed.issues.map((issue) => ({ ...issue, path: '' })),
      source,
    );
  return parsed;
}

function readJson(text: string, source?: string): { value: unknown; locate: Locate } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(
      [{ path: '', message: `JSON: ${(error as Error).message}`, ...jsonErrorPosition(text, error) }],
      source,
    );
  }
  // JSON is YAML, so the YAML parser can still say where each field is.
  const positions = parseYaml(text);
  return { value, locate: positions.ok ? positions.locate : () => undefined };
}

function jsonErrorPosition(text: string, error: unknown): Partial<Position> {
  const offset = /position (\d+)/.exec((error as Error).message)?.[1];
  if (offset === undefined) return {};
  const before = text.slice(0, Number(offset)).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}
