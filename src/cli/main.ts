import { existsSync, mkdtempSync, promises as fs, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { nextContinuation, ParallelJobClient } from '../client/client';
import { ParallelJobError, SpecValidationError } from '../errors';
import { startLocalHost, runHostCommand, type LocalHost } from '../local';
import { BlobStore } from '../storage/blobStore';
import { resolveInputLocation, uploadLocalFolder } from '../storage/inputs';
import { dumpJob, specToPlain } from '../spec/dump';
import { loadJobSpec, type LoadedJob } from '../spec/load';
import type { JobSpec } from '../spec/schema';
import type { JobView } from '../submit/status';

/** The folder of this package (it holds the Functions app the embedded host runs). */
function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'host.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the parallel-job app folder (host.json)');
    dir = parent;
  }
  return dir;
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

/** Uploads inputs that name local files or folders (relative to the spec) and points the spec at them. */
async function uploadLocalInputs(
  store: BlobStore,
  loaded: LoadedJob,
  runId: string,
  io: Io,
): Promise<JobSpec> {
  const spec = structuredClone(loaded.spec);
  const baseDir = loaded.baseDir ?? process.cwd();
  for (const [name, input] of Object.entries(spec.inputs ?? {})) {
    if (typeof input !== 'object' || input === null || !('path' in input) || typeof input.path !== 'string')
      continue;
    if (/^[a-z][a-z0-9+.-]*:/i.test(input.path)) continue;
    const local = path.resolve(baseDir, input.path);
    if (!existsSync(local)) continue;
    const prefix = `${runId}/${name}`;
    if (statSync(local).isDirectory()) {
      const { files, bytes } = await uploadLocalFolder(store, local, 'inputs', prefix);
      io.err(`Uploaded ${input.path}: ${files} files, ${formatBytes(bytes)} -> inputs/${prefix}/`);
      input.path = `inputs/${prefix}`;
    } else {
      await store.ensureContainer('inputs');
      await store.uploadFile('inputs', `${prefix}/${path.basename(local)}`, local);
      input.path = `inputs/${prefix}/${path.basename(local)}`;
    }
  }
  return spec;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** A live bar while the job runs (only on a terminal; plain progress lines otherwise). */
function progressReporter(io: Io): { update(view: JobView): void; stop(): void } {
  if (!io.interactive) {
    let last = '';
    return {
      update(view) {
        const c = view.counters;
        const line = `${view.status}: ${c.succeeded + c.failed}/${c.miniBatches} mini-batches (${c.failed} failed, ${c.retried} retries)`;
        if (line !== last) io.err(line);
        last = line;
      },
      stop() {},
    };
  }
  const bar = new SingleBar({
    format:
      '{status} [{bar}] {percentage}% | {value}/{total} mini-batches | {failed} failed | {retried} retries | ETA {eta_formatted}',
    hideCursor: true,
    etaBuffer: 50,
  });
  let started = false;
  return {
    update(view) {
      const c = view.counters;
      const payload = { status: view.status.padEnd(10), failed: c.failed, retried: c.retried };
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
async function downloadResults(store: BlobStore, view: JobView, outDir: string): Promise<void> {
  await fs.mkdir(outDir, { recursive: true });
  for (const [name, url] of Object.entries(view.outputs)) {
    const location = resolveInputLocation(url, { accountUrl: store.accountUrl });
    await downloadPrefix(store, location.container, location.prefix, path.join(outDir, 'outputs', name));
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

async function runLocal(
  specPath: string,
  options: { out?: string; dataDir?: string; planOnly?: boolean },
  io: Io,
): Promise<number> {
  const loaded = loadJobSpec(specPath);
  for (const warning of loaded.warnings) io.err(`warning: ${warning}`);
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'parallel-job-'));
  const host: LocalHost = await startLocalHost({
    appDir: packageRoot(),
    port: 0,
    dataDir,
    storage: 'memory',
    quiet: true,
    // Local mode: task code lives next to the spec.
    settings: { PARALLEL_JOB_TASKS_ROOT: loaded.baseDir ?? process.cwd() },
  });
  try {
    const store = BlobStore.fromConnectionString(host.connectionString);
    const runId = `${(loaded.spec.name ?? 'job').replace(/[^A-Za-z0-9_-]/g, '-')}-${Date.now().toString(36)}`;
    const spec = await uploadLocalInputs(store, loaded, runId, io);
    const client = new ParallelJobClient({ endpoint: host.url });
    if (options.planOnly) {
      io.out(JSON.stringify(await client.plan(specToPlain(spec)), null, 2));
      return 0;
    }
    const submitted = await client.submit(specToPlain(spec), { id: runId });
    io.err(`Started job ${submitted.id} on the embedded host (${host.url}).`);
    const progress = progressReporter(io);
    const view = await client.wait(submitted.id, { intervalMs: 200, onProgress: (v) => progress.update(v) });
    progress.stop();
    const outDir = path.resolve(options.out ?? path.join('parallel-job-output', submitted.id));
    await downloadResults(store, view, outDir);
    printResult(view, io, outDir);
    return view.status === 'Completed' ? 0 : 1;
  } finally {
    await host.stop();
  }
}

export function buildProgram(io: Io = defaultIo, setExit: (code: number) => void = () => undefined): Command {
  const program = new Command('parallel-job')
    .description("Azure ML's ParallelJob on Azure Functions: run, submit and watch mini-batch jobs.")
    .showHelpAfterError();
  const remote = (command: Command) =>
    command
      .option('--endpoint <url>', 'the deployed app (default: $PARALLEL_JOB_ENDPOINT)')
      .option('--key <key>', 'a function key (default: $PARALLEL_JOB_KEY)');

  program
    .command('run <job>')
    .description(
      'run a job on the embedded local host (in-process storage), show progress, download outputs and logs',
    )
    .option('--out <dir>', 'where to put outputs and logs (default: parallel-job-output/<job id>)')
    .option('--data-dir <dir>', 'folder for the host journal (default: a temporary folder)')
    .action(async (job: string, options: { out?: string; dataDir?: string }) =>
      setExit(await runLocal(job, options, io)),
    );

  program
    .command('plan <job>')
    .description('preview the mini-batches of a job without running user code (embedded host)')
    .action(async (job: string) => setExit(await runLocal(job, { planOnly: true }, io)));

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

  program
    .command('host [appDir]')
    .description('serve a Functions app (default: this one) like `func start`')
    .option('--port <port>', 'HTTP port (0 = any free port)')
    .option('--data-dir <dir>', 'journal and storage folder')
    .action(async (appDir: string | undefined, options: { port?: string; dataDir?: string }) => {
      const args = [appDir ?? packageRoot()];
      if (options.port) args.push('--port', options.port);
      if (options.dataDir) args.push('--data-dir', options.dataDir);
      setExit(await runHostCommand(args, { log: io.out, error: io.err }));
    });

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

  remote(program.command('status <id>').description('show a job')).action(
    async (id: string, options: { endpoint?: string; key?: string }) => {
      printResult(await remoteClient(options).get(id), io);
    },
  );

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

  remote(
    program
      .command('cancel <id>')
      .description('stop a job gracefully (in-flight attempts finish; outputs are finalized)'),
  ).action(async (id: string, options: { endpoint?: string; key?: string }) => {
    await remoteClient(options).cancel(id);
    io.out(`Cancel requested for ${id}.`);
  });

  remote(
    program
      .command('rerun <id>')
      .description('re-run only the FAILED and PENDING mini-batches of a finished job'),
  ).action(async (id: string, options: { endpoint?: string; key?: string }) => {
    const submitted = await remoteClient(options).rerun(id);
    io.out(`Re-run started: ${submitted.id}  (${submitted.view_url})`);
  });

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
    if (error instanceof ParallelJobError) {
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
