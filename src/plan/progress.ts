import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';
import { planProgressSchema, type PlanProgress } from './descriptor';

/** How often, at most, planning rewrites its progress blob. */
export const PLAN_PROGRESS_INTERVAL_MS = 2000;

/** The figures of planning so far, sampled when progress is recorded. */
export type PlanCounts = Pick<PlanProgress, 'listed' | 'miniBatches' | 'pages'>;

/** Writes one progress record; a rejection is ignored by the recorder. */
export type PlanProgressSink = (progress: PlanProgress) => Promise<unknown>;

/** The sink that writes the job folder's progress blob in the logs container of `store`. */
export function planProgressSink(store: BlobStore, logsContainer: string, jobId: string): PlanProgressSink {
  const name = jobFolder(jobId).planProgress;
  return (progress) => store.writeJson(logsContainer, name, progress);
}

/**
 * Records planning's progress: one small write every `intervalMs` while the figures change (never two
 * at once) and one at the end. A failed write is dropped: progress is for people watching, and planning
 * must not fail or slow down because of it.
 */
export class PlanProgressRecorder {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private last = '';

  constructor(
    private readonly sink: PlanProgressSink,
    private readonly counts: () => PlanCounts,
    private readonly intervalMs = PLAN_PROGRESS_INTERVAL_MS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.writing) this.writing = this.record(false).finally(() => (this.writing = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes the last figures (`done` when the plan is complete). */
  async finish(done: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
    await this.record(done, true);
  }

  private async record(done: boolean, always = false): Promise<void> {
    const counts = this.counts();
    const key = JSON.stringify(counts);
    if (key === this.last && !always) return;
    this.last = key;
    const progress: PlanProgress = {
      listed: counts.listed,
      miniBatches: counts.miniBatches,
      pages: counts.pages,
      updatedAt: this.now().toISOString(),
      done,
    };
    try {
      await this.sink(progress);
    } catch {
      // Ignored on purpose (see the class comment); the next tick or the last write tries again.
    }
  }
}

/** The job's planning progress, or undefined when planning has recorded none (or it cannot be read). */
export async function readPlanProgress(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): Promise<PlanProgress | undefined> {
  try {
    return await store.readJson(logsContainer, jobFolder(jobId).planProgress, planProgressSchema);
  } catch {
    return undefined;
  }
}
