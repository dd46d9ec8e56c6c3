import path from 'node:path';
import { stringify } from 'yaml';
import { SpecValidationError, type ValidationIssue } from '../../../src/errors';
import { parseJobText, parseJobValue, type LoadedJob } from '../../../src/job';

export type Spec = Record<string, unknown>;

/** The smallest valid spec; tests override single fields. */
export function minimalSpec(overrides: Spec = {}): Spec {
  return {
    input_data: '${{inputs.data}}',
    inputs: { data: { path: 'inputs/data' } },
    task: { entry_script: 'score.ts' },
    ...overrides,
  };
}

export function withTask(task: Spec, overrides: Spec = {}): Spec {
  return minimalSpec({ task: { entry_script: 'score.ts', ...task }, ...overrides });
}

/**
 * Runs `load`, asserts it throws `errorClass` (a SpecValidationError unless told), and returns its
 * issues.
 */
export function issuesFrom(
  load: () => unknown,
  errorClass: abstract new (...args: never[]) => { issues: readonly ValidationIssue[] } = SpecValidationError,
): readonly ValidationIssue[] {
  let thrown: unknown;
  try {
    load();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(errorClass);
  return (thrown as { issues: readonly ValidationIssue[] }).issues;
}

/** The spec fixtures, and the realistic ones every loader test walks. */
export const SPEC_FIXTURES = path.join(__dirname, '../../fixtures/specs');
export const REALISTIC_SPECS = [
  'file-append-row.yml',
  'tabular-size-batches.yml',
  'partitioned.yml',
  'thresholds-and-flags.yml',
  'azureml-docs-style.yml',
  'http-body.json',
];

export function valueIssues(value: unknown): readonly ValidationIssue[] {
  return issuesFrom(() => parseJobValue(value));
}

export function yamlIssues(value: unknown): readonly ValidationIssue[] {
  return issuesFrom(() => parseJobText(stringify(value)));
}

export function load(value: Spec): LoadedJob {
  return parseJobValue(value);
}
