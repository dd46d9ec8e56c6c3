/**
 * A worker's folders on disk, for both languages. Azure ML scripts read `--model_folder
 * ${{outputs.models}}` once, in init(), and write into that folder in every run(), so a worker keeps the
 * same folders for its whole life; what one attempt wrote is moved aside when it ends, before the worker
 * can take the next attempt, and the main thread publishes it or throws it away (src/activities/attemptFiles.ts).
 *
 *   <pool>/<worker id>/outputs/<output name>/   one per uri_folder output (`ctx.outputs.x.dir`)
 *   <pool>/<worker id>/outputs/.unkept/          EntryScript().output_dir when the job has no uri_folder output
 *   <pool>/<worker id>/logs/                     `ctx.logDir`, EntryScript().log_dir
 *   <pool>/done/<worker id>-<n>/{outputs,logs}   an ended attempt's files, until the main thread takes them
 *
 * Only Node built-ins here: worker threads import this file.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/** The folder EntryScript().output_dir uses when the job has no uri_folder output: its files are not kept. */
export const UNKEPT_OUTPUT_FOLDER = '.unkept';

export interface WorkerFolders {
  root: string;
  /** uri_folder output name -> its folder. */
  outputs: Record<string, string>;
  logDir: string;
  /** What Python's EntryScript().output_dir is. */
  outputDir: string;
}

export function workerFolders(
  poolDir: string,
  workerId: string,
  job: { folderOutputs: readonly string[]; outputDirOf?: string },
): WorkerFolders {
  const root = path.join(poolDir, workerId);
  const outputs = Object.fromEntries(
    job.folderOutputs.map((name) => [name, path.join(root, 'outputs', name)]),
  );
  const outputDir =
    (job.outputDirOf !== undefined ? outputs[job.outputDirOf] : undefined) ??
    path.join(root, 'outputs', UNKEPT_OUTPUT_FOLDER);
  return { root, outputs, logDir: path.join(root, 'logs'), outputDir };
}

/**
 * Creates the folders (again, after an attempt's files were moved aside or a task removed one). The
 * folder of EntryScript().output_dir when the job has no uri_folder output is Python's alone: made with
 * `unkept`.
 */
export function prepareWorkerFolders(folders: WorkerFolders, options: { unkept?: boolean } = {}): void {
  mkdirSync(path.join(folders.root, 'outputs'), { recursive: true });
  for (const folder of [...Object.values(folders.outputs), folders.logDir])
    mkdirSync(folder, { recursive: true });
  if (options.unkept) mkdirSync(folders.outputDir, { recursive: true });
}

/** What a folder holds: nothing at all ('missing'), only empty folders ('empty'), or some file ('files'). */
function treeState(folder: string): 'missing' | 'empty' | 'files' {
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch {
    return 'missing';
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || treeState(path.join(folder, entry.name)) === 'files') return 'files';
  }
  return 'empty';
}

let moved = 0;

/**
 * Moves what the ended attempt wrote to `<pool>/done/` and gives the worker empty folders again; returns
 * where the files went, or undefined when it wrote nothing (the usual case, which costs a few readdirs).
 */
export function takeAttemptFiles(
  folders: WorkerFolders,
  poolDir: string,
  workerId: string,
  options: { unkept?: boolean } = {},
): string | undefined {
  const outputsRoot = path.join(folders.root, 'outputs');
  const outputs = treeState(outputsRoot);
  const logs = treeState(folders.logDir);
  if (outputs !== 'files' && logs !== 'files') {
    // A task that removed a folder gets it back for the next attempt.
    if (outputs === 'missing' || logs === 'missing') prepareWorkerFolders(folders, options);
    return undefined;
  }
  moved += 1;
  const done = path.join(poolDir, 'done', `${workerId}-${moved}`);
  mkdirSync(done, { recursive: true });
  if (existsSync(outputsRoot)) renameSync(outputsRoot, path.join(done, 'outputs'));
  if (existsSync(folders.logDir)) renameSync(folders.logDir, path.join(done, 'logs'));
  prepareWorkerFolders(folders, options);
  return done;
}

/** Removes a worker's folders (its worker died or was stopped). */
export function removeWorkerFolders(poolDir: string, workerId: string): void {
  rmSync(path.join(poolDir, workerId), { recursive: true, force: true });
}

/**
 * Removes the pool folders (`pools-<pid>[-<n>]` in `workDir`) of processes that are gone: a host that was killed
 * leaves its workers' folders behind. Best effort; a folder in use by a live process is never touched.
 */
export function removeStalePoolFolders(workDir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(workDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    // `pools-<pid>`, or `pools-<pid>-<n>` for the second and later app of a process.
    const pid = /^pools-(\d+)(?:-\d+)?$/.exec(entry)?.[1];
    if (pid === undefined || Number(pid) === process.pid || processAlive(Number(pid))) continue;
    rmSync(path.join(workDir, entry), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
