/**
 * The codes a mini-batch attempt's receipt carries when it did not succeed, in one place: the task
 * runtime sets them, the orchestrators decide on them (retry, final, or the job's end), and they reach
 * job_result.json, manifest.json and the pages. Python's runner (src/task/python/parallel_job_runner.py)
 * answers with the same task codes. A leaf module: the orchestrators import it.
 */
export const AttemptCodes = {
  /** The task cannot run at all (its module does not load, init() failed too often): the job stops. */
  taskBroken: 'TASK_BROKEN',
  initFailed: 'TASK_INIT_FAILED',
  runFailed: 'TASK_RUN_FAILED',
  badResult: 'TASK_BAD_RESULT',
  timeout: 'TASK_TIMEOUT',
  workerCrashed: 'TASK_WORKER_CRASHED',
  /** An input blob changed after planning: the job reads only the versions it planned. */
  inputChanged: 'INPUT_CHANGED',
  tabularParseFailed: 'TABULAR_PARSE_FAILED',
  parquetUnreadable: 'PARQUET_UNREADABLE',
  /** What the attempt wrote into its output folders cannot be published. */
  outputFilesRefused: 'OUTPUT_FILES_REFUSED',
  /** The attempt's activity failed after its retries: recorded as a failed attempt. */
  activityFailed: 'ACTIVITY_FAILED',
  /** The job's places refused the attempt (settings changed since submission): the job stops. */
  dataPlaceRefused: 'DATA_PLACE_REFUSED',
  /** The entry script is no longer where the job's task names it: the job stops. */
  taskPathInvalid: 'TASK_PATH_INVALID',
  /** What reports say of a failed or partial receipt that carries no code of its own. */
  failed: 'TASK_FAILED',
  partialResult: 'TASK_PARTIAL_RESULT',
} as const;

export type AttemptCode = (typeof AttemptCodes)[keyof typeof AttemptCodes];

/** The codes a worker answers with; the others are the runtime's own. */
export type WorkerFailureCode = Extract<
  AttemptCode,
  | 'TASK_BROKEN'
  | 'TASK_INIT_FAILED'
  | 'TASK_RUN_FAILED'
  | 'TASK_BAD_RESULT'
  | 'TASK_TIMEOUT'
  | 'INPUT_CHANGED'
>;

/**
 * Failures of the mini-batch itself (its data, or what its task wrote): final at once, neither retried
 * (they would fail again) nor the end of the job.
 */
export const MINI_BATCH_FAILURE_CODES: readonly string[] = [
  AttemptCodes.inputChanged,
  AttemptCodes.tabularParseFailed,
  AttemptCodes.parquetUnreadable,
  AttemptCodes.outputFilesRefused,
];
