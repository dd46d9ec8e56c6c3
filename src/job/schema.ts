import { z } from 'zod';
import { loggingLevelSchema } from './effective';
import {
  boundedNumber,
  dataPath,
  miniBatchSizeField,
  mustBe,
  relativePath,
  stringMap,
  text,
  withoutNegativeZero,
} from './fields';

/**
 * The job spec as users write it: Azure ML's `type: parallel` fields with their YAML (snake_case)
 * names. Unknown keys are screened before this schema runs (see keys.ts), cross-field rules after it
 * (see checks.ts); `parseJobValue` is the one gate that applies all three.
 */

export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** Input, output and environment variable names: they appear in bindings and in the process env. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_TIMEOUT_SECONDS = 259_200;
export const BAD_RECORD_POLICIES = ['fail_item', 'fail_mini_batch'] as const;

const identifierRule = 'a name of letters, digits and underscores that does not start with a digit';

const threshold = boundedNumber({ rule: 'a whole number >= -1 (-1 = no limit)', integer: true, min: -1 });

export const retrySettingsSchema = z.strictObject(
  {
    /** Retries after the first attempt: the default 2 gives 3 attempts per mini-batch. */
    max_retries: boundedNumber({
      rule: 'a whole number >= 0 (retries after the first attempt)',
      integer: true,
      min: 0,
    }).default(2),
    /** Seconds one run() may take; the worker is terminated when it passes. */
    timeout: boundedNumber({
      rule: `a number of seconds greater than 0 and at most ${MAX_TIMEOUT_SECONDS} (3 days)`,
      min: 0,
      minExclusive: true,
      max: MAX_TIMEOUT_SECONDS,
    }).default(60),
  },
  { error: mustBe('a mapping with max_retries and timeout') },
);

export const inputTypeSchema = z.enum(['uri_folder', 'uri_file', 'mltable'], {
  error: mustBe('one of uri_folder, uri_file, mltable'),
});
export const inputModeSchema = z.enum(
  ['ro_mount', 'rw_mount', 'download', 'direct', 'eval_mount', 'eval_download'],
  {
    error: mustBe('one of ro_mount, download, direct (or rw_mount, eval_mount, eval_download)'),
  },
);

export const dataInputSchema = z.strictObject(
  {
    type: inputTypeSchema.default('uri_folder'),
    path: dataPath(),
    mode: inputModeSchema.default('ro_mount'),
  },
  { error: mustBe('a mapping with type, path and mode') },
);

export const literalInputSchema = z.union([
  z.string(),
  z.number().transform(withoutNegativeZero),
  z.boolean(),
]);

export const inputValueSchema = z.union([literalInputSchema, dataInputSchema], {
  error: mustBe('a literal (string, number, boolean) or a mapping {type, path, mode}'),
});

export const outputTypeSchema = z.enum(['uri_folder', 'uri_file'], {
  error: mustBe('uri_folder or uri_file'),
});

export const outputSchema = z.strictObject(
  {
    type: outputTypeSchema.default('uri_folder'),
    /** Omitted: `<outputs container>/<job id>/<output name>` (see resolve.ts). */
    path: dataPath().optional(),
    mode: z
      .enum(['rw_mount', 'upload', 'direct'], { error: mustBe('rw_mount, upload or direct') })
      .optional(),
  },
  { error: mustBe('a mapping with type and path') },
);

const environmentVariables = stringMap(IDENTIFIER_PATTERN, `must be ${identifierRule}`);

export const taskSchema = z.strictObject(
  {
    type: z.literal('run_function', { error: mustBe('run_function') }).default('run_function'),
    /** Folder of the task code, relative to the tasks root. */
    code: relativePath("the job's folder").default('.'),
    /** Module inside `code` that exports init/run/shutdown, e.g. `score.ts`. */
    entry_script: relativePath('task.code'),
    program_arguments: text().optional(),
    environment_variables: environmentVariables.optional(),
    /** `${{outputs.<name>}}`: append_row output; absent = summary_only. */
    append_row_to: text('a binding such as ${{outputs.result}}').optional(),
  },
  { error: mustBe('a mapping with at least entry_script') },
);

export const resourcesSchema = z.strictObject(
  { instance_count: boundedNumber({ rule: 'a whole number >= 1', integer: true, min: 1 }).default(1) },
  { error: mustBe('a mapping with instance_count') },
);

export const identitySchema = z
  .strictObject(
    {
      type: z.enum(['managed', 'user_identity', 'aml_token'], { error: mustBe('managed') }),
      /** Client id of a user-assigned managed identity; omitted = the system-assigned identity. */
      client_id: text().optional(),
    },
    { error: mustBe('a mapping such as {type: managed, client_id: <id>}') },
  )
  .superRefine((identity, ctx) => {
    if (identity.type !== 'managed') {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `${identity.type} is not supported on Azure Functions; use {type: managed} (optionally with client_id for a user-assigned identity)`,
      });
    }
  });

export const jobSpecSchema = z.strictObject(
  {
    type: z.literal('parallel', { error: mustBe('parallel') }).default('parallel'),
    /** Unquoted YAML such as `name: 2026` is a number; it is read as the name "2026". */
    name: z
      .union([z.string(), z.number().int().nonnegative()], { error: mustBe('a string') })
      .transform(String)
      .pipe(
        z.string().regex(JOB_NAME_PATTERN, {
          error:
            'must be 1-63 letters, digits, "-" or "_", starting with a letter or digit (it is used in blob paths and instance ids)',
        }),
      )
      .optional(),
    version: z
      .union([z.string(), z.number()], { error: mustBe('a string') })
      .transform(String)
      .optional(),
    /** Read-only: set by the service on submission. */
    id: text().optional(),
    description: text().optional(),
    display_name: text().optional(),
    tags: stringMap().optional(),
    properties: stringMap().optional(),
    retry_settings: retrySettingsSchema.prefault({}),
    logging_level: z
      .string({ error: mustBe('one of DEBUG, INFO, WARNING, ERROR') })
      .transform((level) => level.toUpperCase())
      .pipe(z.enum(loggingLevelSchema.options, { error: mustBe('one of DEBUG, INFO, WARNING, ERROR') }))
      .default('INFO'),
    max_concurrency_per_instance: boundedNumber({
      rule: 'a whole number >= 1',
      integer: true,
      min: 1,
    }).default(1),
    /**
     * Failed items allowed before the job aborts. No default here, so that `--error_threshold` in
     * task.program_arguments applies when this field is absent; resolveJob falls back to -1.
     */
    error_threshold: threshold.optional(),
    mini_batch_error_threshold: threshold.default(-1),
    /**
     * A table record that does not parse: `fail_item` (absent) counts it as a failed item and runs the
     * rest of its mini-batch; `fail_mini_batch` fails the mini-batch, without retry. Ours, not Azure ML's.
     */
    on_bad_record: z.enum(BAD_RECORD_POLICIES, { error: mustBe('fail_item or fail_mini_batch') }).optional(),
    /** Files for file input, approximate bytes for mltable; default 10 files or 1mb (resolve.ts). */
    mini_batch_size: miniBatchSizeField.optional(),
    partition_keys: z
      .array(text('a column or partition name').min(1, { error: 'must not be empty' }), {
        error: mustBe('a list of column or partition names'),
      })
      .min(1, { error: 'must list at least one key, or be left out' })
      .optional(),
    input_data: text('a binding such as ${{inputs.data}}'),
    inputs: z
      .record(
        z.string().regex(IDENTIFIER_PATTERN, { error: `input names must be ${identifierRule}` }),
        inputValueSchema,
        {
          error: mustBe('a mapping of input names to inputs'),
        },
      )
      .default({}),
    outputs: z
      .record(
        z.string().regex(IDENTIFIER_PATTERN, { error: `output names must be ${identifierRule}` }),
        outputSchema,
        {
          error: mustBe('a mapping of output names to outputs'),
        },
      )
      .default({}),
    task: taskSchema,
    resources: resourcesSchema.prefault({}),
    environment_variables: environmentVariables.default({}),
    identity: identitySchema.optional(),
  },
  { error: mustBe('a mapping of job fields') },
);

/** The validated spec, defaults applied (YAML field names). */
export type JobSpec = z.output<typeof jobSpecSchema>;
/** What a user may write (the constructor fields of ParallelJob). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type DataInputSpec = z.output<typeof dataInputSchema>;
export type OutputSpec = z.output<typeof outputSchema>;
export type TaskSpec = z.output<typeof taskSchema>;
export type RetrySettingsSpec = z.output<typeof retrySettingsSchema>;
export type ResourcesSpec = z.output<typeof resourcesSchema>;
export type IdentitySpec = z.output<typeof identitySchema>;
export type InputValueSpec = z.output<typeof inputValueSchema>;

export function isDataInput(value: InputValueSpec): value is DataInputSpec {
  return typeof value === 'object';
}
