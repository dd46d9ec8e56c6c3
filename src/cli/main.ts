import { mkdtempSync, promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import {
  DEV_ACCOUNT,
  hostCommand,
  LocalHostError,
  parseConnectionString,
  runHostCommand,
  startLocalHost,
  stopProcess,
  type LocalHost,
} from '@parallel-job/functions-host';
import { nextContinuation, ParallelJobClient } from '../client/client';
import { appFolder } from '../appFolder';
import { JobNotFoundError, ParallelJobError, SpecValidationError } from '../errors';
import { settingsSchema } from '../config';
import { BlobStore } from '../storage/blobStore';
import { resolveInputLocation } from '../storage/inputs';
import { dumpJob, specToPlain } from '../job/dump';
import { loadJobSpec } from '../job/load';
import type { JobSpec } from '../job/schema';
import { isTerminalStatus, planningSummary, type JobView } from '../api/wire';
import { checkLocalInputs, uploadLocalInputs } from './localInputs';
import { formatPlanSummary } from './planSummary';
import { RunRecord, runJobId, runKey } from './runState';

/** The folder of this package (it holds the Functions app the embedded host runs). */
function packageRoot(): string {
  const folder = appFolder();
  if (folder === undefined) throw new Error('cannot find the parallel-job app folder (host.json)');
  return folder;
}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  interactive: boolean;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interactive: Boolean(process.stderr.isTTY),
};

function remoteClient(options: { endpoint?: string; key?: string }): ParallelJobClient {
  const endpoint = options.endpoint ?? process.env.PARALLEL_JOB_ENDPOINT;
  if (!endpoint) {
    throw new Error(
      'Say which app to talk to: --endpoint https://<app>.azurewebsites.net (or PARALLEL_JOB_ENDPOINT).',
    );
  }
  return new ParallelJobClient({ endpoint, key: options.key ?? process.env.PARALLEL_JOB_KEY });
}

/** How far planning has got, while the job is Preparing and planning has recorded it. */
function planningNote(view: JobView): string | undefined {
  return view.status === 'Preparing' && view.planning ? planningSummary(view.planning) : undefined;
}

/** A live bar while the job runs (only on a terminal; plain progress lines otherwise). */
function progressReporter(io: Io): { update(view: JobView): void; stop(): void } {
  if (!io.interactive) {
    let last = '';
    return {
      update(view) {
        const c = view.counters;
        const planning = planningNote(view);
        const line = planning
          ? `${view.status}: ${planning}`
          : `${view.status}: ${c.succeeded + c.failed}/${c.miniBatches} mini-batches (${c.failed} failed, ${c.retried} retries)`;
        if (line !== last) io.err(line);
        last = line;
      },
      stop() {},
    };
  }
  const bar = new SingleBar({
    format:
      '{status} [{bar}] {percentage}% | {value}/{total} mini-batches | {failed} failed | {retried} retries | ETA {eta_formatted}{planning}',
    hideCursor: true,
    etaBuffer: 50,
  });
  let started = false;
  return {
    update(view) {
      const c = view.counters;
      const planning = planningNote(view);
      const payload = {
        status: view.status.padEnd(10),
        failed: c.failed,
        retried: c.retried,
        planning: planning ? ` | ${planning}` : '',
      };
      if (!started) {
        bar.start(Math.max(c.miniBatches, 1), 0, payload);
        started = true;
      }
      bar.setTotal(Math.max(c.miniBatches, 1));
      bar.update(c.succeeded + c.failed, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Copies a job's outputs and logs out of the embedded storage (it goes away with the process). */
/**
 * Copies the job's outputs and logs out of the embedded storage. A uri_folder output's link names its
 * append_row file when it has one; the whole folder is copied, with the files the task wrote beside it.
 */
async function downloadResults(
  store: BlobStore,
  view: JobView,
  outDir: string,
  outputs: JobSpec['outputs'],
): Promise<void> {
  await fs.mkdir(outDir, { recursive: true });
  for (const [name, url] of Object.entries(view.outputs)) {
    const location = resolveInputLocation(url, { accountUrl: store.accountUrl });
    const single =
      outputs[name]?.type === 'uri_folder' &&
      (await store.stat(location.container, location.prefix).catch(() => undefined));
    const prefix = single ? path.posix.dirname(location.prefix) : location.prefix;
    await downloadPrefix(store, location.container, prefix, path.join(outDir, 'outputs', name));
  }
  await downloadPrefix(store, 'logs', `${view.id}/`, path.join(outDir, 'logs'), [
    'sys/plan/',
    'sys/attempts/',
  ]);
}

async function downloadPrefix(
  store: BlobStore,
  container: string,
  prefix: string,
  dir: string,
  skip: string[] = [],
): Promise<void> {
  const single = await store.stat(container, prefix).catch(() => undefined);
  if (single) {
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, path.posix.basename(prefix)), await store.read(container, prefix));
    return;
  }
  const folder = prefix.endsWith('/') ? prefix : `${prefix}/`;
  for await (const blob of store.list(container, folder)) {
    const relative = blob.name.slice(folder.length);
    if (skip.some((s) => relative.startsWith(s))) continue;
    const target = path.join(dir, ...relative.split('/'));
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, await store.read(container, blob.name));
  }
}

function printResult(view: JobView, io: Io, outDir?: string): void {
  const c = view.counters;
  io.out(`Job ${view.id}: ${view.status}`);
  const planning = planningNote(view);
  if (planning) io.out(`  planning: ${planning}`);
  io.out(
    `  mini-batches: ${c.succeeded} succeeded, ${c.failed} failed of ${c.miniBatches} (${c.retried} retries)`,
  );
  io.out(`  items: ${c.itemsSucceeded} succeeded, ${c.itemsFailed} failed; output rows: ${c.rows}`);
  for (const reason of view.reasons) io.out(`  reason: ${reason}`);
  for (const error of view.first_errors.slice(0, 5)) {
    io.out(
      `  error: mini-batch ${error.index} attempt ${error.attempt}: ${error.code}: ${error.message.split('\n')[0]}`,
    );
  }
  if (outDir) {
    io.out(`  outputs: ${path.join(outDir, 'outputs')}`);
    io.out(`  logs:    ${path.join(outDir, 'logs')} (job_result.json, manifest.json, user/ logs)`);
  } else {
    for (const [name, url] of Object.entries(view.outputs)) io.out(`  output ${name}: ${url}`);
    for (const [name, url] of Object.entries(view.log_files)) io.out(`  log ${name}: ${url}`);
  }
}

/** `plan`: the embedded host with in-memory storage in a temporary folder, removed afterwards. */
async function planLocal(specPath: string, options: { json?: boolean }, io: Io): Promise<number> {
  const loaded = loadJobSpec(specPath);
  for (const warning of loaded.warnings) io.err(`warning: ${warning}`);
  checkLocalInputs(loaded);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parallel-job-plan-'));
  try {
    const host = await startLocalHost({
      appDir: packageRoot(),
      port: 0,
      dataDir,
      storage: 'memory',
      quiet: true,
      settings: { PARALLEL_JOB_TASKS_ROOT: loaded.baseDir ?? process.cwd() },
    });
    try {
      const store = BlobStore.fromConnectionString(host.connectionString);
      const spec = await uploadLocalInputs(store, loaded, `plan-${Date.now().toString(36)}`, io.err);
      const client = new ParallelJobClient({ endpoint: host.url });
      const preview = await client.plan(specToPlain(spec));
      io.out(
        options.json
          ? JSON.stringify(preview, null, 2)
          : formatPlanSummary(preview, {
              appendRows: spec.task.append_row_to !== undefined,
              maxRetries: spec.retry_settings.max_retries,
              concurrency: spec.resources.instance_count * spec.max_concurrency_per_instance,
            }),
      );
      return 0;
    } finally {
      await host.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function findJob(client: ParallelJobClient, id: string | undefined): Promise<JobView | undefined> {
  if (!id) return undefined;
  try {
    return await client.get(id);
  } catch (error) {
    if (error instanceof JobNotFoundError) return undefined;
    throw error;
  }
}

/** Ctrl-C once: a graceful cancel. Twice: stop at once. SIGTERM: stop now, resume on the next run. */
function interruptions(
  io: Io,
  onCancel: () => Promise<void>,
  onStop: (reason: string, code: number) => void,
): { interrupted(): boolean; dispose(): void } {
  let count = 0;
  const onInterrupt = (): void => {
    count += 1;
    if (count === 1) {
      io.err(
        '\nCtrl-C: canceling the job gracefully: no new mini-batches start, attempts in flight finish, ' +
          'then the partial output is finalized and downloaded. Ctrl-C again stops at once.',
      );
      onCancel().catch((error: unknown) => io.err(`Cancel failed: ${(error as Error).message}`));
    } else onStop('Ctrl-C again: stopping at once', 130);
  };
  const onTerminate = (): void => onStop('SIGTERM: stopping', 143);
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);
  return {
    interrupted: () => count > 0,
    dispose() {
      process.off('SIGINT', onInterrupt);
      process.off('SIGTERM', onTerminate);
    },
  };
}

/** The embedded host of `run`, on its data folder, quiet, its log lines on stderr. */
function startRunHost(dataDir: string, tasksRoot: string | undefined, io: Io): Promise<LocalHost> {
  return startLocalHost({
    appDir: packageRoot(),
    port: 0,
    dataDir,
    // Free ports, the same ones again on the next run on this folder (blob URLs in the data stay valid).
    storagePorts: { blob: 0, queue: 0, table: 0 },
    quiet: true,
    logger: (line) => io.err(line),
    // Local mode: task code lives next to the spec.
    settings: { PARALLEL_JOB_TASKS_ROOT: tasksRoot ?? process.cwd() },
  });
}

/** Waits for a job of the embedded host to end, polling fast and showing progress. */
async function waitWithProgress(client: ParallelJobClient, jobId: string, io: Io): Promise<JobView> {
  const progress = progressReporter(io);
  const view = await client.wait(jobId, { intervalMs: 200, onProgress: (v) => progress.update(v) });
  progress.stop();
  return view;
}

/** What `run` says when it finds the job of an earlier run that is not to be re-run. */
function resumeMessage(view: JobView): string {
  return view.status === 'Completed'
    ? `Job ${view.id} has already completed (--fresh runs it again); downloading its results.`
    : `Resuming job ${view.id} (${view.status}, ${view.counters.succeeded + view.counters.failed}/${view.counters.miniBatches} mini-batches done).`;
}

/**
 * `run`: the embedded host on a data folder (journal and storage on disk), the job submitted, watched
 * and its results downloaded. Running the same command again resumes the job (see runState.ts).
 */
async function runLocal(
  specPath: string,
  options: { out?: string; dataDir?: string; fresh?: boolean },
  io: Io,
): Promise<number> {
  const loaded = loadJobSpec(specPath);
  for (const warning of loaded.warnings) io.err(`warning: ${warning}`);
  checkLocalInputs(loaded);
  // Not `.parallel-job` itself: that is where `npm start` in this app's folder keeps its state.
  const dataDir = path.resolve(options.dataDir ?? path.join('.parallel-job', 'run'));
  const key = runKey(loaded);
  const record = new RunRecord(dataDir);
  const host = await startRunHost(dataDir, loaded.baseDir, io);
  io.err(`State: ${dataDir} (run the same command again to resume; --fresh starts the job anew)`);
  let jobId: string | undefined;
  let stopping = false;
  const client = new ParallelJobClient({ endpoint: host.url });
  const signals = interruptions(
    io,
    async () => {
      if (jobId) await client.cancel(jobId);
    },
    (reason, code) => {
      if (stopping) return;
      stopping = true;
      io.err(`${reason}; run the same command again to resume.`);
      // The host's work is dropped as a crash would drop it (the journal is never ahead of storage);
      // only the storage process is stopped, so that it saves and nothing is left running.
      const pid = host.storage?.origin === 'external' ? undefined : host.storage?.pid;
      void (pid ? stopProcess(pid) : Promise.resolve()).finally(() => process.exit(code));
    },
  );
  try {
    const store = BlobStore.fromConnectionString(host.connectionString);
    const latest = options.fresh ? undefined : (record.latest(key) ?? runJobId(loaded, key, false));
    let view = await findJob(client, latest);
    const rerunRest = async (ended: JobView): Promise<string> => {
      const rerun = await client.rerun(ended.id);
      io.err(`Job ${ended.id} ended ${ended.status}: running its unfinished mini-batches as ${rerun.id}.`);
      record.remember(key, rerun.id, path.resolve(specPath));
      return rerun.id;
    };
    // A cancel asked for by an earlier run (Ctrl-C twice) completes, then the rest runs.
    const finishCancel = view?.status === 'CancelRequested';
    if (view && view.status !== 'Completed' && isTerminalStatus(view.status)) {
      jobId = await rerunRest(view);
    } else if (view) {
      jobId = view.id;
      io.err(resumeMessage(view));
    } else {
      const id = runJobId(loaded, key, options.fresh ?? false);
      const spec = await uploadLocalInputs(store, loaded, id, io.err);
      if (signals.interrupted()) {
        io.err('Interrupted before the job started: nothing was submitted.');
        return 130;
      }
      await client.submit(specToPlain(spec), { id });
      jobId = id;
      record.remember(key, jobId, path.resolve(specPath));
      io.err(`Started job ${jobId} on the embedded host (${host.url}).`);
    }
    view = await waitWithProgress(client, jobId, io);
    if (finishCancel && view.status === 'Canceled' && !signals.interrupted()) {
      jobId = await rerunRest(view);
      view = await waitWithProgress(client, jobId, io);
    }
    const outDir = path.resolve(options.out ?? path.join('parallel-job-output', jobId));
    await downloadResults(store, view, outDir, loaded.spec.outputs);
    printResult(view, io, outDir);
    if (view.status === 'Canceled')
      io.out('  Canceled: run the same command again to run the mini-batches that did not finish.');
    return view.status === 'Completed' ? 0 : signals.interrupted() ? 130 : 1;
  } finally {
    signals.dispose();
    await host.stop();
  }
}

/** The containers this app's jobs use; created on the emulator so that uploads work at once. */
async function describeContainers(host: LocalHost): Promise<string[]> {
  const settings = settingsSchema.parse(process.env);
  const containers: [string, string][] = [
    [settings.PARALLEL_JOB_INPUTS_CONTAINER, 'input data (upload here)'],
    [settings.PARALLEL_JOB_OUTPUTS_CONTAINER, 'job outputs'],
    [settings.PARALLEL_JOB_LOGS_CONTAINER, 'job logs, job_result.json, manifest.json'],
    [settings.PARALLEL_JOB_JOBS_CONTAINER, 'drop a job spec here to start it'],
    [settings.PARALLEL_JOB_SCHEDULES_CONTAINER, 'schedules'],
  ];
  if (parseConnectionString(host.connectionString).get('accountname') === DEV_ACCOUNT) {
    const store = BlobStore.fromConnectionString(host.connectionString);
    for (const [name] of containers) await store.ensureContainer(name);
  }
  return ['Containers:', '', ...containers.map(([name, use]) => `        ${name.padEnd(12)} ${use}`), ''];
}

type SetExit = (code: number) => void;

/** The options of the commands that talk to a deployed app. */
function remote(command: Command): Command {
  return command
    .option('--endpoint <url>', 'the deployed app (default: $PARALLEL_JOB_ENDPOINT)')
    .option('--key <key>', 'a function key (default: $PARALLEL_JOB_KEY)');
}

function addRunCommand(program: Command, io: Io, setExit: SetExit): void {
  program
    .command('run <job>')
    .description(
      'run a job on the embedded local host, show progress, download outputs and logs; the same command ' +
        'again resumes an unfinished job (Ctrl-C cancels gracefully, twice stops at once)',
    )
    .option('--out <dir>', 'where to put outputs and logs (default: parallel-job-output/<job id>)')
    .option('--data-dir <dir>', 'journal and storage folder (default: ./.parallel-job/run)')
    .option('--fresh', 'start the job anew instead of resuming it')
    .action(async (job: string, options: { out?: string; dataDir?: string; fresh?: boolean }) =>
      setExit(await runLocal(job, options, io)),
    );
}

function addPlanCommand(program: Command, io: Io, setExit: SetExit): void {
  program
    .command('plan <job>')
    .description('preview the mini-batches of a job without running user code (embedded host)')
    .option('--json', 'print the preview as JSON instead of a summary')
    .action(async (job: string, options: { json?: boolean }) => setExit(await planLocal(job, options, io)));
}

function addDumpCommand(program: Command, io: Io): void {
  program
    .command('dump <job> [dest]')
    .description('validate a job spec and write it back as YAML (stdout, or a file that must not exist)')
    .option('--overwrite', 'replace dest if it exists')
    .action((job: string, dest: string | undefined, options: { overwrite?: boolean }) => {
      const loaded = loadJobSpec(job);
      for (const warning of loaded.warnings) io.err(`warning: ${warning}`);
      const yaml = dumpJob(loaded.spec, dest, { overwrite: options.overwrite });
      if (!dest) io.out(yaml.trimEnd());
    });
}

function addHostCommand(program: Command, io: Io, setExit: SetExit): void {
  program.addCommand(
    hostCommand(
      async (options) => {
        const ownApp = options.appDir === undefined;
        setExit(
          await runHostCommand(
            { ...options, appDir: options.appDir ?? packageRoot() },
            { log: io.out, error: io.err },
            ownApp ? describeContainers : undefined,
          ),
        );
      },
      {
        description: 'serve a Functions app (default: this one) like `func start`',
        appDir: 'the Functions app folder (default: this app)',
        dataDir: 'journal and storage folder (default: <appDir>/.parallel-job)',
      },
    ).copyInheritedSettings(program),
  );
}

function addSubmitCommand(program: Command, io: Io, setExit: SetExit): void {
  remote(program.command('submit <job>').description('submit a job spec to a deployed app'))
    .option('--id <id>', 'job id (a re-submission with the same id starts nothing)')
    .option('--wait', 'wait for the job to end, with progress')
    .action(
      async (job: string, options: { endpoint?: string; key?: string; id?: string; wait?: boolean }) => {
        const client = remoteClient(options);
        const submitted = await client.submit(readFileSync(job, 'utf8'), { id: options.id });
        for (const warning of submitted.warnings) io.err(`warning: ${warning}`);
        io.out(
          `${submitted.created ? 'Submitted' : 'Already submitted'}: ${submitted.id}  (${submitted.view_url})`,
        );
        if (options.wait) {
          const progress = progressReporter(io);
          const view = await client.wait(submitted.id, { onProgress: (v) => progress.update(v) });
          progress.stop();
          printResult(view, io);
          setExit(view.status === 'Completed' ? 0 : 1);
        }
      },
    );
}

function addStatusCommand(program: Command, io: Io): void {
  remote(program.command('status <id>').description('show a job')).action(
    async (id: string, options: { endpoint?: string; key?: string }) => {
      printResult(await remoteClient(options).get(id), io);
    },
  );
}

function addListCommand(program: Command, io: Io): void {
  remote(program.command('list').description('list jobs'))
    .option('--status <status>', 'only jobs with this status (Running, Completed, Failed, ...)')
    .option('--top <n>', 'jobs per page, newest first (1-500)', '50')
    .option('--continuation <token>', 'the page after the one that printed this token')
    .action(
      async (options: {
        endpoint?: string;
        key?: string;
        status?: string;
        top: string;
        continuation?: string;
      }) => {
        const page = await remoteClient(options).list({
          status: options.status,
          top: Number(options.top) || 50,
          continuation: options.continuation,
        });
        for (const job of page.jobs) {
          io.out(
            `${job.id.padEnd(40)} ${job.status.padEnd(16)} ${job.counters.succeeded + job.counters.failed}/${job.counters.miniBatches}  ${job.created_time}`,
          );
        }
        const more = nextContinuation(page);
        if (more) io.out(`more: --continuation ${more}`);
      },
    );
}

function addCancelCommand(program: Command, io: Io): void {
  remote(
    program
      .command('cancel <id>')
      .description('stop a job gracefully (in-flight attempts finish; outputs are finalized)'),
  ).action(async (id: string, options: { endpoint?: string; key?: string }) => {
    await remoteClient(options).cancel(id);
    io.out(`Cancel requested for ${id}.`);
  });
}

function addRerunCommand(program: Command, io: Io): void {
  remote(
    program
      .command('rerun <id>')
      .description('re-run only the FAILED and PENDING mini-batches of a finished job'),
  ).action(async (id: string, options: { endpoint?: string; key?: string }) => {
    const submitted = await remoteClient(options).rerun(id);
    io.out(`Re-run started: ${submitted.id}  (${submitted.view_url})`);
  });
}

function addLogsCommand(program: Command, io: Io, setExit: SetExit): void {
  remote(
    program
      .command('logs <id>')
      .description("list a job's log files, or print one of them (read through the app, with your key)")
      .option('--show <name>', 'print this log file, e.g. job_result, job_progress_overview, failed_items'),
  ).action(async (id: string, options: { endpoint?: string; key?: string; show?: string }) => {
    const client = remoteClient(options);
    const view = await client.get(id);
    if (options.show) {
      if (!(options.show in view.log_files)) {
        io.err(
          `No log file '${options.show}'. This job has: ${Object.keys(view.log_files).join(', ') || 'none yet'}.`,
        );
        setExit(1);
        return;
      }
      io.out((await client.file(id, 'logs', options.show)).toString('utf8').trimEnd());
      return;
    }
    for (const [name, url] of Object.entries(view.log_files)) io.out(`${name.padEnd(24)} ${url}`);
    if (Object.keys(view.log_files).length === 0) io.out(`No log files yet: the job is ${view.status}.`);
    else io.out(`Print one with: parallel-job logs ${id} --show <name>`);
  });
}

export function buildProgram(io: Io = defaultIo, setExit: SetExit = () => undefined): Command {
  const program = new Command('parallel-job')
    .description("Azure ML's ParallelJob on Azure Functions: run, submit and watch mini-batch jobs.")
    .showHelpAfterError();
  // Registration order is the order `--help` lists the commands in.
  addRunCommand(program, io, setExit);
  addPlanCommand(program, io, setExit);
  addDumpCommand(program, io);
  addHostCommand(program, io, setExit);
  addSubmitCommand(program, io, setExit);
  addStatusCommand(program, io);
  addListCommand(program, io);
  addCancelCommand(program, io);
  addRerunCommand(program, io);
  addLogsCommand(program, io, setExit);
  return program;
}

/** Entry point used by bin/parallel-job.js; resolves with the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  // Subcommands copied the root's settings when they were added: each needs the override too, so that
  // `<command> --help` and usage errors return an exit code instead of ending the process.
  for (const command of [program, ...program.commands]) command.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof SpecValidationError) {
      io.err(error.message);
      return 2;
    }
    if (error instanceof ParallelJobError || error instanceof LocalHostError) {
      io.err(`${error.code}: ${error.message}`);
      return 1;
    }
    const commanderCode = (error as { exitCode?: number; code?: string }).exitCode;
    if (commanderCode !== undefined) return commanderCode;
    io.err(error instanceof Error ? error.message : String(error));
    return 1;
  }
  return exitCode;
}
