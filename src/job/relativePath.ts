import path from 'node:path';

/**
 * `task.code` and `task.entry_script` name files inside a folder the app controls (the tasks root, or
 * the spec's folder locally). A path that could leave that folder would let a spec load arbitrary code.
 * Returns why `value` is not acceptable, or undefined when it is.
 */
export function relativePathProblem(value: string, insideWhat: string): string | undefined {
  const inside = `must be a relative path that stays inside ${insideWhat}`;
  if (value.trim() === '') return `must not be empty; give a relative path inside ${insideWhat}`;
  if (value.includes('\0')) return `${inside}; it contains a NUL character`;
  if (/^[A-Za-z]:/.test(value)) return `${inside}; "${value}" starts with a drive letter`;
  if (value.startsWith('/') || value.startsWith('\\')) return `${inside}; "${value}" is an absolute path`;
  if (value.includes(':')) {
    return `${inside}; "${value}" looks like a URL or an azureml: asset, and remote code is not supported`;
  }
  const normalized = path.posix.normalize(value.replace(/\\/g, '/'));
  if (normalized === '..' || normalized.startsWith('../'))
    return `${inside}; "${value}" escapes it with ".."`;
  return undefined;
}
