/**
 * Whether the app can run Python entry scripts here, asked at submission so that a job that could never
 * run is a 400 naming what to change, not a job that fails later.
 */
import { spawnSync } from 'node:child_process';

/** The oldest Python the runner supports. */
export const MIN_PYTHON: readonly [number, number] = [3, 8];

/**
 * Asks interpreters whether they can run entry scripts. A working one is remembered (one probe per app
 * and interpreter); a missing one is asked again, so installing it needs no restart.
 */
export class PythonProbe {
  private readonly working = new Map<string, string>();

  /** Why `python` cannot run the entry script, or undefined when it can. */
  problem(python: string): string | undefined {
    if (this.working.has(python)) return undefined;
    const problem = probe(python);
    if (typeof problem === 'string') return problem;
    this.working.set(python, problem.version);
    return undefined;
  }
}

/** Why `python` cannot run entry scripts, or its version. */
function probe(python: string): string | { version: string } {
  const answer = spawnSync(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (answer.error) {
    const reason =
      (answer.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'was not found'
        : `could not be started (${answer.error.message})`;
    return `the Python interpreter '${python}' ${reason}: install Python ${MIN_PYTHON.join('.')} or newer, or set the app setting PARALLEL_JOB_PYTHON to its path`;
  }
  if (answer.status !== 0) {
    return `the Python interpreter '${python}' (PARALLEL_JOB_PYTHON) did not start: ${(answer.stderr || `exit code ${answer.status}`).trim().split('\n').pop()}`;
  }
  const version = answer.stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    return `the Python interpreter '${python}' (PARALLEL_JOB_PYTHON) is Python ${version}; Python ${MIN_PYTHON.join('.')} or newer is needed`;
  }
  return { version };
}

/**
 * Why Python tasks cannot run on this app's hosting plan, or undefined. Flex Consumption promises no
 * interpreter, so there they are refused outright (docs/deploy.md: the container option runs them).
 */
export function hostingPlanProblem(settings: {
  PARALLEL_JOB_HOSTING_PLAN?: string;
  WEBSITE_SKU?: string;
}): string | undefined {
  const flex =
    settings.PARALLEL_JOB_HOSTING_PLAN === 'flexconsumption' ||
    settings.WEBSITE_SKU?.toLowerCase() === 'flexconsumption';
  return flex
    ? 'this app runs on Flex Consumption, which runs JavaScript and TypeScript tasks only; deploy the container option to run Python entry scripts (docs/deploy.md, "Hosting plans: which tasks run where"), or port the script to a .js or .ts module'
    : undefined;
}
