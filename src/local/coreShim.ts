import { realModuleClass } from './nodeModule';
import type { FunctionMetadata, FunctionCallback, HookCallback, HookName } from './types';

/** What a host must provide while an app is loading: a place for registrations and hooks. */
export interface RegistrationSink {
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): void;
  unregisterFunction(id: string): void;
  registerHook(name: HookName, callback: HookCallback): () => void;
  systemLog(level: string, category: string, message: string): void;
}

class Disposable {
  constructor(private readonly onDispose: () => unknown) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): unknown {
    return this.onDispose();
  }
}

let currentSink: RegistrationSink | undefined;
/** The most recently started host receives system logs issued outside of loading. */
let logSink: RegistrationSink | undefined;
let programmingModel: unknown;
let installed = false;

/**
 * The `@azure/functions-core` object. `@azure/functions` caches it for the life of the process, so it is
 * one object for every host; calls go to whichever host is loading (or running) at the time.
 */
const coreApi = {
  version: '4.0.0-local',
  hostVersion: '4.1000.0-parallel-job-local',
  Disposable,
  setProgrammingModel(model: unknown): void {
    programmingModel = model;
  },
  getProgrammingModel(): unknown {
    return programmingModel;
  },
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
    const sink = requireSink();
    sink.registerFunction(metadata, callback);
    const id = metadata.functionId ?? metadata.name;
    return new Disposable(() => sink.unregisterFunction(id));
  },
  registerHook(name: HookName, callback: HookCallback): Disposable {
    return new Disposable(requireSink().registerHook(name, callback));
  },
  log(level: string, category: string, message: string): void {
    (currentSink ?? logSink)?.systemLog(level, category, message);
  },
};

function requireSink(): RegistrationSink {
  if (!currentSink) throw new Error('A function can only be registered during app startup.');
  return currentSink;
}

/**
 * Supplies `@azure/functions-core` the way the real Node worker does: a Proxy on Module.prototype.require.
 * Installed once per process; jest's module registry does not pass through it, so apps are loaded with
 * Node's own loader (see appLoader).
 */
export function installCoreShim(): void {
  if (installed) return;
  installed = true;
  const proto = realModuleClass().prototype;
  proto.require = new Proxy(proto.require, {
    apply(target, thisArg: unknown, args: [string]) {
      return args[0] === '@azure/functions-core' ? coreApi : Reflect.apply(target, thisArg, args);
    },
  });
}

/** Routes registrations to `sink` until the returned function is called. */
export function beginRegistration(sink: RegistrationSink): () => void {
  currentSink = sink;
  logSink = sink;
  return () => {
    if (currentSink === sink) currentSink = undefined;
  };
}
