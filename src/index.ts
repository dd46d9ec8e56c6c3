// The library surface: `import { ParallelJob, loadJob } from 'parallel-job'`.
export * from './errors';
export { startAzurite } from './local/azurite';
export * from './spec';
export { startLocalHost } from './local';
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
  RunResult,
  FailedItem,
} from './task/contract';
