import Module from 'node:module';

export interface NodeModuleClass {
  new (id: string, parent: null): { filename: string; paths: string[]; require(id: string): unknown };
  prototype: { require: (id: string) => unknown };
  _nodeModulePaths(dir: string): string[];
  _cache: Record<string, unknown>;
}

/**
 * Node's own Module class. Under jest, `require('node:module')` is a subclass whose createRequire and
 * prototype belong to jest's registry; the real class is the base of that chain.
 */
export function realModuleClass(): NodeModuleClass {
  // Walk to the base of the class chain: libraries may also patch the subclass's prototype.
  let found: unknown = Module;
  let candidate: unknown = Object.getPrototypeOf(Module);
  while (typeof candidate === 'function' && typeof (candidate as { _load?: unknown })._load === 'function') {
    found = candidate;
    candidate = Object.getPrototypeOf(candidate);
  }
  return found as NodeModuleClass;
}

/**
 * The environment the app sees. Under jest, `process.env` is a per-file copy, while the app runs on
 * Node's own loader and reads the real one; settings the host applies must reach both.
 */
export function appEnvironments(): NodeJS.ProcessEnv[] {
  const RealModule = realModuleClass();
  const anchor = new RealModule(__filename, null);
  anchor.filename = __filename;
  const real = (anchor.require('node:process') as NodeJS.Process).env;
  return real === process.env ? [process.env] : [process.env, real];
}
