import { scanExpressions, soleBinding, substituteBindings, type Binding } from './bindings';
import type { PathIssue } from './issues';
import { parseMiniBatchSize, SUSPICIOUSLY_FEW_BYTES } from './miniBatchSize';
import { didYouMean } from './nearMiss';
import { bindingValues, resolveOutputs } from './outputs';
import { isTaskModule, TASK_MODULE_EXTENSIONS } from '../task/languages';
import { readRunnerFlags, type RunnerFlagValues } from './runnerFlags';
import { isDataInput, type DataInputSpec, type JobSpec } from './schema';
import { splitShellWords } from './shellWords';
import type { ArgvPart } from './effective';

/**
 * Cross-field rules that the schema cannot express: bindings must name declared inputs and outputs,
 * mini_batch_size must suit the input type, runner flags must be in range. Runs on a schema-valid spec.
 */
export interface JobCheck {
  issues: PathIssue[];
  warnings: string[];
  /** `task.program_arguments` with bindings resolved, split like a shell; [] when it cannot be split. */
  argv: string[];
  /** The same tokens with side inputs and uri_folder outputs left as bindings; absent when there are none. */
  argvParts?: ArgvPart[][];
  programArguments: string;
  flags: RunnerFlagValues;
}

/** Placeholder root for outputs without a path while the job has no id yet. */
export const PENDING_OUTPUT_ROOT = '<outputs>/<job id>';

type Path = (string | number)[];

class Findings {
  readonly issues: PathIssue[] = [];
  readonly warnings: string[] = [];
  error(path: Path, message: string): void {
    this.issues.push({ path, message });
  }
}

export function checkJobSpec(spec: JobSpec, outputRoot = PENDING_OUTPUT_ROOT): JobCheck {
  const findings = new Findings();
  const inputData = checkInputData(spec, findings);
  checkAppendRowTo(spec, findings);
  checkOutputFiles(spec, findings);
  if (inputData) checkMiniBatchSize(spec, inputData, findings);
  checkEntryScript(spec, findings);
  const args = checkProgramArguments(spec, outputRoot, findings);
  return { issues: findings.issues, warnings: findings.warnings, ...args };
}

function declaredNames(spec: JobSpec, kind: Binding['kind']): string[] {
  return Object.keys(kind === 'inputs' ? spec.inputs : spec.outputs);
}

function undeclared(spec: JobSpec, binding: Binding): string {
  const names = declaredNames(spec, binding.kind);
  const declared = names.length
    ? `declared ${binding.kind}: ${names.join(', ')}`
    : `no ${binding.kind} are declared`;
  const hint = didYouMean(binding.name, names, (name) => `\${{${binding.kind}.${name}}}`);
  return `${binding.text} names ${binding.kind}.${binding.name}, which is not declared (${declared}).${hint}`;
}

function checkInputData(spec: JobSpec, findings: Findings): DataInputSpec | undefined {
  const path = ['input_data'];
  const binding = soleBinding(spec.input_data);
  if (!binding || binding.kind !== 'inputs') {
    findings.error(
      path,
      `must be a binding to a declared data input, such as \${{inputs.data}}; got "${spec.input_data}"`,
    );
    return undefined;
  }
  const input = spec.inputs[binding.name];
  if (input === undefined) {
    findings.error(path, undeclared(spec, binding));
    return undefined;
  }
  if (!isDataInput(input)) {
    findings.error(
      path,
      `inputs.${binding.name} is a literal value; input_data must name a data input {type, path}`,
    );
    return undefined;
  }
  return input;
}

function checkAppendRowTo(spec: JobSpec, findings: Findings): void {
  const target = spec.task.append_row_to;
  if (target === undefined) return;
  const path = ['task', 'append_row_to'];
  const binding = soleBinding(target);
  if (!binding || binding.kind !== 'outputs') {
    findings.error(
      path,
      `must be a binding to a declared output, such as \${{outputs.result}}; got "${target}"`,
    );
  } else if (spec.outputs[binding.name] === undefined) {
    findings.error(path, undeclared(spec, binding));
  }
}

function checkOutputFiles(spec: JobSpec, findings: Findings): void {
  for (const [name, output] of Object.entries(spec.outputs)) {
    if (output.type === 'uri_file' && output.path !== undefined && /[/\\]$/.test(output.path)) {
      findings.error(
        ['outputs', name, 'path'],
        `a uri_file output must name a file, not a folder ("${output.path}")`,
      );
    }
  }
}

function checkMiniBatchSize(spec: JobSpec, input: DataInputSpec, findings: Findings): void {
  const raw = spec.mini_batch_size;
  if (raw !== undefined && spec.partition_keys !== undefined) {
    findings.warnings.push(
      'partition_keys and mini_batch_size are both set; partition_keys wins and mini_batch_size is ignored.',
    );
    return;
  }
  if (raw === undefined) return;
  const parsed = parseMiniBatchSize(raw);
  if (!parsed.ok) return; // already reported by the schema
  const path = ['mini_batch_size'];
  if (input.type !== 'mltable' && parsed.size.hasUnit) {
    findings.error(
      path,
      `for ${input.type} input mini_batch_size counts files per mini-batch, so a size like "${raw}" does not apply; write a number of files such as 10`,
    );
  } else if (input.type === 'mltable' && !parsed.size.hasUnit && parsed.size.value < SUSPICIOUSLY_FEW_BYTES) {
    findings.warnings.push(
      `mini_batch_size ${raw} on mltable (tabular) input means ${parsed.size.value} bytes per mini-batch, not rows; write a size such as 1mb if you meant more.`,
    );
  }
}

function checkEntryScript(spec: JobSpec, findings: Findings): void {
  const script = spec.task.entry_script;
  if (script.trim() !== '' && !isTaskModule(script)) {
    findings.warnings.push(
      `task.entry_script "${script}" is not a task module: use a Python script (.py) or a JavaScript or TypeScript module (${TASK_MODULE_EXTENSIONS.join(', ')}) that defines init, run and shutdown.`,
    );
  }
}

function checkProgramArguments(
  spec: JobSpec,
  outputRoot: string,
  findings: Findings,
): Pick<JobCheck, 'argv' | 'argvParts' | 'programArguments' | 'flags'> {
  const raw = spec.task.program_arguments ?? '';
  const path = ['task', 'program_arguments'];
  const { bindings, malformed } = scanExpressions(raw);
  for (const text of malformed) {
    findings.error(
      path,
      `${text} is not a binding; only \${{inputs.<name>}} and \${{outputs.<name>}} are supported`,
    );
  }
  for (const binding of bindings) {
    if (!declaredNames(spec, binding.kind).includes(binding.name))
      findings.error(path, undeclared(spec, binding));
  }
  if (raw.includes('\0')) {
    findings.error(path, 'contains a NUL character, which no process argument can hold; remove it');
    return { argv: [], programArguments: raw, flags: {} };
  }
  const valueOf = bindingValues(spec, resolveOutputs(spec.outputs, outputRoot));
  const programArguments = substituteBindings(raw, valueOf);
  const split = splitShellWords(programArguments);
  if (!split.ok) {
    findings.error(path, split.message);
    return { argv: [], programArguments, flags: {} };
  }
  const report = readRunnerFlags(split.argv);
  report.problems.forEach((problem) => findings.error(path, problem));
  findings.warnings.push(...report.warnings);
  noteThresholdConflict(spec, report.values, findings);
  const argvParts = localArgvParts(spec, raw, valueOf);
  return { argv: split.argv, ...(argvParts ? { argvParts } : {}), programArguments, flags: report.values };
}

/**
 * Azure ML mounts side inputs and output folders, so `--model ${{inputs.model}}` reaches the script as a
 * local path. Which path depends on the host (its cache) and the worker (its folders): those bindings stay
 * as parts of their tokens, for each worker to resolve (src/task/args.ts). Undefined when there are none.
 */
function localArgvParts(
  spec: JobSpec,
  raw: string,
  valueOf: (binding: Binding) => string,
): ArgvPart[][] | undefined {
  const inputData = soleBinding(spec.input_data)?.name;
  const refs: ArgvPart[] = [];
  const isLocal = (binding: Binding): boolean => {
    if (binding.kind === 'outputs') return spec.outputs[binding.name]?.type === 'uri_folder';
    const input = spec.inputs[binding.name];
    return binding.name !== inputData && input !== undefined && isDataInput(input);
  };
  // A NUL cannot be in the text (refused above), so \0<n>\0 marks the n-th local binding unambiguously.
  const marked = substituteBindings(raw, (binding) => {
    if (!isLocal(binding)) return valueOf(binding);
    refs.push(binding.kind === 'inputs' ? { input: binding.name } : { output: binding.name });
    return `\0${refs.length - 1}\0`;
  });
  if (refs.length === 0) return undefined;
  const split = splitShellWords(marked);
  if (!split.ok) return undefined;
  return split.argv.map((token) =>
    token
      .split(/\0(\d+)\0/)
      .map((piece, i) => (i % 2 === 1 ? refs[Number(piece)]! : piece))
      .filter((part) => part !== ''),
  );
}

function noteThresholdConflict(spec: JobSpec, flags: RunnerFlagValues, findings: Findings): void {
  const typed = spec.error_threshold;
  if (typed !== undefined && flags.errorThreshold !== undefined && typed !== flags.errorThreshold) {
    findings.warnings.push(
      `error_threshold is ${typed} but task.program_arguments has --error_threshold ${flags.errorThreshold}; the field wins, so ${typed} is used.`,
    );
  }
}
