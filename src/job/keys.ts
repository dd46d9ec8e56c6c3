import { didYouMean } from './nearMiss';
import {
  dataInputSchema,
  identitySchema,
  jobSpecSchema,
  outputSchema,
  resourcesSchema,
  retrySettingsSchema,
  taskSchema,
} from './schema';
import type { PathIssue } from './issues';

/**
 * The key screen that runs before the schema: unknown keys become errors with a "did you mean",
 * Azure ML keys we cannot honour are dropped with a warning (so existing YAML loads), misplaced and
 * v1-style keys get a pointer to the right field, and YAML `key:` with no value counts as absent.
 */

/** Azure ML keys that load with a warning, and why they do nothing here. */
const IGNORED_ROOT_KEYS: Readonly<Record<string, string>> = {
  $schema: 'the Azure ML JSON schema is not used here',
  compute:
    'there is no compute target on Azure Functions; scale with resources.instance_count and max_concurrency_per_instance',
  environment: "the task runs in the Function App's Node.js runtime; there is no Azure ML environment",
  experiment_name: 'there are no Azure ML experiments here',
  is_deterministic: 'jobs are not reused from earlier runs',
  services: 'job services (Jupyter, SSH, ...) are not available',
  queue_settings: 'there is no Azure ML job queue',
  component: 'jobs are not built from Azure ML components',
  creation_context: 'it is read-only and set on submission',
  status: 'it is read-only and set on submission',
  studio_url: 'it is read-only and there is no studio',
  log_files: 'it is read-only',
};
const IGNORED_TASK_KEYS: Readonly<Record<string, string>> = {
  environment: "the task runs in the Function App's Node.js runtime; there is no Azure ML environment",
  model: 'model tasks are not supported; load the model in init()',
};
const IGNORED_RESOURCE_KEYS: Readonly<Record<string, string>> = {
  instance_type: 'the Function App plan decides the instance size',
  properties: 'resource properties have no meaning on Azure Functions',
  docker_args: 'there is no container to pass arguments to',
  shm_size: 'there is no container shared memory to size',
  locations: 'the Function App region decides where work runs',
};
const IGNORED_DATA_KEYS: Readonly<Record<string, string>> = {
  description: 'data descriptions are not stored',
  datastore: 'paths name a blob container directly',
  optional: 'every declared input is used as given',
  name: 'outputs are not registered as Azure ML data assets',
  version: 'outputs are not registered as Azure ML data assets',
};

/** Keys in the wrong place or with their v1 (ParallelRunConfig) names, and where they belong. */
const MISPLACED_ROOT_KEYS: Readonly<Record<string, string>> = {
  max_retries: 'it belongs under retry_settings',
  timeout: 'it belongs under retry_settings',
  instance_count: 'it belongs under resources',
  code: 'it belongs under task',
  entry_script: 'it belongs under task',
  program_arguments: 'it belongs under task',
  append_row_to: 'it belongs under task',
  node_count: 'this is the v1 name; use resources.instance_count',
  process_count_per_node: 'this is the v1 name; use max_concurrency_per_instance',
  run_invocation_timeout: 'this is the v1 name; use retry_settings.timeout',
  run_max_try:
    'this is the v1 name; use retry_settings.max_retries (retries after the first attempt, so run_max_try - 1)',
  allowed_failed_count: 'this is the v1 name; use mini_batch_error_threshold',
  allowed_failed_percent: 'put --allowed_failed_percent <n> in task.program_arguments',
  output_action: 'this is the v1 name; set task.append_row_to for append_row, leave it out for summary_only',
  source_directory: 'this is the v1 name; use task.code',
  arguments: 'this is the v1 name; use task.program_arguments',
  side_inputs: 'declare side inputs under inputs and pass them with ${{inputs.<name>}}',
};

interface KeyRule {
  known: readonly string[];
  ignored?: Readonly<Record<string, string>>;
  misplaced?: Readonly<Record<string, string>>;
}

type Path = (string | number)[];
type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface Screened {
  value: unknown;
  issues: PathIssue[];
  warnings: string[];
}

class Screen {
  readonly issues: PathIssue[] = [];
  readonly warnings: string[] = [];
  /** Azure ML keys dropped, reported together in one line (a docs-style spec has several). */
  readonly ignored: string[] = [];

  object(value: PlainObject, path: Path, rule: KeyRule): PlainObject {
    const kept: PlainObject = {};
    for (const [key, child] of Object.entries(value)) {
      if (child === null && rule.known.includes(key)) continue;
      if (rule.known.includes(key)) kept[key] = child;
      else this.reject(key, [...path, key], rule);
    }
    return kept;
  }

  private reject(key: string, path: Path, rule: KeyRule): void {
    const where = path.join('.');
    const ignored = rule.ignored?.[key];
    if (ignored !== undefined) {
      this.ignored.push(where);
      return;
    }
    const misplaced = rule.misplaced?.[key];
    const hint = misplaced !== undefined ? ` ${capitalize(misplaced)}.` : didYouMean(key, rule.known);
    this.issues.push({
      path,
      message: `unknown field "${key}".${hint || ` Known fields: ${rule.known.join(', ')}.`}`,
    });
  }

  /** Screens `parent[key]` in place when it is a mapping (the schema reports other types). */
  child(parent: PlainObject, key: string, path: Path, rule: KeyRule): void {
    const value = parent[key];
    if (isPlainObject(value)) parent[key] = this.object(value, [...path, key], rule);
  }

  /** Screens every object-valued entry of the mapping `parent[key]` (inputs, outputs). */
  entries(parent: PlainObject, key: string, rule: KeyRule, emptyAsObject: boolean): void {
    const map = parent[key];
    if (!isPlainObject(map)) return;
    const screened: PlainObject = {};
    for (const [name, value] of Object.entries(map)) {
      const entry = value === null && emptyAsObject ? {} : value;
      screened[name] = isPlainObject(entry) ? this.object(entry, [key, name], rule) : entry;
    }
    parent[key] = screened;
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const keysOf = (schema: { shape: object }): string[] => Object.keys(schema.shape);

const RULES = {
  root: { known: keysOf(jobSpecSchema), ignored: IGNORED_ROOT_KEYS, misplaced: MISPLACED_ROOT_KEYS },
  retry: { known: keysOf(retrySettingsSchema) },
  task: { known: keysOf(taskSchema), ignored: IGNORED_TASK_KEYS },
  resources: { known: keysOf(resourcesSchema), ignored: IGNORED_RESOURCE_KEYS },
  identity: { known: keysOf(identitySchema) },
  input: { known: keysOf(dataInputSchema), ignored: IGNORED_DATA_KEYS },
  output: { known: keysOf(outputSchema), ignored: IGNORED_DATA_KEYS },
} satisfies Record<string, KeyRule>;

/** Returns a cleaned copy of `raw` (the input is not modified) plus the key problems found. */
export function screenKeys(raw: unknown): Screened {
  const screen = new Screen();
  if (!isPlainObject(raw)) return { value: raw, issues: [], warnings: [] };
  const root = screen.object(raw, [], RULES.root);
  screen.child(root, 'retry_settings', [], RULES.retry);
  screen.child(root, 'task', [], RULES.task);
  screen.child(root, 'resources', [], RULES.resources);
  screen.child(root, 'identity', [], RULES.identity);
  screen.entries(root, 'inputs', RULES.input, false);
  // `outputs: {result: }` in YAML means "an output with every default", as in Azure ML.
  screen.entries(root, 'outputs', RULES.output, true);
  const warnings = screen.ignored.length
    ? [ignoredWarning(screen.ignored), ...screen.warnings]
    : screen.warnings;
  return { value: root, issues: screen.issues, warnings };
}

/** One short line for every dropped Azure ML key (the tables above say why each does nothing here). */
function ignoredWarning(paths: readonly string[]): string {
  return `Ignored Azure ML settings (no meaning on Azure Functions): ${paths.join(', ')}.`;
}
