import { fork, type ChildProcess } from 'node:child_process';
import { siblingScript } from './childScript';
import type { LocalHostOptions, LocalHostStats } from './host';
import type { ChildError, ChildHostOptions, ChildMessage, ChildRequest, StartedHost } from './hostChildMain';

/**
 * Local hosts for an app's tests, each in a child process (hostChildMain.ts) instead of the test runner's
 * process, so the host runs on plain Node as it does for users: the host keeps what is one per process
 * in module scope, and jest gives each test file its own copies of `require` and `process`. The handle
 * offers what a test reads of an in-process host; the counters and the idle wait go over the IPC
 * channel, so they are asynchronous. The child's output goes to this process's output.
 *
 * A child never outlives its test: stopping a host started with `startChildLocalHost` ends its child,
 * and a child stops its hosts and exits when this process exits (it is sent SIGTERM) or dies (its IPC
 * channel closes). Stopping its hosts first also stops the storage processes they started.
 */

export interface ChildLocalHost extends StartedHost {
  stats(): Promise<LocalHostStats>;
  /** Resolves when no orchestration episode or activity is running or queued. */
  whenIdle(): Promise<void>;
  stop(): Promise<void>;
  /** The process the host runs in, and its exit code once it ends. */
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** The options of startLocalHost; a logger gets the host's lines from the child. */
export type LocalHostChildOptions = LocalHostOptions;

const entry = siblingScript(__filename, 'hostChildMain');
const CLOSE_TIMEOUT_MS = 30_000;

function errorFrom(error: ChildError): Error {
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return error.code === undefined ? rebuilt : Object.assign(rebuilt, { code: error.code });
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One child process that runs hosts, one after another or side by side, until closed. */
export class HostChild {
  readonly exited: Promise<number | null>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly loggers = new Map<number, (line: string) => void>();
  private exitCode: number | null | undefined;
  private readonly endOnExit = (): void => {
    this.child.kill('SIGTERM');
  };

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.exitCode = code;
        process.off('exit', this.endOnExit);
        for (const waiting of this.pending.values())
          waiting.reject(new Error(`The host process exited with ${code} before it answered.`));
        this.pending.clear();
        resolve(code);
      }),
    );
    child.on('message', (message: ChildMessage) => this.receive(message));
    child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    process.on('exit', this.endOnExit);
    // Only a pending request keeps this process alive for the child.
    this.setReferenced(false);
  }

  static spawn(): HostChild {
    const child = fork(entry.script, [], {
      execArgv: entry.loader,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env },
    });
    return new HostChild(child);
  }

  /** Starts a host in this child; it stops with `stop()` or when the child is closed. */
  async startLocalHost(options: LocalHostChildOptions, ownsChild = false): Promise<ChildLocalHost> {
    const { logger, ...rest } = options;
    const id = this.nextId;
    if (logger) this.loggers.set(id, logger);
    const childOptions: ChildHostOptions = { ...rest, ...(logger ? { forwardLogs: true } : {}) };
    let started: StartedHost;
    try {
      started = (await this.request({ id, kind: 'start', options: childOptions })) as StartedHost;
    } catch (error) {
      this.loggers.delete(id);
      throw error;
    }
    let stopping: Promise<void> | undefined;
    return {
      ...started,
      child: this.child,
      exited: this.exited,
      stats: async () => (await this.request({ id: this.nextId, kind: 'stats', host: id })) as LocalHostStats,
      whenIdle: async () => {
        await this.request({ id: this.nextId, kind: 'whenIdle', host: id });
      },
      stop: () => {
        stopping ??= (async () => {
          if (this.exitCode === undefined) await this.request({ id: this.nextId, kind: 'stop', host: id });
          this.loggers.delete(id);
          if (ownsChild) await this.close();
        })();
        return stopping;
      },
    };
  }

  /** Ends the child: it stops the hosts still running in it. SIGKILL when it takes longer than 30 s. */
  async close(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.setReferenced(true);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    if (this.child.connected) this.child.disconnect();
    else this.child.kill('SIGTERM');
    await this.exited;
    clearTimeout(timer);
  }

  private request(request: ChildRequest): Promise<unknown> {
    this.nextId = Math.max(this.nextId, request.id) + 1;
    if (this.exitCode !== undefined || !this.child.connected)
      return Promise.reject(new Error(`The host process has exited (${this.exitCode}).`));
    const answer = new Promise<unknown>((resolve, reject) =>
      this.pending.set(request.id, { resolve, reject }),
    );
    this.setReferenced(true);
    this.child.send(request);
    return answer;
  }

  private receive(message: ChildMessage): void {
    if (message.kind === 'log') {
      this.loggers.get(message.host)?.(message.line);
      return;
    }
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.setReferenced(false);
    if (message.kind === 'reply') waiting.resolve(message.value);
    else waiting.reject(errorFrom(message.error));
  }

  /** Whether the child (its channel and output pipes) keeps this process's event loop alive. */
  private setReferenced(referenced: boolean): void {
    const handles: ({ ref?(): void; unref?(): void } | null | undefined)[] = [
      this.child,
      this.child.channel,
      this.child.stdout as { ref?(): void; unref?(): void } | null,
      this.child.stderr as { ref?(): void; unref?(): void } | null,
    ];
    for (const handle of handles) {
      if (referenced) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}

/**
 * Starts a host with `startLocalHost`'s options in a child process of its own, which ends when the host
 * stops. Rejects with the host's error (its name, message and `code`) when it cannot start.
 */
export async function startChildLocalHost(options: LocalHostChildOptions): Promise<ChildLocalHost> {
  const child = HostChild.spawn();
  try {
    return await child.startLocalHost(options, true);
  } catch (error) {
    await child.close();
    throw error;
  }
}
