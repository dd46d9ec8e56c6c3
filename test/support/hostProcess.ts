import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { isAlive, readStorageState } from '@parallel-job/functions-host';

const repoRoot = path.resolve(__dirname, '..', '..');

export interface HostProcess {
  child: ChildProcess;
  url: string;
  /** The storage connection string the host printed. */
  connectionString: string;
  /** Everything the host printed so far. */
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * This repository's built app (dist/) on the local host in a real child process (`parallel-job host
 * <this app>`), with persisted storage under `dataDir` on free ports. Resolves once it serves; rejects
 * with its output if it exits first.
 */
export function startHostProcess(
  dataDir: string,
  env: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bin', 'parallel-job.js'),
      'host',
      repoRoot,
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--blob-port',
      '0',
      '--queue-port',
      '0',
      '--table-port',
      '0',
      '--quiet',
      ...extraArgs,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const url = /Host listening on (http:\/\/\S+)/.exec(output);
      const connection = /Connection string: (\S+)/.exec(output);
      if (url && connection)
        resolve({
          child,
          url: url[1] as string,
          connectionString: connection[1] as string,
          output: () => output,
          exited,
        });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => reject(new Error(`host exited with ${code}: ${output}`)));
  });
}

/** SIGKILLs the host (not its storage) and waits until it is gone. */
export async function killHost(host: HostProcess): Promise<void> {
  host.child.kill('SIGKILL');
  await host.exited;
}

/** Stops the storage process a data folder's host left running (a test's clean-up after kills). */
export function stopLeftoverStorage(dataDir: string): void {
  const state = readStorageState(path.join(dataDir, 'azurite'));
  if (state && isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
}
