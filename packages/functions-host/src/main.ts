import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { DEV_ACCOUNT, parseConnectionString } from './storage/connectionString';
import { LocalHostError } from './errors';
import { formatFunctionList, startLocalHost, type LocalHost } from './host';
import type { StoragePorts } from './storage/localStorage';

export interface HostCommandOptions {
  appDir: string;
  port?: number;
  dataDir?: string;
  storage?: 'memory' | 'persist';
  storagePorts?: Partial<StoragePorts>;
  quiet?: boolean;
}

function portOf(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new InvalidArgumentError('must be 0-65535.');
  return port;
}

interface HostFlags {
  port?: number;
  dataDir?: string;
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  memory?: boolean;
  quiet?: boolean;
}

/**
 * The `host [appDir]` command and its options: parsed by commander here, for the host's own command line
 * (runMain) and for the CLI of an app that embeds the host alike. `action` gets the options with `appDir`
 * resolved (undefined when none was given).
 */
export function hostCommand(
  action: (options: Omit<HostCommandOptions, 'appDir'> & { appDir?: string }) => Promise<void>,
  help: { description: string; appDir: string; dataDir: string } = {
    description: 'serve a Functions app like `func start`',
    appDir: 'the Functions app folder (default: the current folder)',
    dataDir: 'journal and storage folder (default: <appDir>/.parallel-job)',
  },
): Command {
  return new Command('host')
    .description(help.description)
    .argument('[appDir]', help.appDir)
    .option('-p, --port <port>', 'HTTP port (0 = any free port; default 7071)', portOf)
    .option('--data-dir <dir>', help.dataDir)
    .option('--blob-port <port>', 'storage blob port (default 10000; 0 = any free port)', portOf)
    .option('--queue-port <port>', 'storage queue port (default 10001)', portOf)
    .option('--table-port <port>', 'storage table port (default 10002)', portOf)
    .option('--memory', 'keep storage in memory, in the host process (lost when it stops)')
    .option('--quiet', 'no per-invocation and user log lines')
    .action(async (appDir: string | undefined, flags: HostFlags) => {
      const storagePorts: Partial<StoragePorts> = {};
      if (flags.blobPort !== undefined) storagePorts.blob = flags.blobPort;
      if (flags.queuePort !== undefined) storagePorts.queue = flags.queuePort;
      if (flags.tablePort !== undefined) storagePorts.table = flags.tablePort;
      await action({
        appDir: appDir === undefined ? undefined : path.resolve(appDir),
        port: flags.port,
        dataDir: flags.dataDir === undefined ? undefined : path.resolve(flags.dataDir),
        storagePorts: Object.keys(storagePorts).length > 0 ? storagePorts : undefined,
        storage: flags.memory ? 'memory' : undefined,
        quiet: flags.quiet,
      });
    });
}

/**
 * Runs the host like `func start`: prints the functions, serves until SIGINT/SIGTERM, then drains.
 * Resolves with the exit code once stopped.
 */
export async function runHostCommand(
  options: HostCommandOptions,
  io: { log: (line: string) => void; error: (line: string) => void } = {
    log: (line) => console.log(line),
    error: (line) => console.error(line),
  },
  /** Lines the app adds to the start-up banner (before the functions), e.g. the containers it uses. */
  describeApp?: (host: LocalHost) => Promise<string[]>,
): Promise<number> {
  let host: LocalHost;
  try {
    host = await startLocalHost({ ...options, logger: io.log });
  } catch (error) {
    const code = error instanceof LocalHostError ? `${error.code}: ` : '';
    io.error(code + (error instanceof Error ? error.message : String(error)));
    return 1;
  }
  try {
    for (const line of formatStorage(host)) io.log(line);
    for (const line of (await describeApp?.(host)) ?? []) io.log(line);
  } catch (error) {
    io.error(`Start-up failed: ${(error as Error).message}`);
    await host.stop();
    return 1;
  }
  for (const line of formatFunctionList(host.functions)) io.log(line);
  io.log('');
  io.log(`Host listening on ${host.url}`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      io.log(`${signal} received: draining in-flight work and stopping...`);
      host.stop().then(
        () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          resolve(0);
        },
        (error: unknown) => {
          io.error(`Stopping failed: ${(error as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The storage block of the start-up banner: where the data is and how to connect to it. */
export function formatStorage(host: LocalHost): string[] {
  const fields = parseConnectionString(host.connectionString);
  const account = fields.get('accountname');
  const where = host.storage
    ? host.storage.origin === 'external'
      ? 'an emulator already running here (not stopped by this host)'
      : `Azurite, process ${host.storage.pid ?? '?'}, data in ${host.storage.folder}` +
        (host.storage.origin === 'adopted' ? ' (found running: the last host did not stop cleanly)' : '')
    : account === DEV_ACCOUNT
      ? 'in-memory Azurite (gone when the host stops)'
      : `account ${account ?? '(from AzureWebJobsStorage)'}`;
  const lines = ['Storage:', '', `        ${where}`];
  for (const service of ['Blob', 'Queue', 'Table']) {
    const endpoint = fields.get(`${service.toLowerCase()}endpoint`);
    if (endpoint) lines.push(`        ${service}: ${endpoint}`);
  }
  if (account === DEV_ACCOUNT) lines.push(`        Connection string: ${host.connectionString}`);
  lines.push('');
  return lines;
}

/** The host's own command line, `functions-host [appDir] [options]`: serves until SIGINT/SIGTERM, then exits. */
export function runMain(argv: string[]): void {
  hostCommand(async (options) => {
    process.exit(await runHostCommand({ ...options, appDir: options.appDir ?? process.cwd() }));
  })
    .parseAsync(argv)
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

// Run as a script: `node dist/main.js`, or the sources under tsx as the tests run it.
if (require.main === module) runMain(process.argv);
