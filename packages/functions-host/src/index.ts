// The package's one entry point (package.json `exports`): everything an app, its CLI or its tests use.

// The host: load a Functions app, serve it, run its orchestrations.
export {
  startLocalHost,
  formatFunctionList,
  type LocalHost,
  type LocalHostOptions,
  type LocalHostStats,
} from './host';
export { runHostCommand, hostCommand, type HostCommandOptions } from './main';
export type { FunctionInfo } from './runtime/types';
export { startChildLocalHost, type ChildLocalHost, type LocalHostChildOptions } from './hostChild';

// Storage: Azurite in this process, or the storage process of a data folder.
export { startAzurite, type RunningAzurite, type AzuriteOptions } from './storage/azurite';
export {
  openStorage,
  readStorageState,
  isAlive,
  probePort,
  stopProcess,
  STANDARD_PORTS,
  type LocalStorage,
  type StoragePorts,
} from './storage/localStorage';
export { DEV_ACCOUNT, DEV_ACCOUNT_KEY, parseConnectionString } from './storage/connectionString';

// Durable: the history's event numbers, the durable client binding the host gives functions, and the
// durable-functions version whose orchestrator state the engine reads (an app on another version of its
// major gets a warning at start, one on another major is refused).
export { EventType } from './durable/history';
export { durableClientInput } from './durable/api';
export { DURABLE_FUNCTIONS_VERSION } from './durable/sdkShapes';

export {
  LocalHostError,
  LocalHostConfigError,
  LocalHostAppLoadError,
  LocalHostServiceBusError,
  type LocalHostErrorCode,
} from './errors';
