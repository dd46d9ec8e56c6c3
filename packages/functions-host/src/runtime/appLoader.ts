import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import fg from 'fast-glob';
import { LocalHostAppLoadError, LocalHostConfigError } from '../errors';
import { beginRegistration, installCoreShim, type RegistrationSink } from './coreShim';
import {
  hostJsonSchema,
  localSettingsSchema,
  packageJsonSchema,
  type FunctionCallback,
  type FunctionMetadata,
  type HookCallback,
  type HookName,
  type HostJson,
  type Registration,
} from './types';

export interface LoadedApp {
  appDir: string;
  entryFiles: string[];
  registrations: Map<string, Registration>;
  hooks: Map<HookName, HookCallback[]>;
  /** `require` rooted at the app, so classes come from the same module copies the app uses. */
  appRequire: (id: string) => unknown;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new LocalHostConfigError(
      `Cannot read ${file}: ${(error as Error).message}. Fix the JSON and start again.`,
    );
  }
}

export function readHostJson(appDir: string): HostJson {
  const file = path.join(appDir, 'host.json');
  if (!fs.existsSync(file)) {
    throw new LocalHostConfigError(
      `No host.json in ${appDir}. A Functions app needs one (at least {"version": "2.0"}); create it and start again.`,
    );
  }
  const parsed = hostJsonSchema.safeParse(readJson(file));
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new LocalHostConfigError(`host.json in ${appDir} is not valid: ${problems}`);
  }
  return parsed.data;
}

/** local.settings.json Values, as strings (absent file = no values). */
export function readLocalSettings(appDir: string): Record<string, string> {
  const file = path.join(appDir, 'local.settings.json');
  if (!fs.existsSync(file)) return {};
  const parsed = localSettingsSchema.safeParse(readJson(file));
  if (!parsed.success) {
    throw new LocalHostConfigError(`local.settings.json in ${appDir} is not valid: ${parsed.error.message}`);
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed.data.Values ?? {})) values[key] = String(value);
  return values;
}

/** Replaces `%Name%` with the app setting `Name`, as the Functions host does for host.json and binding values. */
export function resolveSettingRefs(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/%([^%]+)%/g, (whole, name: string) => env[name] ?? whole);
}

/** The entry files named by package.json "main" (a path or a glob), relative to the app folder. */
export function findEntryFiles(appDir: string): string[] {
  const pkgFile = path.join(appDir, 'package.json');
  if (!fs.existsSync(pkgFile)) {
    throw new LocalHostConfigError(`No package.json in ${appDir}. Point the host at a Functions app folder.`);
  }
  const pkg = packageJsonSchema.safeParse(readJson(pkgFile));
  const main = pkg.success ? pkg.data.main : undefined;
  if (!main) {
    throw new LocalHostConfigError(
      `package.json in ${appDir} has no "main". Set it to the compiled function files, e.g. "dist/src/functions/*.js".`,
    );
  }
  const files = fg.isDynamicPattern(main)
    ? fg.sync(main, { cwd: appDir, absolute: true, onlyFiles: true }).sort()
    : [path.resolve(appDir, main)].filter((file) => fs.existsSync(file));
  if (files.length === 0) {
    throw new LocalHostConfigError(
      `package.json "main" is "${main}" but no file in ${appDir} matches it. ` +
        'Build the app first (for a TypeScript app: npm run build) or fix "main".',
    );
  }
  return files;
}

/** Drops the app's own modules (not its node_modules) from Node's cache so a new host loads them afresh. */
function forgetAppModules(appDir: string): void {
  const root = path.resolve(appDir) + path.sep;
  const modules = path.sep + 'node_modules' + path.sep;
  const cache = require.cache;
  for (const file of Object.keys(cache)) {
    if (file.startsWith(root) && !file.slice(root.length - 1).includes(modules)) delete cache[file];
  }
}

/**
 * Loads the app with a `require` rooted at its folder, through which the `@azure/functions-core` shim
 * applies, and collects every registration and hook.
 */
export async function loadApp(appDir: string, systemLog: RegistrationSink['systemLog']): Promise<LoadedApp> {
  const entryFiles = findEntryFiles(appDir);
  installCoreShim();
  forgetAppModules(appDir);
  const registrations = new Map<string, Registration>();
  const hooks = new Map<HookName, HookCallback[]>();
  const sink: RegistrationSink = {
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback) {
      const id = metadata.functionId ?? metadata.name;
      if (registrations.has(id)) throw new Error(`A function with id "${id}" has already been registered.`);
      registrations.set(id, { metadata, callback });
    },
    unregisterFunction(id) {
      registrations.delete(id);
    },
    registerHook(name, callback) {
      const list = hooks.get(name) ?? [];
      list.push(callback);
      hooks.set(name, list);
      return () => {
        const index = list.indexOf(callback);
        if (index >= 0) list.splice(index, 1);
      };
    },
    systemLog,
  };
  const appRequire = createRequire(path.join(path.resolve(appDir), 'package.json'));
  const end = beginRegistration(sink);
  try {
    for (const file of entryFiles) {
      try {
        appRequire(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw error;
        // An ES module entry: Node's ESM loader still resolves @azure/functions through CommonJS.
        await import(new URL(`file://${file}`).href);
      }
    }
  } catch (error) {
    throw new LocalHostAppLoadError(`Loading ${appDir} failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    end();
  }
  if (registrations.size === 0) {
    throw new LocalHostAppLoadError(
      `The entry files of ${appDir} (${entryFiles.length}) registered no functions. ` +
        'Register functions with app.http(...), df.app.orchestration(...) etc. from @azure/functions / durable-functions.',
    );
  }
  return { appDir, entryFiles, registrations, hooks, appRequire };
}
