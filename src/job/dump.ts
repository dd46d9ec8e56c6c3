import { writeFileSync } from 'node:fs';
import { Document } from 'yaml';
import { JobSpecExistsError, JobSpecWriteError } from '../errors';
import { jobSpecSchema, type JobSpec } from './schema';

export interface DumpOptions {
  /** Replace an existing file. Default false: an existing path is refused with JobSpecExistsError. */
  overwrite?: boolean;
}

/** The spec as plain data in the schema's field order, without undefined fields (the wire form). */
export function specToPlain(spec: JobSpec): Record<string, unknown> {
  return JSON.parse(JSON.stringify(orderKeys(spec))) as Record<string, unknown>;
}

function orderKeys(spec: Record<string, unknown>): Record<string, unknown> {
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(jobSpecSchema.shape)) if (spec[key] !== undefined) ordered[key] = spec[key];
  return ordered;
}

/** Block-style YAML that loads back to an equal spec. */
export function specToYaml(spec: JobSpec): string {
  const doc = new Document(specToPlain(spec));
  return doc.toString({ lineWidth: 0, indent: 2 });
}

/**
 * Serialises the spec as YAML and returns the text; with `dest`, also writes it there. A path is
 * created exclusively unless `overwrite` is set (Azure ML documents this and then overwrites anyway;
 * here the documented behaviour is the real one). Stream writes are asynchronous: errors that the
 * stream reports later arrive on its 'error' event.
 */
export function dumpJob(
  spec: JobSpec,
  dest?: string | NodeJS.WritableStream,
  options: DumpOptions = {},
): string {
  const yaml = specToYaml(spec);
  if (typeof dest === 'string') writeFile(dest, yaml, options.overwrite ?? false);
  else if (dest !== undefined) writeStream(dest, yaml);
  return yaml;
}

function writeFile(path: string, yaml: string, overwrite: boolean): void {
  try {
    writeFileSync(path, yaml, { encoding: 'utf8', flag: overwrite ? 'w' : 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new JobSpecExistsError(path);
    throw new JobSpecWriteError(
      `cannot write the job spec to ${path} (${code ?? (error as Error).message}); check that the folder exists and is writable`,
      { cause: error },
    );
  }
}

function writeStream(stream: NodeJS.WritableStream, yaml: string): void {
  const state = stream as NodeJS.WritableStream & { writableEnded?: boolean; destroyed?: boolean };
  if (
    typeof stream.write !== 'function' ||
    stream.writable === false ||
    state.writableEnded ||
    state.destroyed
  ) {
    throw new JobSpecWriteError(
      'cannot write the job spec: the stream is not writable (it is closed, ended or read-only); pass an open writable stream or a file path',
    );
  }
  try {
    stream.write(yaml);
  } catch (error) {
    throw new JobSpecWriteError(`cannot write the job spec to the stream: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
