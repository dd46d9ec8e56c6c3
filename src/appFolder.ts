import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The app's folder: the one holding host.json, found upward from this module (src/ in tests, dist/src/
 * when compiled; in Azure, the deployed app's root). Undefined when there is none.
 */
export function appFolder(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'host.json'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * A file the app ships in src/ beside its code (the pages' stylesheet and script, the Python runner), by its
 * path under src/. Compiled code runs from dist/src/, so the file is looked for in the app's src/, which is
 * deployed without its .ts files (.funcignore, the container's Dockerfile).
 */
export function shippedFile(underSrc: string): string {
  return path.join(appFolder() ?? path.resolve(__dirname, '..'), 'src', underSrc);
}
