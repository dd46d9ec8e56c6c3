import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { SpecValidationError, type ValidationIssue } from '../errors';
import type { LoadedJob } from '../job/load';
import { didYouMean } from '../job/nearMiss';
import type { JobSpec } from '../job/schema';
import type { BlobStore } from '../storage/blobStore';
import { uploadLocalFolder } from '../storage/inputs';
import { formatBytes } from '../plan/preview';

/**
 * Local runs: inputs that name files or folders on this machine are uploaded to the `inputs` container
 * first. They are checked before anything starts, so a mistyped folder is a spec error naming its field
 * (exit code 2), not a failed job after the host has started.
 */

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** An input path that can only mean this machine: `./x`, `../x`, `/x`, `~/x` or a Windows path. */
function looksLocal(inputPath: string): boolean {
  return /^(\.{1,2}[\\/]|\.{1,2}$|[\\/]|~[\\/]|[A-Za-z]:[\\/])/.test(inputPath) || inputPath.includes('\\');
}

interface LocalInput {
  name: string;
  /** As written in the spec. */
  written: string;
  absolute: string;
}

/** The data inputs that are local paths: they exist here, or their form says they must. */
function localInputs(loaded: LoadedJob): LocalInput[] {
  const baseDir = loaded.baseDir ?? process.cwd();
  const found: LocalInput[] = [];
  for (const [name, input] of Object.entries(loaded.spec.inputs ?? {})) {
    if (typeof input !== 'object' || SCHEME.test(input.path)) continue;
    const absolute = path.resolve(baseDir, input.path.replace(/^~(?=[\\/])/, process.env.HOME ?? '~'));
    // `data/x` is a container path unless a local `data` exists: then a missing `x` is a local mistake.
    const firstSegment = path.resolve(baseDir, input.path.split(/[\\/]/)[0] ?? '');
    if (
      looksLocal(input.path) ||
      existsSync(absolute) ||
      (input.path.includes('/') && isDirectory(firstSegment))
    )
      found.push({ name, written: input.path, absolute });
  }
  return found;
}

function isDirectory(target: string): boolean {
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}

function problemOf(input: LocalInput): string | undefined {
  const { written, absolute } = input;
  if (!existsSync(absolute)) {
    const parent = path.dirname(absolute);
    const siblings = isDirectory(parent) ? readdirSync(parent) : [];
    const hint = didYouMean(
      path.basename(absolute),
      siblings,
      (sibling) => `"${path.join(path.dirname(written), sibling)}"`,
    );
    return `the local path "${written}" does not exist (looked for ${absolute}).${hint}`;
  }
  try {
    accessSync(absolute, constants.R_OK);
  } catch (error) {
    return `the local path "${written}" cannot be read (${(error as NodeJS.ErrnoException).code ?? 'no access'}).`;
  }
  if (isDirectory(absolute) && readdirSync(absolute).length === 0)
    return `the local folder "${written}" is empty: the job would have nothing to run.`;
  return undefined;
}

/** Throws SpecValidationError (`inputs.<name>.path`) for local inputs that are missing, unreadable or empty. */
export function checkLocalInputs(loaded: LoadedJob): void {
  const issues: ValidationIssue[] = [];
  for (const input of localInputs(loaded)) {
    const problem = problemOf(input);
    if (problem) issues.push({ path: `inputs.${input.name}.path`, message: problem });
  }
  if (issues.length) throw new SpecValidationError(issues, `in ${loaded.source ?? 'the job spec'}`);
}

/** Folders with more files than this report their upload's progress. */
const PROGRESS_FROM_FILES = 200;
/**
 * Files uploaded at a time. The local storage answers each upload in about a millisecond of its one
 * thread, but each waits on disk writes (fdatasync) in between: 32 at a time keep it busy (about 1,000
 * small files/s here, against 450/s at 4).
 */
const UPLOAD_CONCURRENCY = 32;

/** Uploads the local inputs (checked first with checkLocalInputs) under `inputs/<runId>/<input name>/`. */
export async function uploadLocalInputs(
  store: BlobStore,
  loaded: LoadedJob,
  runId: string,
  log: (line: string) => void,
): Promise<JobSpec> {
  // checkLocalInputs ran before the host started (both commands call it first).
  const spec = structuredClone(loaded.spec);
  for (const input of localInputs(loaded)) {
    const target = spec.inputs[input.name];
    if (typeof target !== 'object') continue;
    const prefix = `${runId}/${input.name}`;
    if (isDirectory(input.absolute)) {
      let reported = 0;
      const started = Date.now();
      const rate = (done: number): string =>
        `${Math.round(done / Math.max((Date.now() - started) / 1000, 0.001)).toLocaleString('en-US')} files/s`;
      const { files, bytes } = await uploadLocalFolder(store, input.absolute, 'inputs', prefix, {
        concurrency: UPLOAD_CONCURRENCY,
        onProgress: (done, total) => {
          // Every tenth of the way, for folders large enough to wait on.
          if (total < PROGRESS_FROM_FILES || (done < total && done < reported + total / 10)) return;
          reported = done;
          log(
            `Uploading ${input.written}: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} files (${rate(done)})`,
          );
        },
      });
      log(
        `Uploaded ${input.written}: ${files} files, ${formatBytes(bytes)} -> inputs/${prefix}/ (${rate(files)})`,
      );
      target.path = `inputs/${prefix}`;
    } else {
      await store.ensureContainer('inputs');
      await store.uploadFile('inputs', `${prefix}/${path.basename(input.absolute)}`, input.absolute);
      target.path = `inputs/${prefix}/${path.basename(input.absolute)}`;
    }
  }
  return spec;
}
