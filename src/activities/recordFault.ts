import { attemptRecordSchema, writeAttemptRecord, type AttemptRecord } from './attemptRecord';
import {
  ACTIVITY_FAILED,
  miniBatchReceiptSchema,
  recordFaultInputSchema,
  type MiniBatchReceipt,
} from './contracts';
import { readJobRecord, type ActivityDeps } from './jobRecord';
import { descriptorFor, itemCount } from './runMiniBatch';
import { capMessage } from '../task/results';
import { jobFolder } from '../storage/layout';

/**
 * Gives an attempt whose run activity threw the record every failed attempt has: its items
 * counted as failed (so error_threshold sees them), an attempt log with the error, and an attempt record
 * that finalize puts in the manifest, the CSV report and failed_items.jsonl. An attempt that did write
 * its record before failing keeps that record.
 */
export async function recordFault(deps: ActivityDeps, raw: unknown): Promise<MiniBatchReceipt> {
  const input = recordFaultInputSchema.parse(raw);
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const recordName = folder.attemptRecord(input.index, input.attempt);
  if (await store.stat(logsContainer, recordName))
    return (await store.readJson(logsContainer, recordName, attemptRecordSchema)).receipt;

  const job = await readJobRecord(store, logsContainer, input.jobId);
  const items = itemCount(await descriptorFor(store, logsContainer, job, input.index));
  const message = capMessage(`The attempt's activity failed: ${input.message}`);
  const receipt = miniBatchReceiptSchema.parse({
    index: input.index,
    attempt: input.attempt,
    status: 'failed',
    items,
    succeeded: 0,
    failed: items,
    rows: 0,
    code: ACTIVITY_FAILED,
    message,
    retryable: true,
    durationMs: 0,
  } satisfies MiniBatchReceipt);
  const now = new Date().toISOString();
  await store.write(
    logsContainer,
    folder.attemptLog(input.index, input.attempt),
    `${now} ERROR mini-batch ${input.index} attempt ${input.attempt} of job ${input.jobId}: ${message}\n`,
    { contentType: 'text/plain; charset=utf-8' },
  );
  const record: AttemptRecord = { receipt, failedItems: [], warnings: [], startedAt: now };
  await writeAttemptRecord(store, logsContainer, input.jobId, record);
  return receipt;
}
