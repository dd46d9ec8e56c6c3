// The spec module's public surface.
export * from './effective';
export {
  jobSpecSchema,
  retrySettingsSchema,
  taskSchema,
  resourcesSchema,
  identitySchema,
  dataInputSchema as dataInputSpecSchema,
  outputSchema as outputSpecSchema,
  JOB_NAME_PATTERN,
  MAX_TIMEOUT_SECONDS,
  isDataInput,
} from './schema';
export type {
  JobSpec,
  JobSpecInput,
  DataInputSpec,
  OutputSpec,
  TaskSpec,
  RetrySettingsSpec,
  ResourcesSpec,
  IdentitySpec,
  InputValueSpec,
} from './schema';
export { loadJobSpec, parseJobText, parseJobValue } from './load';
export { MAX_SPEC_BYTES } from './limits';
export type { LoadedJob, ParseJobTextOptions } from './load';
export { validateJobValue } from './validate';
export type { JobValidation } from './validate';
export { resolveJob, RUNNER_DEFAULTS } from './resolve';
export type { ResolveJobOptions } from './resolve';
export { dumpJob, specToPlain, specToYaml } from './dump';
export type { DumpOptions } from './dump';
export { ParallelJob, loadJob } from './parallelJob';
export type { CreationContext, SubmissionState, ParallelJobOptions } from './parallelJob';
export { jobStatusSchema, isTerminalStatus } from './status';
export type { JobStatus } from './status';
export {
  parseMiniBatchSize,
  MINI_BATCH_SIZE_PATTERN,
  DEFAULT_FILES_PER_MINI_BATCH,
  DEFAULT_BYTES_PER_MINI_BATCH,
} from './miniBatchSize';
export { DEFAULT_APPEND_ROW_FILE } from './outputs';
export { readRunnerFlags, RUNNER_FLAGS } from './runnerFlags';
export type { RunnerFlagValues } from './runnerFlags';
export { splitShellWords } from './shellWords';
