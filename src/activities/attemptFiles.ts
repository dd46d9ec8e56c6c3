/**
 * The files an attempt wrote into its worker's folders (src/task/workerFolders.ts), published after it
 * ends. Output folders are exactly-once per mini-batch, like append_row rows:
 * - only an attempt that did not fail publishes its output files; a failed attempt's are removed unseen;
 * - each file is uploaded under its output's path with the job's owner, its mini-batch and this attempt's
 *   token in its metadata; the token goes into the attempt record and the manifest;
 * - finalize removes every file of this job whose token is not its mini-batch's winner's (an attempt that
 *   uploaded, then crashed before its record was written), so a retry or re-run replaces what came before.
 * Log folder files are kept for every attempt, with its logs.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { lstat, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../plan/preview';
import { OutputFilesRefusedError, StorageNotFoundError } from '../errors';
import { blobPathProblem, type AccessPolicy } from '../storage/access';
import type { BlobStore } from '../storage/blobStore';
import { forEachConcurrently } from '../storage/concurrent';
import { resolveInputLocation } from '../storage/inputs';
import { jobFolder } from '../storage/layout';
import type { AttemptOutcome } from '../task/pool';
import { UNKEPT_OUTPUT_FOLDER } from '../task/workerFolders';
import type { PublishedFiles } from './attemptRecord';
import { appendRowBlobFor, outputOwnerOf, type JobRecord } from '../storage/jobRecord';
import { OUTPUT_OWNER_METADATA } from '../storage/outputOwner';

/** The metadata that ties an output file to the mini-batch and the attempt that wrote it. */
export const OUTPUT_MINI_BATCH_METADATA = 'parallel_job_mini_batch';
export const OUTPUT_TOKEN_METADATA = 'parallel_job_files_token';

/** Files one attempt may write into its output folders, whatever their size. */
export const MAX_OUTPUT_FILES_PER_ATTEMPT = 10_000;
/** Uploads in flight per attempt. */
const UPLOAD_CONCURRENCY = 8;

interface FoundFile {
  /** `/`-separated, relative to its folder. */
  name: string;
  localPath: string;
  size: number;
}

interface Collected {
  outputs: Record<string, FoundFile[]>;
  logs: FoundFile[];
  warnings: string[];
}

/**
 * Every regular file under `root`, by name. A symbolic link is followed only to a file inside `root`;
 * anything else (a link out of the folder or to a folder, a pipe, a socket) refuses the whole attempt.
 */
async function filesUnder(root: string, what: string): Promise<FoundFile[]> {
  const found: FoundFile[] = [];
  const realRoot = await realpath(root);
  const walk = async (folder: string, prefix: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const name = `${prefix}${entry.name}`;
      const local = path.join(folder, entry.name);
      const problem = blobPathProblem(name);
      if (problem)
        throw new OutputFilesRefusedError(`${what}: the file name '${name}' ${problem}; rename it`);
      if (entry.isDirectory()) {
        await walk(local, `${name}/`);
      } else if (entry.isFile()) {
        found.push({ name, localPath: local, size: (await lstat(local)).size });
      } else if (entry.isSymbolicLink()) {
        const target = await realpath(local).catch(() => undefined);
        const relative = target === undefined ? undefined : path.relative(realRoot, target);
        const inside =
          relative !== undefined &&
          relative !== '' &&
          !relative.startsWith('..') &&
          !path.isAbsolute(relative);
        const targetStat = inside ? await stat(target!) : undefined;
        if (!targetStat?.isFile()) {
          throw new OutputFilesRefusedError(
            `${what}: '${name}' is a symbolic link that leaves the folder or does not point at a file; write the file itself`,
          );
        }
        found.push({ name, localPath: target!, size: targetStat.size });
      } else {
        throw new OutputFilesRefusedError(`${what}: '${name}' is not a regular file; only files are kept`);
      }
    }
  };
  await walk(root, '');
  return found;
}

/** What the attempt left in its folders, checked against the job's outputs and the caps. */
async function collect(files: string, record: JobRecord, maxBytes: number): Promise<Collected> {
  const outputsRoot = path.join(files, 'outputs');
  const collected: Collected = { outputs: {}, logs: [], warnings: [] };
  const entries = await readdir(outputsRoot, { withFileTypes: true }).catch(() => [] as Dirent[]);
  for (const entry of entries) {
    const output = record.job.outputs[entry.name];
    if (entry.isDirectory() && output?.type === 'uri_folder') {
      collected.outputs[entry.name] = await filesUnder(
        path.join(outputsRoot, entry.name),
        `outputs.${entry.name}`,
      );
    } else if (entry.name === UNKEPT_OUTPUT_FOLDER) {
      if ((await filesUnder(path.join(outputsRoot, entry.name), 'output_dir')).length > 0)
        collected.warnings.push(
          'files written to EntryScript().output_dir were not kept: the job declares no uri_folder output to put them in',
        );
    } else {
      collected.warnings.push(
        `'${entry.name}' was written next to the output folders, not inside one, and was not kept`,
      );
    }
  }
  collected.logs = await filesUnder(path.join(files, 'logs'), 'log_dir').catch(() => []);
  const outputFiles = Object.values(collected.outputs).flat();
  if (outputFiles.length > MAX_OUTPUT_FILES_PER_ATTEMPT) {
    throw new OutputFilesRefusedError(
      `the attempt wrote ${outputFiles.length.toLocaleString('en-US')} files into its output folders, more than the ${MAX_OUTPUT_FILES_PER_ATTEMPT.toLocaleString('en-US')} one attempt may write; write fewer, larger files, or use smaller mini-batches`,
    );
  }
  const bytes = outputFiles.reduce((sum, file) => sum + file.size, 0);
  if (bytes > maxBytes) {
    throw new OutputFilesRefusedError(
      `the attempt wrote ${formatBytes(bytes)} into its output folders, more than the ${formatBytes(maxBytes)} one attempt may write (the app setting PARALLEL_JOB_MAX_OUTPUT_BYTES_PER_ATTEMPT); use smaller mini-batches, or raise the setting`,
    );
  }
  return collected;
}

/**
 * Uploads one output file as this mini-batch's: a new name, or one this job's same mini-batch wrote
 * before (an earlier attempt, or an earlier run of a re-run job). A name another mini-batch of the job wrote,
 * or that the job did not write at all, refuses the attempt.
 */
async function putOutputFile(
  store: BlobStore,
  container: string,
  blob: string,
  file: FoundFile,
  metadata: Record<string, string>,
  field: string,
): Promise<void> {
  const first = await store.putFile(container, blob, file.localPath, { metadata, ifNotExists: true });
  if (first.created) return;
  const existing = await store.stat(container, blob);
  const owner = existing?.metadata?.[OUTPUT_OWNER_METADATA];
  const miniBatch = existing?.metadata?.[OUTPUT_MINI_BATCH_METADATA];
  if (
    existing &&
    owner === metadata[OUTPUT_OWNER_METADATA] &&
    miniBatch === metadata[OUTPUT_MINI_BATCH_METADATA]
  ) {
    await store.putFile(container, blob, file.localPath, { metadata, ifMatch: existing.etag });
    return;
  }
  if (existing && owner === metadata[OUTPUT_OWNER_METADATA]) {
    throw new OutputFilesRefusedError(
      `${field}: '${file.name}' was already written by mini-batch ${miniBatch ?? '?'} of this job; each mini-batch must write files of its own names (for example, named after its input or partition)`,
    );
  }
  throw new OutputFilesRefusedError(
    `${field}: '${blob}' in container '${container}' already exists and was not written by this job; a job never overwrites a file it did not write, so choose another output path or delete that file`,
  );
}

export interface PublishInput {
  index: number;
  attempt: number;
}

/**
 * Publishes what the attempt wrote (see the top of this file) and removes the local files. Returns the
 * outcome, failed with OUTPUT_FILES_REFUSED when the files cannot be published, what was published, and
 * warnings for the attempt log. Storage faults are thrown, for the caller to retry.
 */
export async function publishAttemptFiles(
  deps: { store: BlobStore; logsContainer: string; access: AccessPolicy },
  record: JobRecord,
  input: PublishInput,
  outcome: AttemptOutcome,
  /** The most bytes one attempt may publish; asked only when the attempt wrote files. */
  maxBytes: () => number,
): Promise<{ outcome: AttemptOutcome; published?: PublishedFiles; warnings: string[] }> {
  const files = outcome.files;
  if (!files) return { outcome, warnings: [] };
  try {
    let collected: Collected;
    try {
      collected = await collect(files, record, maxBytes());
    } catch (error) {
      if (!(error instanceof OutputFilesRefusedError)) throw error;
      return { outcome: refused(outcome, error), warnings: [] };
    }
    await publishLogFiles(deps, record.jobId, input, collected.logs);
    if (outcome.status === 'failed') return { outcome, warnings: collected.warnings };
    try {
      const published = await publishOutputFiles(deps, record, input, collected.outputs);
      return { outcome, ...(published ? { published } : {}), warnings: collected.warnings };
    } catch (error) {
      if (!(error instanceof OutputFilesRefusedError)) throw error;
      return { outcome: refused(outcome, error), warnings: collected.warnings };
    }
  } finally {
    await rm(files, { recursive: true, force: true });
  }
}

function refused(outcome: AttemptOutcome, error: OutputFilesRefusedError): AttemptOutcome {
  return {
    ...outcome,
    status: 'failed',
    succeeded: 0,
    failed: outcome.items,
    rows: 0,
    rowsText: '',
    code: error.code,
    message: error.message,
    retryable: false,
    log: `${outcome.log}${new Date().toISOString()} ERROR ${error.message}\n`,
  };
}

async function publishOutputFiles(
  deps: { store: BlobStore; access: AccessPolicy },
  record: JobRecord,
  input: PublishInput,
  outputs: Record<string, FoundFile[]>,
): Promise<PublishedFiles | undefined> {
  const named = Object.entries(outputs).filter(([, files]) => files.length > 0);
  if (named.length === 0) return undefined;
  const token = randomBytes(6).toString('hex');
  const metadata = {
    [OUTPUT_OWNER_METADATA]: outputOwnerOf(record),
    [OUTPUT_MINI_BATCH_METADATA]: String(input.index),
    [OUTPUT_TOKEN_METADATA]: token,
  };
  const appendRow = appendRowBlobFor(record, input.index);
  const published: PublishedFiles = { token, files: {} };
  for (const [output, files] of named) {
    const field = `outputs.${output}.path`;
    const location = resolveInputLocation(record.job.outputs[output]!.path, {
      accountUrl: deps.store.accountUrl,
    });
    const folder = location.prefix === '' ? '' : `${location.prefix.replace(/\/+$/, '')}/`;
    const reserved = new Set(
      record.appendRow?.container === location.container ? record.appendRow.blobs : [],
    );
    const uploads = files.map((file) => ({ file, blob: `${folder}${file.name}` }));
    for (const { file, blob } of uploads) {
      if (reserved.has(blob) || blob === appendRow?.blob) {
        throw new OutputFilesRefusedError(
          `${field}: '${file.name}' is the name of the job's append_row file; write another name`,
        );
      }
      const problem = deps.access.problem({ ...location, prefix: blob }, 'write');
      if (problem) throw new OutputFilesRefusedError(`${field}: ${problem}`);
    }
    const upload = (): Promise<void> =>
      forEachConcurrently(uploads, UPLOAD_CONCURRENCY, ({ file, blob }) =>
        putOutputFile(deps.store, location.container, blob, file, metadata, field),
      );
    try {
      await upload();
    } catch (error) {
      // Planning creates the output containers; one deleted since is created again, once.
      if (!(error instanceof StorageNotFoundError && error.blob === undefined)) throw error;
      await deps.store.ensureContainer(location.container);
      await upload();
    }
    published.files[output] = files.map((file) => file.name).sort();
  }
  return published;
}

/** Files of the attempt's log folder: `user/mini_batch_<n>/attempt_<k>/<name>` beside its log. */
async function publishLogFiles(
  deps: { store: BlobStore; logsContainer: string },
  jobId: string,
  input: PublishInput,
  files: FoundFile[],
): Promise<void> {
  const folder = jobFolder(jobId).attemptFiles(input.index, input.attempt);
  await forEachConcurrently(files, UPLOAD_CONCURRENCY, async (file) => {
    await deps.store.putFile(deps.logsContainer, `${folder}${file.name}`, file.localPath, {});
  });
}
