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

/** Runs `load`, asserts it throws a SpecValidationError, and returns its issues. */
export function issuesFrom(load: () => unknown): readonly ValidationIssue[] {
  let thrown: unknown;
  try {
    load();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(SpecValidationError);
  return (thrown as SpecValidationError).issues;
}

export function valueIssues(value: unknown): readonly ValidationIssue[] {
  return issuesFrom(() => parseJobValue(value));
}

export function yamlIssues(value: unknown): readonly ValidationIssue[] {
  return issuesFrom(() => parseJobText(stringify(value)));
}

export function load(value: Spec): LoadedJob {
  return parseJobValue(value);
}
