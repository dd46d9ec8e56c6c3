import path from 'node:path';
import { ParallelJobError } from '../errors';
import { LocalHostError } from './errors';
import { formatFunctionList, startLocalHost, type LocalHost } from './host';
import type { StoragePorts } from './storage';

export interface HostCommandOptions {
  appDir: string;
  port?: number;
  dataDir?: string;
  storage?: 'memory' | 'persist';
  storagePorts?: Partial<StoragePorts>;
  quiet?: boolean;
}

const USAGE =
  'usage: host [appDir] [--port N] [--data-dir DIR] [--blob-port N] [--queue-port N] [--table-port N] [--memory] [--quiet]';

const portOf = (text: string, option: string): number => {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new Error(`${option} must be 0-65535. ${USAGE}`);
  return port;
};

/** Parses `[appDir] [--port N] [--data-dir DIR] [--blob-port N] ... [--memory] [--quiet]`. */
export function parseHostArgs(args: readonly string[]): HostCommandOptions {
  const options: HostCommandOptions = { appDir: process.cwd() };
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    const value = (): string => {
      const next = args[index + 1];
      if (next === undefined) throw new Error(`${arg} needs a value. ${USAGE}`);
      index += 1;
      return next;
    };
    if (arg === '--port' || arg === '-p') {
      const port = Number(value());
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port must be 0-65535. ${USAGE}`);
      options.port = port;
    } else if (arg.startsWith('--port=')) options.port = Number(arg.slice(7));
    else if (arg === '--data-dir') options.dataDir = path.resolve(value());
    else if (arg.startsWith('--data-dir=')) options.dataDir = path.resolve(arg.slice(11));
    else if (arg === '--blob-port' || arg === '--queue-port' || arg === '--table-port') {
      const service = arg.slice(2, -5) as keyof StoragePorts;
      options.storagePorts = { ...options.storagePorts, [service]: portOf(value(), arg) };
    } else if (arg === '--memory') options.storage = 'memory';
    else if (arg === '--quiet') options.quiet = true;
    else if (arg.startsWith('-')) throw new Error(`Unknown option ${arg}. ${USAGE}`);
    else options.appDir = path.resolve(arg);
  }
  return options;
}

/**
 * Runs the host like `func start`: prints the functions, serves until SIGINT/SIGTERM, then drains.
 * Resolves with the exit code once stopped. `args` are the arguments after the command name.
 */
export async function runHostCommand(
  args: readonly string[],
  io: { log: (line: string) => void; error: (line: string) => void } = {
    log: (line) => console.log(line),
    error: (line) => console.error(line),
  },
  /** Lines the app adds to the start-up banner (before the functions), e.g. the containers it uses. */
  describeApp?: (host: LocalHost) => Promise<string[]>,
): Promise<number> {
  let options: HostCommandOptions;
  let host: LocalHost;
  try {
    options = parseHostArgs(args);
    host = await startLocalHost({ ...options, logger: io.log });
  } catch (error) {
    const code = error instanceof LocalHostError ? `${error.code}: ` : '';
    io.error(
      code + (error instanceof ParallelJobError || error instanceof Error ? error.message : String(error)),
    );
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
  const fields = Object.fromEntries(
    host.connectionString
      .split(';')
      .filter((part) => part.includes('='))
      .map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]),
  );
  const where = host.storage
    ? host.storage.origin === 'external'
      ? 'an emulator already running here (not stopped by this host)'
      : `Azurite, process ${host.storage.pid ?? '?'}, data in ${host.storage.folder}` +
        (host.storage.origin === 'adopted' ? ' (found running: the last host did not stop cleanly)' : '')
    : fields.AccountName === 'devstoreaccount1'
      ? 'in-memory Azurite (gone when the host stops)'
      : `account ${fields.AccountName ?? '(from AzureWebJobsStorage)'}`;
  const lines = ['Storage:', '', `        ${where}`];
  for (const service of ['Blob', 'Queue', 'Table'])
    if (fields[`${service}Endpoint`]) lines.push(`        ${service}: ${fields[`${service}Endpoint`]}`);
  if (fields.AccountName === 'devstoreaccount1')
    lines.push(`        Connection string: ${host.connectionString}`);
  lines.push('');
  return lines;
}

if (require.main === module) {
  runHostCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
