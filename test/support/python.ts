import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BatchData, JobContextData } from '../../src/task/protocol';

/**
 * The interpreter the Python tests use: PARALLEL_JOB_PYTHON, or Debian's python3, which
 * test/support/ensure-test-packages.js (run before `npm test`) gives pandas.
 */
export const TEST_PYTHON = process.env.PARALLEL_JOB_PYTHON ?? '/usr/bin/python3';

export const PYTHON_FIXTURES = path.resolve(__dirname, '../fixtures/tasks/python');

/** A job context for pool tests: no inputs or outputs unless given. */
export function pythonJob(overrides: Partial<JobContextData> = {}): JobContextData {
  return {
    jobId: 'job-py',
    argv: [],
    inputs: {},
    outputs: {},
    localInputs: {},
    folderOutputs: [],
    environmentVariables: {},
    loggingLevel: 'INFO',
    ...overrides,
  };
}

/** Files named `<name>.txt` holding `content` (the name by default), as a Python mini-batch of local paths. */
export function pathsBatch(
  names: readonly string[],
  content?: (name: string) => string,
): Extract<BatchData, { kind: 'paths' }> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'pj-py-batch-'));
  const paths = names.map((name) => {
    const file = path.join(folder, `${name}.txt`);
    writeFileSync(file, content ? content(name) : name);
    return file;
  });
  return { kind: 'paths', paths, names: names.map((name) => `data/${name}.txt`) };
}

/** An interpreter that runs TEST_PYTHON without its site packages: Python without pandas. */
export function pythonWithoutSitePackages(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'pj-py-nosite-'));
  const wrapper = path.join(folder, 'python-no-site');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${TEST_PYTHON} -S "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}
