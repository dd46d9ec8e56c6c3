import { startLocalHost, type LocalHost, type LocalHostOptions } from './host';

/**
 * The process hostChild.ts forks to run local hosts out of the test runner's process. It starts
 * hosts with the options it is sent and answers for them over the IPC channel; a host's log lines go back
 * over the channel when the parent gave a logger. It stops its hosts and exits when the parent
 * disconnects (the parent closed it, ended or died) or on SIGTERM/SIGINT.
 */

export type ChildHostOptions = Omit<LocalHostOptions, 'logger'> & { forwardLogs?: boolean };

export type ChildRequest =
  | { id: number; kind: 'start'; options: ChildHostOptions }
  | { id: number; kind: 'stats' | 'whenIdle' | 'stop'; host: number };

export interface StartedHost {
  url: string;
  connectionString: string;
  storage?: LocalHost['storage'];
  functions: LocalHost['functions'];
}

export interface ChildError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export type ChildMessage =
  | { kind: 'reply'; id: number; value?: unknown }
  | { kind: 'failed'; id: number; error: ChildError }
  | { kind: 'log'; host: number; line: string };

/** Running hosts by the id of the request that started them. */
const hosts = new Map<number, LocalHost>();

function send(message: ChildMessage): void {
  if (process.connected) process.send?.(message);
}

function hostOf(id: number): LocalHost {
  const host = hosts.get(id);
  if (!host) throw new Error(`No running host ${id} in this process.`);
  return host;
}

async function handle(request: ChildRequest): Promise<unknown> {
  switch (request.kind) {
    case 'start': {
      const { forwardLogs, ...options } = request.options;
      const host = await startLocalHost({
        ...options,
        ...(forwardLogs ? { logger: (line: string) => send({ kind: 'log', host: request.id, line }) } : {}),
      });
      hosts.set(request.id, host);
      const started: StartedHost = {
        url: host.url,
        connectionString: host.connectionString,
        ...(host.storage ? { storage: host.storage } : {}),
        functions: host.functions,
      };
      return started;
    }
    case 'stats':
      return hostOf(request.host).stats();
    case 'whenIdle':
      return hostOf(request.host).whenIdle();
    case 'stop': {
      const host = hosts.get(request.host);
      hosts.delete(request.host);
      return host?.stop();
    }
  }
}

function describeError(error: unknown): ChildError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(error.stack ? { stack: error.stack } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

let ending = false;
/** Stops every host still running (at most 20 s), then exits. */
function end(): void {
  if (ending) return;
  ending = true;
  const stops = [...hosts.values()].map((host) =>
    host.stop().catch((error: unknown) => console.error(error)),
  );
  hosts.clear();
  setTimeout(() => process.exit(1), 20_000).unref();
  void Promise.all(stops).then(() => process.exit(0));
}

process.on('message', (request: ChildRequest) => {
  handle(request).then(
    (value) => send({ kind: 'reply', id: request.id, value }),
    (error: unknown) => send({ kind: 'failed', id: request.id, error: describeError(error) }),
  );
});
process.on('disconnect', end);
process.on('SIGTERM', end);
process.on('SIGINT', end);
