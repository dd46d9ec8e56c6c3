import { isAlive, openStorage, type LocalStorage } from './localStorage';
import type { LogLine } from '../runtime/types';

/**
 * What the durable engine asks about storage before it starts an activity and after one failed: wait
 * while it is down, and whether it went down while the activity ran (the failure may be the outage's,
 * so the activity runs again rather than failing its orchestration).
 */
export interface StorageGate {
  /** Resolves at once while storage answers, else once it answers again. */
  available(): Promise<void>;
  /** True while storage is down. */
  readonly down: boolean;
  /** True when storage was down at some moment since `time` (ms since the epoch). */
  interruptedSince(time: number): boolean;
}

const POLL_MS = 200;
const RETRY_MS = 1000;

/**
 * Watches the host's own storage process and starts it again on the same folder and ports when it
 * dies (an out-of-memory kill picks the largest process, which storage often is). Every write it had
 * answered is still there (its write-ahead log, lokiLog.ts), and the connection string is the same.
 */
export class StorageSupervisor implements StorageGate {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private outage: Promise<void> | undefined;
  /** Start of the current outage, or of the last one, and its end (undefined while it lasts). */
  private lastDownAt = 0;
  private lastUpAt: number | undefined = 0;
  restarts = 0;

  constructor(
    private current: LocalStorage,
    private readonly folder: string,
    private readonly log: LogLine,
  ) {}

  get storage(): LocalStorage {
    return this.current;
  }

  get down(): boolean {
    return this.outage !== undefined;
  }

  start(): void {
    this.timer = setInterval(() => this.check(), POLL_MS);
    this.timer.unref();
  }

  available(): Promise<void> {
    return this.outage ?? Promise.resolve();
  }

  interruptedSince(time: number): boolean {
    return this.outage !== undefined || (this.lastUpAt ?? Infinity) >= time;
  }

  /** Stops watching (first, so that stopping storage is not taken for a crash), then stops storage. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.outage?.catch(() => undefined);
    await this.current.stop();
  }

  private check(): void {
    const pid = this.current.pid;
    if (this.stopped || this.outage || pid === undefined || isAlive(pid)) return;
    this.lastDownAt = Date.now();
    this.lastUpAt = undefined;
    this.log(`Storage: process ${pid} is gone; starting it again on ${this.folder}. New work waits.`);
    this.outage = this.restart().finally(() => {
      this.outage = undefined;
      this.lastUpAt = Date.now();
    });
  }

  private async restart(): Promise<void> {
    const downAt = this.lastDownAt;
    for (;;) {
      try {
        const storage = await openStorage({ folder: this.folder, ports: this.current.ports, log: this.log });
        this.current = storage;
        this.restarts += 1;
        this.log(
          `Storage: process ${storage.pid ?? '?'} serves again after ${((Date.now() - downAt) / 1000).toFixed(1)} s ` +
            `(restart ${this.restarts}).`,
        );
        return;
      } catch (error) {
        if (this.stopped) return;
        this.log(`Storage: could not start again (${(error as Error).message}); trying again.`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }
}
