import {
  ParallelJobError,
  StorageAccessDeniedError,
  StorageError,
  StorageNotFoundError,
  StorageTransientError,
} from '../errors';

interface ErrorShape {
  statusCode?: unknown;
  code?: unknown;
  message?: unknown;
}

const TRANSIENT_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
/** Node and SDK codes for a connection that failed or dropped: the request may not have reached storage. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'REQUEST_SEND_ERROR',
  'UND_ERR_SOCKET',
]);

function shape(error: unknown): ErrorShape {
  return typeof error === 'object' && error !== null ? error : {};
}

export function statusOf(error: unknown): number | undefined {
  const status = shape(error).statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function isStatus(error: unknown, status: number): boolean {
  return statusOf(error) === status;
}

/** Turns an SDK or network error into the project's storage error for that container/blob. */
export function toStorageError(error: unknown, container: string, blob?: string): ParallelJobError {
  if (error instanceof ParallelJobError) return error;
  const { code, message } = shape(error);
  const status = statusOf(error);
  const cause = { cause: error };
  if (status === 404) {
    // The container is named alone when it is the container that is missing.
    return new StorageNotFoundError(container, code === 'ContainerNotFound' ? undefined : blob, cause);
  }
  if (status === 401 || status === 403) return new StorageAccessDeniedError(container, blob, status, cause);
  if (
    (status !== undefined && TRANSIENT_STATUSES.has(status)) ||
    (typeof code === 'string' && TRANSIENT_CODES.has(code))
  ) {
    return new StorageTransientError(
      container,
      blob,
      status,
      typeof code === 'string' ? code : 'connection failed',
      cause,
    );
  }
  if (status === undefined && (error as Error | undefined)?.name === 'AbortError') {
    return new StorageTransientError(container, blob, undefined, 'request aborted', cause);
  }
  const detail = typeof message === 'string' ? (message.split('\n')[0] ?? message) : String(error);
  return new StorageError(
    container,
    blob,
    status,
    typeof code === 'string' ? `${code}: ${detail}` : detail,
    cause,
  );
}
