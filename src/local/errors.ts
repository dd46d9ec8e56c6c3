/**
 * Errors of the local host with a stable `code` (the host is generic, so it does not use the app's
 * error classes). Messages say what to change.
 */
export type LocalHostErrorCode =
  | 'STORAGE_PORT_TAKEN'
  | 'STORAGE_START_FAILED'
  | 'STORAGE_FOLDER_BUSY'
  | 'STORAGE_STOP_FAILED'
  | 'DATA_DIR_IN_USE';

export class LocalHostError extends Error {
  constructor(
    readonly code: LocalHostErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LocalHostError';
  }
}
