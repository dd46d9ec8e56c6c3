import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';
import {
  bytesOf,
  planPageSchema,
  planSummarySchema,
  type MiniBatchDescriptor,
  type PlanPage,
  type PlanSummary,
} from './descriptor';
import { cutInput } from './cut';
import { DEFAULT_PLAN_PAGE_SIZE, planRequestSchema, type PlanRequest } from './request';
import {
  PLAN_PROGRESS_INTERVAL_MS,
  PlanProgressRecorder,
  planProgressSink,
  type PlanProgressSink,
} from './progress';

export { planRequestSchema, type PlanRequest } from './request';

/** Page writes kept in flight while listing goes on; two hide the write latency without piling up pages. */
const MAX_PENDING_PAGE_WRITES = 2;

/** Where planning writes, and how often it records its progress (see PlanProgressRecorder). */
export interface PlanOutputOptions {
  /**
   * The app's storage, where plan pages and progress go (the logs container). Default: `store`, the
   * input's. They differ when the input lives in another account, which the app may only read.
   */
  logs?: BlobStore;
  /** Default: the job folder's progress blob on `logs`. */
  sink?: PlanProgressSink;
  /** Default: PLAN_PROGRESS_INTERVAL_MS. */
  intervalMs?: number;
}

/**
 * Lists the input, cuts it into mini-batches and writes them as plan pages to
 * `jobFolder(jobId).planPage(p)` in the logs container. Returns counts and the page size only, so what
 * enters orchestration history does not grow with the input. Memory holds one page and one listing
 * page at a time. Re-running with the same listing writes the same pages (same names, same bytes).
 * Meanwhile it records how far it got in `jobFolder(jobId).planProgress` (a failed write is ignored).
 */
export async function planJob(
  store: BlobStore,
  request: PlanRequest,
  output: PlanOutputOptions = {},
): Promise<PlanSummary> {
  const valid = planRequestSchema.parse(request);
  const pageSize = valid.pageSize ?? DEFAULT_PLAN_PAGE_SIZE;
  const folder = jobFolder(valid.jobId);
  const logs = output.logs ?? store;
  await logs.ensureContainer(valid.logsContainer);

  const cut = cutInput(store, valid);
  let miniBatches = 0;
  let pages = 0;
  const recorder = new PlanProgressRecorder(
    output.sink ?? planProgressSink(logs, valid.logsContainer, valid.jobId),
    () => ({ listed: cut.listed.value, miniBatches, pages }),
    output.intervalMs ?? PLAN_PROGRESS_INTERVAL_MS,
  );
  const pending = new Set<Promise<unknown>>();
  const writePage = async (page: PlanPage): Promise<void> => {
    const write = logs.writeJson(valid.logsContainer, folder.planPage(page.page), page);
    pending.add(write);
    void write.finally(() => pending.delete(write)).catch(() => undefined);
    if (pending.size >= MAX_PENDING_PAGE_WRITES) await Promise.race(pending);
  };

  let items = 0;
  let bytes = 0;
  let current: MiniBatchDescriptor[] = [];
  let complete = false;
  recorder.start();
  try {
    for await (const descriptor of cut.miniBatches) {
      current.push(descriptor);
      miniBatches += 1;
      bytes += bytesOf(descriptor);
      if (descriptor.kind === 'files' || descriptor.kind === 'partition') items += descriptor.files.length;
      if (current.length === pageSize) {
        await writePage({ page: pages, first: pages * pageSize, miniBatches: current });
        pages += 1;
        current = [];
      }
    }
    if (current.length > 0) {
      await writePage({ page: pages, first: pages * pageSize, miniBatches: current });
      pages += 1;
    }
    // Surface a failed page write (or wait for the last ones) before reporting anything.
    await Promise.all(pending);
    complete = true;
  } finally {
    await Promise.allSettled(pending);
    await recorder.finish(complete);
  }

  return planSummarySchema.parse({
    kind: cut.kind,
    input: valid.input,
    miniBatches,
    ...(cut.kind === 'tabular' ? {} : { items }),
    bytes,
    pageSize,
    pages,
  });
}

/** Reads one plan page back, validated; the orchestrator's shards and the task runtime call this. */
export async function readPlanPage(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
  page: number,
): Promise<PlanPage> {
  return store.readJson(logsContainer, jobFolder(jobId).planPage(page), planPageSchema);
}
