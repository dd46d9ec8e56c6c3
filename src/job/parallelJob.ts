import { SpecValidationError } from '../errors';
import { dumpJob, specToPlain, type DumpOptions } from './dump';
import { toValidationIssue } from './issues';
import { loadJobSpec, type LoadedJob } from './load';
import type { JobSpec, JobSpecInput } from './schema';
import type { JobStatus } from './status';
import { validateJobValue } from './validate';

/** Who created the job and when; set once the service has accepted it. */
export interface CreationContext {
  created_at?: string;
  created_by?: string;
  last_modified_at?: string;
}

/** What the service reports about a submitted job (the client applies it with `applyServerState`). */
export interface SubmissionState {
  id?: string;
  status?: JobStatus;
  studio_url?: string;
  creation_context?: CreationContext;
  log_files?: Record<string, string>;
}

export interface ParallelJobOptions {
  /** Folder that relative paths (task.code) resolve against; default: the current directory. */
  base_path?: string;
  /** Warnings already found while loading, kept alongside those of validation. */
  warnings?: readonly string[];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    Object.values(value).forEach(deepFreeze);
  }
  return value;
}

/**
 * A parallel job built in code, mirroring the Azure ML SDK's `ParallelJob`: the constructor takes the
 * YAML field names and validates them (SpecValidationError with every problem). The spec fields are
 * read-only; build a new job to change one. Status fields start as `NotStarted` and change only
 * through `applyServerState` once the job is submitted.
 */
export class ParallelJob {
  readonly type = 'parallel' as const;
  readonly name: JobSpec['name'];
  readonly version: JobSpec['version'];
  readonly description: JobSpec['description'];
  readonly display_name: JobSpec['display_name'];
  readonly tags: JobSpec['tags'];
  readonly properties: JobSpec['properties'];
  readonly retry_settings: JobSpec['retry_settings'];
  readonly logging_level: JobSpec['logging_level'];
  readonly max_concurrency_per_instance: JobSpec['max_concurrency_per_instance'];
  readonly error_threshold: JobSpec['error_threshold'];
  readonly mini_batch_error_threshold: JobSpec['mini_batch_error_threshold'];
  readonly on_bad_record: JobSpec['on_bad_record'];
  readonly task: JobSpec['task'];
  readonly mini_batch_size: JobSpec['mini_batch_size'];
  readonly partition_keys: JobSpec['partition_keys'];
  readonly input_data: JobSpec['input_data'];
  readonly inputs: JobSpec['inputs'];
  readonly outputs: JobSpec['outputs'];
  readonly identity: JobSpec['identity'];
  readonly resources: JobSpec['resources'];
  readonly environment_variables: JobSpec['environment_variables'];
  /** Non-fatal findings about the spec (ignored Azure ML keys, near-miss runner flags). */
  readonly warnings: readonly string[];
  readonly base_path: string;

  /** Read-only in the spec; the service's job id once submitted. */
  id: string | undefined;
  status: JobStatus = 'NotStarted';
  studio_url: string | undefined;
  creation_context: CreationContext | undefined;
  log_files: Record<string, string> | undefined;

  private readonly spec: JobSpec;

  constructor(fields: JobSpecInput, options: ParallelJobOptions = {}) {
    const result = validateJobValue(fields);
    if (!result.ok) throw new SpecValidationError(result.issues.map((issue) => toValidationIssue(issue)));
    const spec = deepFreeze(result.spec);
    this.spec = spec;
    this.warnings = [...new Set([...(options.warnings ?? []), ...result.warnings])];
    this.base_path = options.base_path ?? process.cwd();
    this.id = spec.id;
    this.name = spec.name;
    this.version = spec.version;
    this.description = spec.description;
    this.display_name = spec.display_name;
    this.tags = spec.tags;
    this.properties = spec.properties;
    this.retry_settings = spec.retry_settings;
    this.logging_level = spec.logging_level;
    this.max_concurrency_per_instance = spec.max_concurrency_per_instance;
    this.error_threshold = spec.error_threshold;
    this.mini_batch_error_threshold = spec.mini_batch_error_threshold;
    this.on_bad_record = spec.on_bad_record;
    this.task = spec.task;
    this.mini_batch_size = spec.mini_batch_size;
    this.partition_keys = spec.partition_keys;
    this.input_data = spec.input_data;
    this.inputs = spec.inputs;
    this.outputs = spec.outputs;
    this.identity = spec.identity;
    this.resources = spec.resources;
    this.environment_variables = spec.environment_variables;
  }

  static fromSpec(loaded: LoadedJob): ParallelJob {
    return new ParallelJob(loaded.spec, { base_path: loaded.baseDir, warnings: loaded.warnings });
  }

  /** From a YAML/JSON file path or text (see loadJobSpec). */
  static load(pathOrText: string): ParallelJob {
    return ParallelJob.fromSpec(loadJobSpec(pathOrText));
  }

  /** The validated spec, defaults applied (frozen). */
  toSpec(): JobSpec {
    return this.spec;
  }

  /** The wire form: what `POST /api/jobs` accepts. */
  toJSON(): Record<string, unknown> {
    return specToPlain(this.spec);
  }

  /** Block-style YAML; with `dest`, also written there (an existing file needs `{ overwrite: true }`). */
  dump(dest?: string | NodeJS.WritableStream, options?: DumpOptions): string {
    return dumpJob(this.spec, dest, options);
  }

  /** Records what the service reported after submission; only the given fields change. */
  applyServerState(state: SubmissionState): void {
    if (state.id !== undefined) this.id = state.id;
    if (state.status !== undefined) this.status = state.status;
    if (state.studio_url !== undefined) this.studio_url = state.studio_url;
    if (state.creation_context !== undefined) this.creation_context = state.creation_context;
    if (state.log_files !== undefined) this.log_files = state.log_files;
  }
}

/**
 * Loads a job from a YAML/JSON file path or text, as the Azure ML SDK's `load_job` does: the job entity,
 * with `dump`, `toJSON`, `status` and the load's `warnings`. `loadJobSpec` gives the plain spec.
 */
export function loadJob(pathOrText: string): ParallelJob {
  return ParallelJob.load(pathOrText);
}
