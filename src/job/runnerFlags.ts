import { MAX_RUNNER_TIMEOUT_SECONDS } from './effective';
import { closestMatch } from './nearMiss';

/**
 * Runner flags that Azure ML reads from `task.program_arguments`. The tokens stay in argv (the entry
 * script sees them too, as in Azure ML); this module only reads their values for the settings.
 */
export interface RunnerFlagValues {
  errorThreshold?: number;
  allowedFailedPercent?: number;
  taskOverheadTimeout?: number;
  progressUpdateTimeout?: number;
  firstTaskCreationTimeout?: number;
  copyLogsToParent?: boolean;
}

export interface RunnerFlagReport {
  values: RunnerFlagValues;
  /** Invalid values: validation errors on `task.program_arguments`. */
  problems: string[];
  warnings: string[];
}

const MAX_SECONDS = MAX_RUNNER_TIMEOUT_SECONDS;

type FlagValue = number | boolean;
interface FlagRule {
  key: keyof RunnerFlagValues;
  /** What the value must be, for the error message. */
  rule: string;
  parse(text: string | undefined): FlagValue | undefined;
}

function wholeNumberFrom(min: number) {
  return (text: string | undefined) => {
    const value = text !== undefined && /^-?\d+$/.test(text) ? Number(text) : NaN;
    return Number.isSafeInteger(value) && value >= min ? value : undefined;
  };
}

function numberIn(min: number, max: number, minExclusive: boolean) {
  return (text: string | undefined) => {
    const value = text !== undefined && /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
    const aboveMin = minExclusive ? value > min : value >= min;
    return aboveMin && value <= max ? value : undefined;
  };
}

function booleanFlag(text: string | undefined): boolean | undefined {
  if (text === undefined) return true; // a bare `--copy_logs_to_parent` switches it on
  const lower = text.toLowerCase();
  if (['true', 'yes', '1'].includes(lower)) return true;
  if (['false', 'no', '0'].includes(lower)) return false;
  return undefined;
}

const SECONDS_RULE = `a number of seconds greater than 0 and at most ${MAX_SECONDS}`;

export const RUNNER_FLAGS: Readonly<Record<string, FlagRule>> = {
  '--error_threshold': {
    key: 'errorThreshold',
    rule: 'a whole number >= -1 (-1 = no limit)',
    parse: wholeNumberFrom(-1),
  },
  '--allowed_failed_percent': {
    key: 'allowedFailedPercent',
    rule: 'a number from 0 to 100 (100 = no limit)',
    parse: numberIn(0, 100, false),
  },
  '--task_overhead_timeout': {
    key: 'taskOverheadTimeout',
    rule: SECONDS_RULE,
    parse: numberIn(0, MAX_SECONDS, true),
  },
  '--progress_update_timeout': {
    key: 'progressUpdateTimeout',
    rule: SECONDS_RULE,
    parse: numberIn(0, MAX_SECONDS, true),
  },
  '--first_task_creation_timeout': {
    key: 'firstTaskCreationTimeout',
    rule: SECONDS_RULE,
    parse: numberIn(0, MAX_SECONDS, true),
  },
  '--copy_logs_to_parent': { key: 'copyLogsToParent', rule: 'true or false', parse: booleanFlag },
};

/** Azure ML runner flags that have no effect here, with what to do instead. */
export const UNHONOURED_FLAGS: Readonly<Record<string, string>> = {
  '--allowed_failed_count': 'set mini_batch_error_threshold instead',
  '--run_invocation_timeout': 'set retry_settings.timeout instead',
  '--score_run_timeout': 'set retry_settings.timeout instead',
  '--run_max_try': 'set retry_settings.max_retries instead (it counts retries after the first attempt)',
  '--process_count_per_node': 'set max_concurrency_per_instance instead',
  '--mini_batch_size': 'set mini_batch_size instead',
  '--logging_level': 'set logging_level instead',
  '--output_action': 'set task.append_row_to for append_row, or leave it out for summary_only',
  '--append_row_file_name': 'bind task.append_row_to to a uri_file output with the file name you want',
  '--metrics_name_prefix': 'metrics are not pushed to Azure ML here',
  '--push_metrics_to_parent': 'metrics are not pushed to Azure ML here',
  '--resource_monitor_interval': 'resource monitoring is left to Application Insights',
  '--profiling_module': 'profiling is not supported',
  '--nice': 'process niceness is not set on Azure Functions',
};

function readValue(
  argv: readonly string[],
  index: number,
  flag: string,
): { text?: string; consumed: number } {
  const token = argv[index]!;
  if (token.startsWith(`${flag}=`)) return { text: token.slice(flag.length + 1), consumed: 1 };
  const next = argv[index + 1];
  if (next === undefined || next.startsWith('--')) return { consumed: 1 };
  return { text: next, consumed: 2 };
}

function flagName(token: string): string | undefined {
  if (!token.startsWith('--') || token.length <= 2) return undefined;
  return token.split('=', 1)[0];
}

export function readRunnerFlags(argv: readonly string[]): RunnerFlagReport {
  const report: RunnerFlagReport = { values: {}, problems: [], warnings: [] };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length;) {
    const flag = flagName(argv[i]!);
    const rule = flag === undefined ? undefined : RUNNER_FLAGS[flag];
    if (flag === undefined || rule === undefined) {
      if (flag !== undefined) noteUnknownFlag(flag, report);
      i += 1;
      continue;
    }
    const { text, consumed } = readValue(argv, i, flag);
    applyFlag(flag, rule, text, report, seen);
    i += consumed;
  }
  return report;
}

function applyFlag(
  flag: string,
  rule: FlagRule,
  text: string | undefined,
  report: RunnerFlagReport,
  seen: Set<string>,
): void {
  const value = rule.parse(text);
  if (value === undefined) {
    const got = text === undefined ? 'no value' : `"${text}"`;
    report.problems.push(`${flag} must be ${rule.rule}; got ${got}`);
    return;
  }
  if (seen.has(flag))
    report.warnings.push(`${flag} is given more than once; the last value (${String(value)}) is used`);
  seen.add(flag);
  (report.values as Record<string, FlagValue>)[rule.key] = value;
}

function noteUnknownFlag(flag: string, report: RunnerFlagReport): void {
  const unhonoured = UNHONOURED_FLAGS[flag];
  if (unhonoured !== undefined) {
    report.warnings.push(
      `task.program_arguments: the Azure ML runner flag ${flag} has no effect here; ${unhonoured}. It is passed to the entry script unchanged.`,
    );
    return;
  }
  const meant = closestMatch(
    flag.slice(2),
    [...Object.keys(RUNNER_FLAGS), ...Object.keys(UNHONOURED_FLAGS)].map((f) => f.slice(2)),
  );
  if (meant !== undefined) {
    report.warnings.push(
      `task.program_arguments: ${flag} is not a runner flag; did you mean --${meant}? It is passed to the entry script unchanged and the runner ignores it.`,
    );
  }
}
