import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { isAlive, readStorageState } from '../../src/storage/localStorage';

const packageRoot = path.join(__dirname, '..', '..');

export interface HostProcess {
  child: ChildProcess;
  url: string;
}

/**
 * The host's own command line (src/main.ts, under tsx) in a real child process, serving `appDir` on a
 * free port with its journal and storage in `dataDir`. Resolves once it serves; rejects with its output
 * if it exits first.
 */
export function startHostProcess(
  appDir: string,
  dataDir: string,
  extraArgs: string[] = [],
): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(packageRoot, 'src', 'main.ts'),
      appDir,
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--quiet',
      ...extraArgs,
    ],
    { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Host listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] as string });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`host exited with ${code}: ${output}`)));
  });
}

/** Stops the storage process a data folder's host left running (a test's clean-up after kills). */
export function stopLeftoverStorage(dataDir: string): void {
  const state = readStorageState(path.join(dataDir, 'azurite'));
  if (state && isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
}
