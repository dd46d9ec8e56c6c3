/**
 * Errors of the local host with a stable `code`. The host is generic (it must host any Functions app,
 * not only this one), so it has its own error classes and imports nothing from the app's. Messages say
 * what to change.
 */
export type LocalHostErrorCode =
  | 'STORAGE_PORT_TAKEN'
  | 'STORAGE_START_FAILED'
  | 'STORAGE_FOLDER_BUSY'
  | 'STORAGE_STOP_FAILED'
  | 'STORAGE_VERSION'
  | 'DATA_DIR_IN_USE'
  | 'LOCAL_HOST_CONFIG'
  | 'LOCAL_HOST_APP_LOAD'
  | 'LOCAL_HOST_SERVICE_BUS';

export class LocalHostError extends Error {
  constructor(
    readonly code: LocalHostErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LocalHostError';
  }
}

/** The local host cannot start the given app folder (missing package.json "main", no files, bad host.json). */
export class LocalHostConfigError extends LocalHostError {
  constructor(message: string) {
    super('LOCAL_HOST_CONFIG', message);
    this.name = 'LocalHostConfigError';
  }
}

/** Loading the app's entry files failed, or they registered something the local host cannot run. */
export class LocalHostAppLoadError extends LocalHostError {
  constructor(message: string) {
    super('LOCAL_HOST_APP_LOAD', message);
    this.name = 'LocalHostAppLoadError';
  }
}

/** The local host could not serve Service Bus message settlement (gRPC) for an SDK-type binding. */
export class LocalHostServiceBusError extends LocalHostError {
  constructor(message: string) {
    super('LOCAL_HOST_SERVICE_BUS', message);
    this.name = 'LocalHostServiceBusError';
  }
}
