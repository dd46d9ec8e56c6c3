import { SpecValidationError } from '../errors';
import { soleBinding } from './bindings';
import { checkJobSpec, type JobCheck } from './checks';
import { effectiveJobSchema, type DataInput, type EffectiveJob, type EffectiveSettings } from './effective';
import { toValidationIssue } from './issues';
import {
  DEFAULT_BYTES_PER_MINI_BATCH,
  DEFAULT_FILES_PER_MINI_BATCH,
  parseMiniBatchSize,
} from './miniBatchSize';
import { appendRowFileName, resolveOutputs, type ResolvedOutput } from './outputs';
import { isDataInput, type JobSpec } from './schema';

export interface ResolveJobOptions {
  jobId: string;
  /** `<container>/<prefix>` under which outputs without a path are placed, e.g. `outputs/<jobId>`. */
  outputRoot: string;
  /** Warnings found while loading (ignored keys); they come first in the effective job's warnings. */
  warnings?: readonly string[];
}

/** Runner flag defaults (Azure ML's documented values). */
export const RUNNER_DEFAULTS = {
  errorThreshold: -1,
  allowedFailedPercent: 100,
  taskOverheadTimeoutSeconds: 30,
  firstTaskCreationTimeoutSeconds: 600,
  copyLogsToParent: false,
} as const;

/**
 * The effective job: defaults applied, bindings resolved, runner flags read. Everything after
 * submission reads this object and nothing else. Throws SpecValidationError for a spec whose
 * cross-field rules fail (e.g. a typed JobSpec that never went through loadJobSpec).
 */
export function resolveJob(spec: JobSpec, options: ResolveJobOptions): EffectiveJob {
  const check = checkJobSpec(spec, options.outputRoot);
  if (check.issues.length)
    throw new SpecValidationError(check.issues.map((issue) => toValidationIssue(issue)));
  const outputs = resolveOutputs(spec.outputs, options.outputRoot);
  const inputData = resolveInputData(spec);
  return effectiveJobSchema.parse({
    name: spec.name ?? options.jobId,
    displayName: spec.display_name,
    description: spec.description,
    tags: spec.tags ?? {},
    inputData,
    inputs: spec.inputs,
    outputs,
    appendRowTo: resolveAppendRowTo(spec, outputs),
    ...resolveMiniBatchSize(spec, inputData),
    partitionKeys: spec.partition_keys,
    task: {
      code: spec.task.code,
      entryScript: spec.task.entry_script,
      programArguments: check.programArguments,
      argv: check.argv,
      ...(check.argvParts ? { argvParts: check.argvParts } : {}),
    },
    environmentVariables: { ...spec.environment_variables, ...spec.task.environment_variables },
    loggingLevel: spec.logging_level,
    settings: resolveSettings(spec, check.flags),
    identity: spec.identity && { type: 'managed', clientId: spec.identity.client_id },
    warnings: [...new Set([...(options.warnings ?? []), ...check.warnings])],
  } satisfies EffectiveJob);
}

function resolveInputData(spec: JobSpec): DataInput & { name: string } {
  // checkJobSpec has established that input_data binds a declared data input.
  const name = soleBinding(spec.input_data)!.name;
  const input = spec.inputs[name]!;
  if (!isDataInput(input)) throw new Error(`inputs.${name} is not a data input`);
  return { name, ...input };
}

function resolveAppendRowTo(
  spec: JobSpec,
  outputs: Record<string, ResolvedOutput>,
): EffectiveJob['appendRowTo'] {
  const target = spec.task.append_row_to;
  if (target === undefined) return undefined;
  const name = soleBinding(target)!.name;
  const output = outputs[name]!;
  return { output: name, type: output.type, path: output.path, fileName: appendRowFileName(output) };
}

/** Files for file input (default 10), approximate bytes for mltable (default 1 MiB). */
function resolveMiniBatchSize(
  spec: JobSpec,
  input: DataInput,
): Pick<EffectiveJob, 'miniBatchSize' | 'miniBatchSizeUnit'> {
  const unit = input.type === 'mltable' ? 'bytes' : 'files';
  const fallback = unit === 'bytes' ? DEFAULT_BYTES_PER_MINI_BATCH : DEFAULT_FILES_PER_MINI_BATCH;
  const parsed = spec.mini_batch_size === undefined ? undefined : parseMiniBatchSize(spec.mini_batch_size);
  return { miniBatchSize: parsed?.ok ? parsed.size.value : fallback, miniBatchSizeUnit: unit };
}

/** Typed fields first, then runner flags from program_arguments, then defaults. */
function resolveSettings(spec: JobSpec, flags: JobCheck['flags']): EffectiveSettings {
  const timeoutSeconds = spec.retry_settings.timeout;
  const taskOverheadTimeoutSeconds = flags.taskOverheadTimeout ?? RUNNER_DEFAULTS.taskOverheadTimeoutSeconds;
  return {
    maxRetries: spec.retry_settings.max_retries,
    timeoutSeconds,
    maxConcurrencyPerInstance: spec.max_concurrency_per_instance,
    instanceCount: spec.resources.instance_count,
    errorThreshold: spec.error_threshold ?? flags.errorThreshold ?? RUNNER_DEFAULTS.errorThreshold,
    miniBatchErrorThreshold: spec.mini_batch_error_threshold,
    allowedFailedPercent: flags.allowedFailedPercent ?? RUNNER_DEFAULTS.allowedFailedPercent,
    taskOverheadTimeoutSeconds,
    progressUpdateTimeoutSeconds:
      flags.progressUpdateTimeout ?? 3 * (timeoutSeconds + taskOverheadTimeoutSeconds),
    firstTaskCreationTimeoutSeconds:
      flags.firstTaskCreationTimeout ?? RUNNER_DEFAULTS.firstTaskCreationTimeoutSeconds,
    copyLogsToParent: flags.copyLogsToParent ?? RUNNER_DEFAULTS.copyLogsToParent,
    onBadRecord: spec.on_bad_record ?? 'fail_item',
  };
}
