/**
 * Messages between the pool (main thread) and its workers. Both ends are this package, so these are
 * plain types; what comes from users (the task module's return value) is checked inside the worker.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ArgvPart } from '../job/effective';
import type { FailedItem, TabularRecord, TaskInput } from './contract';
import type { BadRowGroup, ParquetPart, PythonColumnKind } from '../plan/parquetRows';
import type { WorkerFailureCode } from '../failureCodes';

export type { ArgvPart } from '../job/effective';

/** How a worker reaches input blobs for `FileHandle`s. Never logged. */
export interface WorkerStorageAccess {
  /** Used when its account is the input's account (Azurite, key-based deployments). */
  connectionString?: string;
  /** Otherwise the worker signs in with DefaultAzureCredential, using this managed identity if set. */
  managedIdentityClientId?: string;
}

export interface WorkerData {
  modulePath: string;
  storage: WorkerStorageAccess;
  /** The pool's folder: its workers' folders, and the files of finished attempts (see workerFolders.ts). */
  poolDir: string;
}

/** What a task needs about its job; identical for every attempt that may share a warm worker. */
export interface JobContextData {
  jobId: string;
  /** `program_arguments` split like a shell, bindings resolved to their storage paths (what runner flags read). */
  argv: string[];
  /**
   * The same tokens as parts: side inputs (`${{inputs.model}}`) and uri_folder outputs (`${{outputs.x}}`)
   * become local paths in each worker, as Azure ML's mounts do. Absent: `argv` as it is.
   */
  argvParts?: ArgvPart[][];
  inputs: Record<string, TaskInput>;
  outputs: Record<string, { type: string; path: string }>;
  /** Where each side input is on this host (the read-only cache): a folder, or a file for uri_file. */
  localInputs: Record<string, string>;
  /** The uri_folder outputs: every worker has a folder for each, emptied between attempts. */
  folderOutputs: string[];
  /** The output that Python's `EntryScript().output_dir` stands for (append_row's folder, else the first). */
  outputDirOf?: string;
  environmentVariables: Record<string, string>;
  loggingLevel: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
}

export type BatchData =
  | {
      kind: 'files';
      location: { accountUrl: string; container: string };
      /** `etag` pins the version planned: a read of a changed blob fails with INPUT_CHANGED. */
      files: { name: string; size: number; etag?: string }[];
      partitionKeyValue?: Record<string, string>;
    }
  | {
      kind: 'records';
      records: TabularRecord[];
      partitionKeyValue?: Record<string, string>;
    }
  /**
   * Parquet row groups as read at their planned version by the activity, decoded into records in the worker
   * (a JavaScript task): decoded rows cost as much to clone across threads as to decode.
   */
  | {
      kind: 'parquet';
      parts: ParquetPart[];
      /** on_bad_record: fail_mini_batch: a row group that does not decode stops the attempt before run(). */
      failOnBadRowGroup: boolean;
      partitionKeyValue?: Record<string, string>;
    }
  /** Files already downloaded at their planned version (Python's `run` gets local paths). */
  | { kind: 'paths'; paths: string[]; names: string[]; partitionKeyValue?: Record<string, string> }
  /**
   * A table's good records as files in their own format, for pandas to read (Python's DataFrame); the
   * record at a position is made on this side only when `fail()` names it.
   */
  | {
      kind: 'table';
      format: 'csv' | 'jsonl' | 'parquet';
      files: string[];
      count: number;
      /** Parquet's columns in order, with the kind the runner gives each its type back by. */
      columns?: { name: string; python: PythonColumnKind }[];
      recordAt(position: number): TabularRecord | undefined;
      partitionKeyValue?: Record<string, string>;
    };

/** One attempt, whatever the language of the task. */
export interface WorkerAttempt {
  job: JobContextData;
  batch: BatchData;
  miniBatchIndex: number;
  attempt: number;
  timeoutMs: number;
  /** False for summary_only: rows are counted by the result length but not serialized. */
  serializeRows: boolean;
  /** Upper bound on captured log text per attempt. */
  maxLogBytes: number;
}

/** A worker thread's attempt message. */
export interface AttemptTask extends WorkerAttempt {
  type: 'attempt';
  /** Log lines, phase changes and the end marker travel here, so they survive a terminated worker. */
  port: MessagePort;
}

export interface ShutdownTask {
  type: 'shutdown';
  /** Int32 counter: every shutdown task waits until all have arrived, so each lands on its own worker. */
  barrier: SharedArrayBuffer;
  participants: number;
  waitMs: number;
}

export type WorkerTask = AttemptTask | ShutdownTask;

export type PortMessage =
  | { type: 'phase'; phase: 'init' | 'run'; workerId: string }
  | { type: 'log'; line: string }
  | { type: 'end' };

export type { WorkerFailureCode } from '../failureCodes';

/** What decoding a Parquet batch in the worker found; `ran` is false when run() was not called for it. */
export interface DecodedRows {
  items: number;
  badRowGroups: BadRowGroup[];
  ran: boolean;
}

interface AttemptResultBase {
  workerId: string;
  /** Set for a Parquet batch: the rows decoded (the items), and the row groups that failed. */
  decoded?: DecodedRows;
  /** The files the attempt wrote into its output and log folders, moved aside (see workerFolders.ts). */
  files?: string;
  /** True when this attempt ran init() successfully (the worker's first task). */
  initRan: boolean;
  initMs: number;
  runMs: number;
  warnings: string[];
}

export type AttemptResult =
  | (AttemptResultBase & {
      ok: true;
      resultLength: number;
      /** Rows joined, each newline-terminated; empty when not serialized. */
      rows: string;
      failedItems: FailedItem[];
    })
  | (AttemptResultBase & { ok: false; code: WorkerFailureCode; message: string });

export interface ShutdownResult {
  workerId: string;
  ranShutdown: boolean;
  error?: string;
}
