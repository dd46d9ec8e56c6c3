import type { Binding } from './bindings';
import { isDataInput, type JobSpec, type OutputSpec } from './schema';

/** Azure ML's append_row file name inside a uri_folder output. */
export const DEFAULT_APPEND_ROW_FILE = 'parallel_run_step.txt';

export interface ResolvedOutput {
  type: OutputSpec['type'];
  path: string;
}

/**
 * Where an output goes. Without `path`, a uri_folder output is `<outputRoot>/<name>`, and a uri_file
 * output is the file `<outputRoot>/<name>/parallel_run_step.txt` (the name append_row would use).
 */
export function defaultOutputPath(name: string, type: OutputSpec['type'], outputRoot: string): string {
  const folder = `${outputRoot.replace(/\/+$/, '')}/${name}`;
  return type === 'uri_file' ? `${folder}/${DEFAULT_APPEND_ROW_FILE}` : folder;
}

export function resolveOutputs(
  outputs: JobSpec['outputs'],
  outputRoot: string,
): Record<string, ResolvedOutput> {
  return Object.fromEntries(
    Object.entries(outputs).map(([name, output]) => [
      name,
      { type: output.type, path: output.path ?? defaultOutputPath(name, output.type, outputRoot) },
    ]),
  );
}

/** The file append_row writes: the default name in a folder, or the last segment of a file output. */
export function appendRowFileName(output: ResolvedOutput): string {
  if (output.type === 'uri_folder') return DEFAULT_APPEND_ROW_FILE;
  return output.path.split('/').pop() ?? DEFAULT_APPEND_ROW_FILE;
}

/** The append_row blob inside an output at `prefix`: the file itself, or the file name in the folder. */
export function appendRowBlob(
  prefix: string,
  target: { type: ResolvedOutput['type']; fileName: string },
): string {
  return target.type === 'uri_file' ? prefix : `${prefix.replace(/\/+$/, '')}/${target.fileName}`;
}

/** The text a binding stands for: a literal's value, a data input's path, an output's path. */
export function bindingValues(spec: JobSpec, outputs: Record<string, ResolvedOutput>) {
  return (binding: Binding): string => {
    if (binding.kind === 'outputs') return outputs[binding.name]?.path ?? binding.text;
    const input = spec.inputs[binding.name];
    if (input === undefined) return binding.text;
    return isDataInput(input) ? input.path : String(input);
  };
}
