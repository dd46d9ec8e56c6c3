/**
 * The languages an entry script may be written in, by its file extension. A leaf module: the spec checks
 * (src/job) and the runtime (src/task) both read it.
 */
export const JAVASCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'] as const;
export const PYTHON_EXTENSIONS = ['.py'] as const;
export const TASK_MODULE_EXTENSIONS = [...JAVASCRIPT_EXTENSIONS, ...PYTHON_EXTENSIONS] as const;

const endsWithOneOf = (file: string, extensions: readonly string[]): boolean =>
  extensions.some((extension) => file.toLowerCase().endsWith(extension));

export function isTaskModule(entryScript: string): boolean {
  return endsWithOneOf(entryScript, TASK_MODULE_EXTENSIONS);
}

/** A Python entry script: it runs on Python worker processes, not on worker threads. */
export function isPythonModule(entryScript: string): boolean {
  return endsWithOneOf(entryScript, PYTHON_EXTENSIONS);
}
