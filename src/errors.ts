import { z } from 'zod';
import { AttemptCodes } from './failureCodes';

/**
 * Every error the project raises on purpose is a ParallelJobError with a stable `code`.
 * Callers branch on `code` (it survives JSON and the activity boundary), never on the message,
 * which is written for people: it says what went wrong and what to change.
 */
export abstract class ParallelJobError extends Error {
  abstract readonly code: string;
  /** True when the same call may succeed if simply tried again (throttling, a dropped connection). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }

  /**
   * The status of an HTTP answer that carries this error: 400 (the request has to change) unless a class
   * says otherwise, 503 when the same request may succeed later. The answer's body is `toJSON()`.
   */
  get httpStatus(): number {
    return this.retryable ? 503 : 400;
  }

  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/**
 * A fault of the app itself (a bug, not the user's data or settings): what reasons and answers say in its
 * place, with the id under which the app's log has the details (the error, its stack).
 */
export class InternalError extends ParallelJobError {
  readonly code = 'INTERNAL';
  constructor(readonly errorId: string) {
    super(`an unexpected error in the app; its details are in the app's log under error id ${errorId}`);
  }

  override get httpStatus(): number {
    return 500;
  }
}

/** One problem found while validating user input; `path` is the field path, e.g. `retry_settings.timeout`. */
export const validationIssueSchema = z.object({
  path: z.string(),
  message: z.string(),
  /** YAML position of the field, when the input was YAML text. */
  line: z.number().optional(),
  column: z.number().optional(),
});
export type ValidationIssue = z.infer<typeof validationIssueSchema>;

/** `path (line L, column C): message` for one problem. */
export function formatIssue(issue: ValidationIssue): string {
  const where = issue.line === undefined ? '' : ` (line ${issue.line}, column ${issue.column ?? 1})`;
  return `${issue.path || '(root)'}${where}: ${issue.message}`;
}

export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((issue) => `  - ${formatIssue(issue)}`).join('\n');
}

/**
 * A job named a storage place outside the ones the app's settings allow it (checked where the path is
 * used, so a job record edited in storage cannot widen what its job may touch).
 */
export class DataPlaceRefusedError extends ParallelJobError {
  readonly code = AttemptCodes.dataPlaceRefused;
  constructor(
    readonly what: string,
    readonly problem: string,
  ) {
    super(`${what}: ${problem}.`);
  }
}

/** A blob name that storage would resolve somewhere else (`..` segments, backslashes, control characters). */
export class UnsafeBlobNameError extends ParallelJobError {
  readonly code = 'BLOB_NAME_UNSAFE';
  constructor(
    readonly container: string,
    readonly blob: string,
    problem: string,
  ) {
    super(`The blob name '${blob}' in container '${container}' ${problem}; it is not used.`);
  }
}

/** The job spec (YAML, JSON or constructor fields) is not valid. Carries every problem at once. */
export class SpecValidationError extends ParallelJobError {
  readonly code = 'SPEC_INVALID';
  constructor(
    readonly issues: readonly ValidationIssue[],
    readonly source?: string,
  ) {
    super(
      `The job spec${source ? ` ${source}` : ''} is not valid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}`,
    );
  }

  /** With every problem, so that a client can point at each field (the HTTP API's 400 answer). */
  override toJSON(): { name: string; code: string; message: string; issues: readonly ValidationIssue[] } {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** An app setting is missing or malformed; raised at start-up by the composition root. */
export class ConfigError extends ParallelJobError {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly issues: readonly ValidationIssue[]) {
    super(`The app settings are not valid:\n${formatIssues(issues)}`);
  }

  /** The app's settings, not the request, have to change. */
  override get httpStatus(): number {
    return 500;
  }
}

/** Where a storage error happened, for the message: the container and, when there is one, the blob. */
function storageTarget(container: string, blob?: string): string {
  return blob === undefined ? `container '${container}'` : `blob '${blob}' in container '${container}'`;
}

/** A container or blob the job needs does not exist. */
export class StorageNotFoundError extends ParallelJobError {
  readonly code = 'STORAGE_NOT_FOUND';
  constructor(
    readonly container: string,
    readonly blob: string | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `The ${storageTarget(container, blob)} does not exist. Check the name and that it was created in the storage account the app uses.`,
      options,
    );
  }
}

/** The app's identity or key may not read or write the container or blob. */
export class StorageAccessDeniedError extends ParallelJobError {
  readonly code = 'STORAGE_ACCESS_DENIED';
  constructor(
    readonly container: string,
    readonly blob: string | undefined,
    readonly status: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `Access to the ${storageTarget(container, blob)} was denied${status ? ` (HTTP ${status})` : ''}. ` +
        'Check the connection string or key, or give the app identity the "Storage Blob Data Contributor" role on the account.',
      options,
    );
  }
}

/** Throttling, a server error or a dropped connection: the same call may succeed when tried again. */
export class StorageTransientError extends ParallelJobError {
  readonly code = 'STORAGE_TRANSIENT';
  override readonly retryable = true;
  constructor(
    readonly container: string,
    readonly blob: string | undefined,
    readonly status: number | undefined,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `Storage did not answer for the ${storageTarget(container, blob)} (${status ? `HTTP ${status}` : detail}). ` +
        'This is usually temporary (throttling or a dropped connection); it will be retried. If it persists, check that the storage account is reachable.',
      options,
    );
  }
}

/** Any other storage failure (a bad request, a conflict the caller did not expect). */
export class StorageError extends ParallelJobError {
  readonly code = 'STORAGE_ERROR';
  constructor(
    readonly container: string,
    readonly blob: string | undefined,
    readonly status: number | undefined,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `Storage refused an operation on the ${storageTarget(container, blob)}${status ? ` (HTTP ${status})` : ''}: ${detail}`,
      options,
    );
  }
}

/** A blob's content does not have the shape the project expects (a damaged or foreign JSON file). */
export class StorageContentError extends ParallelJobError {
  readonly code = 'STORAGE_CONTENT_INVALID';
  constructor(
    readonly container: string,
    readonly blob: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `The ${storageTarget(container, blob)} does not hold what was expected: ${detail}. It may have been written by another version or edited by hand; delete it and re-run the step that writes it.`,
      options,
    );
  }
}

/** An input `path` the app cannot use (an Azure ML URI, another scheme, an empty path). */
export class InputPathError extends ParallelJobError {
  readonly code = 'INPUT_PATH_INVALID';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`The input path '${path}' cannot be used: ${reason}`);
  }
}

/**
 * A blob of the input changed after the job was planned. The job reads only the versions it planned, so
 * that its output never mixes versions of one file; it is not retried.
 */
export class InputChangedError extends ParallelJobError {
  readonly code = AttemptCodes.inputChanged;
  constructor(
    readonly container: string,
    readonly blob: string,
    options?: ErrorOptions,
  ) {
    super(
      `The input blob '${blob}' in container '${container}' changed after the job was planned, so this mini-batch did not read it: a job reads only the versions it planned. A re-run reads those same versions and cannot read this one either; start a new job to process the new data.`,
      options,
    );
  }
}

/** The input path resolves to nothing in storage. */
export class InputNotFoundError extends ParallelJobError {
  readonly code = 'INPUT_NOT_FOUND';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`The input '${path}' was not found: ${detail}`);
  }
}

/** The input exists but cannot be planned as declared (mixed table formats, missing partition keys). */
export class InputLayoutError extends ParallelJobError {
  readonly code = 'INPUT_LAYOUT_INVALID';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`The input '${path}' cannot be split as declared: ${detail}`);
  }
}

/** A tabular record could not be parsed while reading a mini-batch's byte range. */
export class TabularParseError extends ParallelJobError {
  readonly code = AttemptCodes.tabularParseFailed;
  constructor(
    readonly blob: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `Could not read records from '${blob}': ${detail}. Check that the file is valid CSV (with a header line), JSON Lines or Parquet.`,
      options,
    );
  }
}

/**
 * A Parquet file that cannot be read as one: no footer (a truncated or unfinished file), a footer that
 * does not parse, or one that names bytes outside the file. The file's other readers would fail the same
 * way, so it is not retried.
 */
export class ParquetFileError extends ParallelJobError {
  readonly code = AttemptCodes.parquetUnreadable;
  constructor(
    readonly blob: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `'${blob}' cannot be read as Parquet: ${detail}. Write the file again (a file still being written, or cut short by a failed copy, has no footer yet), or move it out of the input.`,
      options,
    );
  }
}

/**
 * A side input (a uri_folder or uri_file input other than input_data, such as a model) that tasks cannot
 * get on disk: larger than the app allows, or naming a file that is not there.
 */
export class SideInputError extends ParallelJobError {
  readonly code = 'SIDE_INPUT_INVALID';
  constructor(
    /** `inputs.<name>.path`. */
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/**
 * What an attempt wrote into its output folders cannot be published: a symbolic link or a name that leaves
 * the folder, a file another mini-batch wrote, more than the cap. Not retried: the task writes the same.
 */
export class OutputFilesRefusedError extends ParallelJobError {
  readonly code = AttemptCodes.outputFilesRefused;
}

/** A Python entry script where the app cannot run Python (no interpreter, or Flex Consumption). */
export class PythonUnavailableError extends ParallelJobError {
  readonly code = 'PYTHON_UNAVAILABLE';
}

/** `task.code` + `task.entry_script` do not name a module file inside the tasks root. */
export class TaskPathError extends ParallelJobError {
  readonly code = AttemptCodes.taskPathInvalid;
}

/** `dump()` was given a path that already exists and no `overwrite: true`. */
export class JobSpecExistsError extends ParallelJobError {
  readonly code = 'SPEC_EXISTS';
  constructor(readonly path: string) {
    super(`${path} already exists; pass { overwrite: true } to replace it, or choose another path`);
  }
}

/** `dump()` could not write: the stream is not writable, or the file could not be created. */
export class JobSpecWriteError extends ParallelJobError {
  readonly code = 'SPEC_WRITE_FAILED';
}

/** A job id that names no job (no job record, or no orchestration instance). */
export class JobNotFoundError extends ParallelJobError {
  readonly code = 'JOB_NOT_FOUND';
  constructor(readonly jobId: string) {
    super(`No job '${jobId}' was found. Check the id (parallel-job list shows recent jobs).`);
  }

  override get httpStatus(): number {
    return 404;
  }
}

/** A job exists but has no such output or log file (or it is not written yet). */
export class JobFileNotFoundError extends ParallelJobError {
  readonly code = 'JOB_FILE_NOT_FOUND';
  constructor(
    readonly jobId: string,
    readonly file: string,
  ) {
    super(
      `Job '${jobId}' has no file '${file}'. Outputs and logs appear when the job ends; GET /api/jobs/${jobId} lists them.`,
    );
  }

  override get httpStatus(): number {
    return 404;
  }
}

/** A request that cannot be honoured in the job's current state (e.g. re-running a job still running). */
export class JobStateError extends ParallelJobError {
  readonly code = 'JOB_STATE_CONFLICT';

  override get httpStatus(): number {
    return 409;
  }
}

/** A Service Bus function did not receive the SDK-type message context it settles messages through. */
export class ServiceBusBindingError extends ParallelJobError {
  readonly code = 'SERVICE_BUS_BINDING';
  constructor(
    readonly functionName: string,
    readonly problems: readonly string[],
  ) {
    super(
      `Function '${functionName}' did not receive a Service Bus message context (${problems.join('; ')}). ` +
        "Register its trigger with sdkBinding: true and autoCompleteMessages: false, and import '@azure/functions-extensions-servicebus' in the file that registers it.",
    );
  }
}

/** A schedule (a `schedules/<name>.yml` blob or a PARALLEL_JOB_SCHEDULES entry) cannot be used. */
export class ScheduleValidationError extends ParallelJobError {
  readonly code = 'SCHEDULE_INVALID';
  constructor(
    readonly schedule: string,
    readonly issues: readonly ValidationIssue[],
    readonly source?: string,
  ) {
    super(
      `The schedule '${schedule}'${source ? ` ${source}` : ''} is not valid (${issues.length} problem${issues.length === 1 ? '' : 's'}); no job starts from it until it is fixed:\n${formatIssues(issues)}`,
    );
  }
}

/** A blob trigger's metadata does not say which blob fired (its path does not end in `{name}`). */
export class BlobTriggerBindingError extends ParallelJobError {
  readonly code = 'BLOB_TRIGGER_BINDING';
  constructor(readonly functionName: string) {
    super(
      `Function '${functionName}' received no blob name in its trigger metadata (neither 'name' nor 'blobTrigger'). Declare its path as '<container>/{name}'.`,
    );
  }
}

/** Some schedules could not be read or submitted this tick (storage or Durable trouble); later ticks retry them. */
export class ScheduleRunError extends ParallelJobError {
  readonly code = 'SCHEDULE_RUN_FAILED';
  override readonly retryable = true;
  constructor(readonly failures: readonly { schedule: string; message: string }[]) {
    super(
      `${failures.length} schedule${failures.length === 1 ? '' : 's'} could not be run this tick; the next ticks try again while the occurrence is at most two minutes old:\n` +
        failures.map((failure) => `  - ${failure.schedule}: ${failure.message}`).join('\n'),
    );
  }
}

/** An HTTP body larger than the route reads; refused before (or while) it is read. */
export class RequestTooLargeError extends ParallelJobError {
  readonly code = 'REQUEST_TOO_LARGE';
  constructor(
    readonly limitBytes: number,
    readonly what = 'A job spec',
  ) {
    super(
      `${what} may be at most ${limitBytes.toLocaleString('en-US')} bytes; this request is larger and was not read. ` +
        'Put large data in storage and refer to it from the spec (inputs.<name>.path), not in the spec itself.',
    );
  }

  override get httpStatus(): number {
    return 413;
  }
}

/** A signed download link that does not verify (edited, for another file, from another deployment) or has expired. */
export class DownloadLinkError extends ParallelJobError {
  readonly code = 'LINK_INVALID';
  constructor(readonly lifetimeMinutes: number) {
    super(
      `This download link is not valid or has expired (links last ${lifetimeMinutes} minutes). ` +
        'Open the job status page again for fresh links, or call GET /api/jobs/{id}/files/... with a function key.',
    );
  }

  override get httpStatus(): number {
    return 403;
  }
}

/**
 * The attempts of a job do not fit its plan: an attempt names a mini-batch past the planned ones, or the
 * listing is not in (mini-batch, attempt) order. The mini-batch grid is not drawn from such a listing.
 */
export class MiniBatchReportError extends ParallelJobError {
  readonly code = 'MINI_BATCH_REPORT_INVALID';
  constructor(
    readonly jobId: string,
    detail: string,
  ) {
    super(
      `The attempts of job '${jobId}' do not match its plan: ${detail}. The job folder may have been edited; the job's status and counters are unaffected.`,
    );
  }
}
