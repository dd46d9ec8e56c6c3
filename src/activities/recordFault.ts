import type { AttemptRecord } from './attemptRecord';
import { miniBatchReceiptSchema, recordFaultInputSchema, type MiniBatchReceipt } from './contracts';
import { cachedJobRecord, descriptorFor, itemCount, type RunMiniBatchDeps } from './runMiniBatch';
import { capMessage } from '../task/results';
import { jobFolder } from '../storage/layout';
import { AttemptCodes } from '../failureCodes';

/**
 * The record of an attempt whose run threw (a storage fault on the job's own blobs, after the client's
 * retries): its items counted as failed (so error_threshold sees them), and an attempt log with the
 * error. Finalize puts it in the manifest, the CSV report and failed_items.jsonl like any failure.
 */
export async function faultRecord(
  deps: Pick<RunMiniBatchDeps, 'store' | 'logsContainer' | 'jobFiles'>,
  raw: unknown,
): Promise<AttemptRecord> {
  const input = recordFaultInputSchema.parse(raw);
  const { store, logsContainer } = deps;
  const job = await cachedJobRecord(deps, input.jobId);
  const items = itemCount(await descriptorFor(deps, job, input.index));
  const message = capMessage(`The attempt's activity failed: ${input.message}`);
  const receipt = miniBatchReceiptSchema.parse({
    index: input.index,
    attempt: input.attempt,
    status: 'failed',
    items,
    succeeded: 0,
    failed: items,
    rows: 0,
    code: AttemptCodes.activityFailed,
    message,
    retryable: true,
    durationMs: 0,
  } satisfies MiniBatchReceipt);
  const now = new Date().toISOString();
  await store.write(
    logsContainer,
    jobFolder(input.jobId).attemptLog(input.index, input.attempt),
    `${now} ERROR mini-batch ${input.index} attempt ${input.attempt} of job ${input.jobId}: ${message}\n`,
    { contentType: 'text/plain; charset=utf-8' },
  );
  return { receipt, failedItems: [], warnings: [], startedAt: now };
}
