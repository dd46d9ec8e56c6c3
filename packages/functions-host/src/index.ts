export {
  startLocalHost,
  formatFunctionList,
  type LocalHost,
  type LocalHostOptions,
  type LocalHostStats,
} from './host';
export { runHostCommand, hostCommand, type HostCommandOptions } from './main';
export type { FunctionInfo } from './types';
export { startAzurite, type RunningAzurite, type AzuriteOptions } from './azurite';
export { openStorage, STANDARD_PORTS, type LocalStorage, type StoragePorts } from './storage';
export {
  LocalHostError,
  LocalHostConfigError,
  LocalHostAppLoadError,
  LocalHostServiceBusError,
  type LocalHostErrorCode,
} from './errors';
