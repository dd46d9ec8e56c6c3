import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { TaskPathError } from '../errors';
import { isTaskModule, TASK_MODULE_EXTENSIONS } from './languages';

export { isPythonModule } from './languages';

/**
 * Resolves `task.code` + `task.entry_script` to the real path of the task module, confined to
 * `tasksRoot`. Symbolic links are followed before the check, so a link pointing outside the root is
 * refused like `../` is. The spec module checks the syntax; this checks the file system.
 */
export function resolveTaskModule(tasksRoot: string, code: string, entryScript: string): string {
  let root: string;
  try {
    root = realpathSync(tasksRoot);
  } catch {
    throw new TaskPathError(
      `The tasks root ${tasksRoot} does not exist: set PARALLEL_JOB_TASKS_ROOT to the folder that holds the task code.`,
    );
  }
  const wanted = path.resolve(root, code, entryScript);
  let real: string;
  try {
    real = realpathSync(wanted);
  } catch {
    throw new TaskPathError(
      `The entry script ${path.join(code, entryScript)} was not found under the tasks root ${root}: check task.code and task.entry_script.`,
    );
  }
  const relative = path.relative(root, real);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new TaskPathError(
      `The entry script ${path.join(code, entryScript)} resolves outside the tasks root ${root}: task.code and task.entry_script must name a file inside it.`,
    );
  }
  if (!statSync(real).isFile()) {
    throw new TaskPathError(
      `The entry script ${path.join(code, entryScript)} is not a file: name a module file.`,
    );
  }
  if (!isTaskModule(real)) {
    throw new TaskPathError(
      `The entry script ${path.join(code, entryScript)} is not a task module: use a Python script or a JavaScript or TypeScript module (${TASK_MODULE_EXTENSIONS.join(', ')}).`,
    );
  }
  return real;
}
