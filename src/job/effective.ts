import { z } from 'zod';

/**
 * The job after validation, defaults, bindings and runner flags: what every stage after submission
 * reads. Produced only by `resolveJob` (src/job); stored in the job record and never re-derived.
 */
export const inputTypeSchema = z.enum(['uri_folder', 'uri_file', 'mltable']);
export const outputTypeSchema = z.enum(['uri_folder', 'uri_file']);

export const dataInputSchema = z.object({
  type: inputTypeSchema,
  /** `<container>/<prefix>`, a blob URL, or (local mode only) a local folder path. */
  path: z.string(),
  mode: z.string(),
});
export type DataInput = z.infer<typeof dataInputSchema>;

export const literalInputSchema = z.union([z.string(), z.number(), z.boolean()]);

export const effectiveOutputSchema = z.object({
  type: outputTypeSchema,
  /** Always set after resolution: `<container>/<path>` or a blob URL. */
  path: z.string(),
});

/** A piece of a program argument: text, or a side input or uri_folder output resolved to a local path. */
export const argvPartSchema = z.union([
  z.string(),
  z.strictObject({ input: z.string() }),
  z.strictObject({ output: z.string() }),
]);
export type ArgvPart = z.infer<typeof argvPartSchema>;

export const loggingLevelSchema = z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR']);
export type LoggingLevel = z.infer<typeof loggingLevelSchema>;

export const effectiveSettingsSchema = z.object({
  /** Retries after the first attempt (so attempts = maxRetries + 1). */
  maxRetries: z.number().int().nonnegative(),
  /** Seconds one run() may take before its worker is terminated. */
  timeoutSeconds: z.number().positive(),
  maxConcurrencyPerInstance: z.number().int().positive(),
  instanceCount: z.number().int().positive(),
  /** Failed items allowed before the job aborts; -1 = no limit. */
  errorThreshold: z.number().int().min(-1),
  /** Failed mini-batches allowed before the job aborts; -1 = no limit. */
  miniBatchErrorThreshold: z.number().int().min(-1),
  /** Percent of failed mini-batches allowed, checked once all are scheduled; 100 = no limit. */
  allowedFailedPercent: z.number().min(0).max(100),
  taskOverheadTimeoutSeconds: z.number().positive(),
  progressUpdateTimeoutSeconds: z.number().positive(),
  firstTaskCreationTimeoutSeconds: z.number().positive(),
  copyLogsToParent: z.boolean(),
  /** `on_bad_record`: a table record that does not parse fails as an item, or fails its mini-batch. */
  onBadRecord: z.enum(['fail_item', 'fail_mini_batch']).default('fail_item'),
});
export type EffectiveSettings = z.infer<typeof effectiveSettingsSchema>;

/** The largest value of the runner's timeout flags (`--first_task_creation_timeout` and the others). */
export const MAX_RUNNER_TIMEOUT_SECONDS = 259_200;

export const effectiveJobSchema = z.object({
  name: z.string(),
  displayName: z.string().optional(),
  description: z.string().optional(),
  tags: z.record(z.string(), z.string()),
  /** The input that is split into mini-batches (the target of `input_data`). */
  inputData: dataInputSchema.extend({ name: z.string() }),
  /** Every declared input, literals and side inputs included, for the task context. */
  inputs: z.record(z.string(), z.union([literalInputSchema, dataInputSchema])),
  outputs: z.record(z.string(), effectiveOutputSchema),
  /** Set when `task.append_row_to` is given (append_row); absent means summary_only. */
  appendRowTo: z
    .object({
      output: z.string(),
      type: outputTypeSchema,
      path: z.string(),
      /** File name inside a uri_folder output; the file itself for uri_file. */
      fileName: z.string(),
    })
    .optional(),
  /** Files per mini-batch for file input; approximate bytes for tabular input. */
  miniBatchSize: z.number().int().positive(),
  miniBatchSizeUnit: z.enum(['files', 'bytes']),
  partitionKeys: z.array(z.string()).optional(),
  task: z.object({
    /** Folder of the task code, relative to the tasks root (validated to stay inside it). */
    code: z.string(),
    /** Module file inside `code`, e.g. `score.ts`. */
    entryScript: z.string(),
    /** `program_arguments` with bindings resolved. */
    programArguments: z.string(),
    /** The same, split into tokens the way a shell would (quotes respected). */
    argv: z.array(z.string()),
    /**
     * The tokens again, with each side input and uri_folder output binding left as a part for the worker
     * to resolve to a local path (src/task/args.ts); absent when `program_arguments` binds none.
     */
    argvParts: z.array(z.array(argvPartSchema)).optional(),
  }),
  /** Job-level and task-level environment variables merged (task wins). */
  environmentVariables: z.record(z.string(), z.string()),
  loggingLevel: loggingLevelSchema,
  settings: effectiveSettingsSchema,
  identity: z.object({ type: z.literal('managed'), clientId: z.string().optional() }).optional(),
  /** Non-fatal findings (ignored Azure ML keys, near-miss flags), shown to the user at submission. */
  warnings: z.array(z.string()),
});
export type EffectiveJob = z.infer<typeof effectiveJobSchema>;
