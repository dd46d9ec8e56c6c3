// The library surface: `import { ParallelJob, loadJob } from 'parallel-job'`.
export * from './errors';
export * from './job';
export {
  startAzurite,
  startLocalHost,
  LocalHostError,
  LocalHostConfigError,
  LocalHostAppLoadError,
  LocalHostServiceBusError,
} from '@parallel-job/functions-host';
export type {
  TaskModule,
  InitContext,
  MiniBatchContext,
  FileHandle,
  TabularRecord,
  MiniBatchItem,
  ProgramArguments,
  TaskLogger,
  TaskLogLevel,
  TaskInput,
  TaskOutput,
  RunResult,
  FailedItem,
} from './task/contract';
export { BlobStore, type BlobInfo, type BlobStoreOptions } from './storage/blobStore';
export { resolveInputLocation, uploadLocalFolder } from './storage/inputs';
export { planJob, readPlanPage, planRequestSchema, type PlanRequest } from './plan/planner';
export { previewPlan } from './plan/preview';
export {
  readTabularRange,
  readTabularFile,
  scanTabularRange,
  scanTabularFile,
  type BadRecord,
  type TabularRead,
} from './plan/tabular';
export {
  ParallelJobClient,
  ApiError,
  nextContinuation,
  type ClientOptions,
  type SubmitResult,
} from './client/client';
export {
  miniBatchReportSchema,
  miniBatchStateSchema,
  type JobView,
  type MiniBatchReport,
  type MiniBatchState,
  type PlanPreview,
} from './api/wire';
