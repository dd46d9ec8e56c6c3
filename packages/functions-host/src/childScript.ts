import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The script `name` beside `moduleFile`, in the form that module runs in: compiled JavaScript, or
 * TypeScript under tsx (the package's tests run the sources), which the child then needs as its loader.
 */
export function siblingScript(moduleFile: string, name: string): { script: string; loader: string[] } {
  const extension = path.extname(moduleFile);
  return {
    script: path.join(path.dirname(moduleFile), `${name}${extension}`),
    loader: extension === '.ts' ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [],
  };
}
