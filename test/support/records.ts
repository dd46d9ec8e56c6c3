import {
  listAttemptRecordPages,
  writeGroupRecords,
  type AttemptRecord,
} from '../../src/activities/attemptRecord';
import type { MiniBatchReceipt } from '../../src/activities/contracts';
import { runMiniBatch, type RunMiniBatchDeps } from '../../src/activities/runMiniBatch';
import type { BlobStore } from '../../src/storage/blobStore';
import type { FinalizeActivityInput } from '../../src/orchestration/contracts';
import { emptyCounters } from '../../src/orchestration/counters';

let groups = 0;

/** One attempt as a group call of its own runs it: run, then its record kept in the job folder. */
export async function runAndRecord(
  deps: RunMiniBatchDeps,
  input: { jobId: string; index: number; attempt: number },
): Promise<MiniBatchReceipt> {
  const record = await runMiniBatch(deps, input);
  await writeGroupRecords(deps.store, deps.logsContainer, input.jobId, { shard: 0, group: groups++ }, [
    record,
  ]);
  return record.receipt;
}

/** The record of one attempt, as finalize reads it. */
export async function recordOf(
  store: BlobStore,
  logs: string,
  jobId: string,
  index: number,
  attempt: number,
): Promise<AttemptRecord> {
  for await (const page of listAttemptRecordPages(store, logs, jobId)) {
    const found = page.find((r) => r.receipt.index === index && r.receipt.attempt === attempt);
    if (found) return found;
  }
  throw new Error(`no record of mini-batch ${index} attempt ${attempt} of ${jobId}`);
}

/** What the root hands finalize when a planned job ends: Completed unless told, no reasons or errors. */
export function jobEnd(jobId: string, fields: Partial<FinalizeActivityInput> = {}): FinalizeActivityInput {
  const now = new Date().toISOString();
  return {
    jobId,
    planned: true,
    status: 'Completed',
    reasons: [],
    counters: emptyCounters(),
    errors: [],
    startedAt: now,
    finishedAt: now,
    ...fields,
  };
}
