import Module from 'node:module';
import path from 'node:path';

/*
 * Why these exist: the e2e tests (through test/support/productHost.ts and the local-host tests) start the
 * host inside jest's process, where `require`, `Module.createRequire`, `process` and `process.env` are
 * per-test-file copies, while the app the host loads runs on Node's own loader. Outside jest every helper
 * here is a plain pass-through. Dropping them means running those tests' hosts in child processes, which
 * changes what the tests can observe (stats, in-process hooks); that is a change of its own, not part of a
 * layout step, so they stay.
 */

export interface NodeModuleClass {
  new (id: string, parent: null): { filename: string; paths: string[]; require(id: string): unknown };
  prototype: { require: (id: string) => unknown };
  _nodeModulePaths(dir: string): string[];
  _resolveFilename(request: string, parent: unknown): string;
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
 * A `require` that resolves like code in `file` does, through Node's Module.prototype.require. Built by
 * hand because jest replaces `Module.createRequire` with its own registry, which would bypass the core
 * shim and hand out jest's per-file copies of built-ins.
 */
export function requireFrom(file: string): {
  require: (id: string) => unknown;
  resolve: (id: string) => string;
} {
  const RealModule = realModuleClass();
  const anchor = new RealModule(file, null);
  anchor.filename = file;
  anchor.paths = RealModule._nodeModulePaths(path.dirname(file));
  return {
    require: (id) => anchor.require(id),
    resolve: (id) => RealModule._resolveFilename(id, anchor),
  };
}

/** Node's own `process` (under jest, `process` in a test's modules is a per-file copy). */
export function realProcess(): NodeJS.Process {
  return requireFrom(__filename).require('node:process') as NodeJS.Process;
}

/**
 * The environment the app sees. Under jest, `process.env` is a per-file copy, while the app runs on
 * Node's own loader and reads the real one; settings the host applies must reach both.
 */
export function appEnvironments(): NodeJS.ProcessEnv[] {
  const real = realProcess().env;
  return real === process.env ? [process.env] : [process.env, real];
}
