/**
 * The entry-script contract: what a task module exports and what it receives. Types only; the runtime
 * that honours them is `pool.ts` (main thread) and `worker.ts` (inside the worker threads).
 *
 * A task module is a `.js`, `.cjs`, `.mjs`, `.ts`, `.cts` or `.mts` file. It exports `run` and, optionally,
 * `init` and `shutdown`, either as CommonJS (`module.exports = { run }`, `exports.run = ...`) or as ESM
 * named exports or a default export object (`export default { init, run }`). TypeScript files are loaded
 * through tsx inside the worker: no build step.
 *
 * @example
 * ```ts
 * import type { FileHandle, MiniBatchContext } from 'parallel-job';
 * let model: Map<string, number>;
 * export async function init() { model = new Map(); }
 * export async function run(files: FileHandle[], ctx: MiniBatchContext) {
 *   const rows: string[] = [];
 *   for (const file of files) {
 *     const text = await file.text();
 *     if (!text) ctx.fail(file, 'empty file');
 *     else rows.push(`${file.name},${text.length}`);
 *   }
 *   return rows;
 * }
 * ```
 */
import type { Readable } from 'node:stream';

/** Parsed `program_arguments`: `--key value` and `--key=value` give strings, a lone `--flag` gives true. */
export interface ProgramArguments {
  /** Named options without their leading dashes; a repeated option keeps its last value. */
  readonly options: Readonly<Record<string, string | true>>;
  /** Tokens that belong to no option, in order. */
  readonly positionals: readonly string[];
  /** Every token, unparsed, the way a shell would split `program_arguments`. */
  readonly argv: readonly string[];
}

/** One input file of a mini-batch. Reading is lazy: the worker downloads the blob only when asked. */
export interface FileHandle {
  /** Blob name inside the input container (for example `images/cat-001.png`). */
  readonly name: string;
  /** The blob's URL; it carries no credentials. */
  readonly url: string;
  /** Size in bytes when the plan was made. */
  readonly size: number;
  /** The whole blob as UTF-8 text. */
  text(): Promise<string>;
  /** The whole blob as bytes. */
  buffer(): Promise<Buffer>;
  /** The blob as a stream, for files too large to hold in memory. */
  stream(): Promise<Readable>;
}

/** A tabular item: one CSV row keyed by the header, or one parsed JSON Lines value. */
export type TabularRecord = Record<string, unknown>;

/** A mini-batch item: a file handle for file input, a record for tabular input. */
export type MiniBatchItem = FileHandle | TabularRecord;

export type TaskLogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

/**
 * Writes to the attempt's log (`user/mini_batch_<index>/attempt_<n>.log.txt`, or the worker's init log
 * for `init()`). `console.*` calls made while the task runs are captured the same way. Lines below the
 * job's `logging_level` are dropped.
 */
export interface TaskLogger {
  debug(...values: unknown[]): void;
  info(...values: unknown[]): void;
  warn(...values: unknown[]): void;
  error(...values: unknown[]): void;
}

/**
 * A job input as the task sees it: a literal, or a reference to data. A side input (a uri_folder or
 * uri_file input other than `input_data`, such as a model) is downloaded once per host into a read-only
 * cache: `localPath` is its folder there (or the file, for uri_file), the path `${{inputs.<name>}}` in
 * `program_arguments` stands for.
 */
export type TaskInput =
  | string
  | number
  | boolean
  | { readonly type: string; readonly path: string; readonly mode: string; readonly localPath?: string };

/**
 * A job output as the task sees it. A uri_folder output has a local folder, `dir` (the path
 * `${{outputs.<name>}}` in `program_arguments` stands for): the files an attempt writes there are uploaded
 * under the output's path when the attempt succeeds, and discarded when it fails (see docs/python-tasks.md,
 * "Output folders").
 */
export interface TaskOutput {
  readonly type: string;
  /** `<container>/<path>` or a blob URL. */
  readonly path: string;
  readonly dir?: string;
}

/** What `init()` receives: everything about the job, nothing about a mini-batch. */
export interface InitContext {
  readonly args: ProgramArguments;
  readonly inputs: Readonly<Record<string, TaskInput>>;
  readonly outputs: Readonly<Record<string, TaskOutput>>;
  /** A folder of this worker: files written here are kept with the attempt's logs. */
  readonly logDir: string;
  /** The job's `environment_variables`; they are also set on `process.env` of the worker. */
  readonly environmentVariables: Readonly<Record<string, string>>;
  /** Stable for the worker's lifetime; a replaced worker gets a new id. */
  readonly workerId: string;
  readonly logger: TaskLogger;
  /** Shorthand for `logger.info`. */
  log(...values: unknown[]): void;
}

/** What `run()` receives next to the mini-batch. */
export interface MiniBatchContext extends InitContext {
  /** The job this mini-batch belongs to. (init() has none: a warm worker may serve several runs of a job.) */
  readonly jobId: string;
  /** Position of the mini-batch in the plan (0-based). */
  readonly miniBatchIndex: number;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Key values of the partition this mini-batch holds (set only with `partition_keys`). */
  readonly partitionKeyValue?: Readonly<Record<string, string>>;
  /**
   * Aborted when the attempt reaches `retry_settings.timeout`. A `run()` that honours it (for example by
   * passing it to `fetch`) may settle during a short grace period and keep its worker warm; otherwise
   * the worker is terminated. Either way the attempt fails with TASK_TIMEOUT.
   */
  readonly signal: AbortSignal;
  /**
   * Names an item of this mini-batch as failed, with the reason. Pass the item itself (the file handle or
   * the record object), or for file input its `name`. Each named item becomes one row of
   * `failed_items.jsonl`. Naming the same item twice counts it once (the first reason is kept); naming
   * something that is not in the mini-batch adds a warning to the attempt log and is otherwise ignored.
   */
  fail(item: MiniBatchItem | string, error: unknown): void;
}

/**
 * The value `run()` returns: one element per output row. How results are counted (`items` = mini-batch
 * length, `named` = distinct items passed to `ctx.fail`):
 *
 * - `succeeded = min(result.length, items - named)`; `failed = items - succeeded`.
 * - So returning one row per good item (`items - named` rows) gives exactly the named failures; a
 *   shorter result adds unnamed failures on top (the count contract of Azure ML: the runtime cannot
 *   tell which items they are); a result of `items` rows with named failures still counts the named
 *   items as failed.
 * - A result longer than `items` is capped for counting, with a warning in the attempt log; every
 *   returned element is still written (one input may give several rows).
 * - Anything that is not an array fails the attempt with TASK_BAD_RESULT.
 *
 * Rows for `append_row`: a string is written as is, a number, bigint or boolean through `String`, null and
 * undefined as an empty line, anything else through `JSON.stringify`; each row ends with a newline. A
 * function, a symbol or a value JSON cannot write fails the attempt with TASK_BAD_RESULT naming its
 * position, and so do rows past 64 MiB per mini-batch (MAX_ROWS_BYTES_PER_MINI_BATCH in results.ts).
 */
export type RunResult = readonly unknown[];

/** The shape of a task module. Only `run` is required. */
export interface TaskModule {
  /** Called once per worker, before its first mini-batch, and again in every replacement worker. */
  init?(context: InitContext): unknown;
  run(miniBatch: MiniBatchItem[], context: MiniBatchContext): RunResult | Promise<RunResult>;
  /** Called when a warm pool is drained normally; not after a timeout, a crash or an init failure. */
  shutdown?(): unknown;
}

/** One item named by `ctx.fail`, as recorded in the attempt record and `failed_items.jsonl`. */
export interface FailedItem {
  /** The file's blob name, or the record itself. */
  item: string | TabularRecord;
  /** Position of the item inside the mini-batch (0-based). */
  position: number;
  error: string;
}
