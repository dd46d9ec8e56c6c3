import Module from 'node:module';
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

interface ShimState {
  /** The host that is loading an app right now. */
  currentSink: RegistrationSink | undefined;
  /** The most recently started host receives system logs issued outside of loading. */
  logSink: RegistrationSink | undefined;
  programmingModel: unknown;
  installed: boolean;
  coreApi: object;
}

function requireSink(state: ShimState): RegistrationSink {
  if (!state.currentSink) throw new Error('A function can only be registered during app startup.');
  return state.currentSink;
}

function createState(): ShimState {
  const state: ShimState = {
    currentSink: undefined,
    logSink: undefined,
    programmingModel: undefined,
    installed: false,
    coreApi: {},
  };
  state.coreApi = {
    version: '4.0.0-local',
    hostVersion: '4.1000.0-parallel-job-local',
    Disposable,
    setProgrammingModel(model: unknown): void {
      state.programmingModel = model;
    },
    getProgrammingModel(): unknown {
      return state.programmingModel;
    },
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
      const sink = requireSink(state);
      sink.registerFunction(metadata, callback);
      const id = metadata.functionId ?? metadata.name;
      return new Disposable(() => sink.unregisterFunction(id));
    },
    registerHook(name: HookName, callback: HookCallback): Disposable {
      return new Disposable(requireSink(state).registerHook(name, callback));
    },
    log(level: string, category: string, message: string): void {
      (state.currentSink ?? state.logSink)?.systemLog(level, category, message);
    },
  };
  return state;
}

/**
 * One core API object for the process: `@azure/functions` caches it in Node's module cache for the
 * life of the process, so every host started in the process shares it (and its state).
 */
const shim = createState();

/**
 * Supplies `@azure/functions-core` the way the real Node worker does: a Proxy on Module.prototype.require.
 * Installed once per process.
 */
export function installCoreShim(): void {
  if (shim.installed) return;
  shim.installed = true;
  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  proto.require = new Proxy(proto.require, {
    apply(target, thisArg: unknown, args: [string]) {
      return args[0] === '@azure/functions-core' ? shim.coreApi : Reflect.apply(target, thisArg, args);
    },
  });
}

/** Routes registrations to `sink` until the returned function is called. */
export function beginRegistration(sink: RegistrationSink): () => void {
  shim.currentSink = sink;
  shim.logSink = sink;
  return () => {
    if (shim.currentSink === sink) shim.currentSink = undefined;
  };
}
