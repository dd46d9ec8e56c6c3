import { z } from 'zod';

/** Activity names, shared by registrations in functions/ and the orchestrators. */
export const ActivityNames = {
  plan: 'ParallelJob_Plan',
  /** How far planning got (read when planning outlives --first_task_creation_timeout). */
  planProgress: 'ParallelJob_PlanProgress',
  /** A group of mini-batches in one call (see runGroup.ts). */
  runGroup: 'ParallelJob_RunGroup',
  /** Records every mini-batch of a group whose call failed after its retries. */
  recordGroupFault: 'ParallelJob_RecordGroupFault',
  finalize: 'ParallelJob_Finalize',
  /** For a re-run: which mini-batches of a range still need to run. */
  select: 'ParallelJob_Select',
  notify: 'ParallelJob_Notify',
  /** Tells running shards to stop scheduling (cancel, or a stop decided by the root). */
  stopShards: 'ParallelJob_StopShards',
} as const;

/**
 * Names an earlier version registered, still registered with the same handler, so that a call a running
 * job scheduled before an upgrade runs after it. Remove one release on.
 */
export const EarlierActivityNames: Partial<Record<keyof typeof ActivityNames, string>> = {
  runGroup: 'ParallelJob_RunMiniBatches',
};

/** Input of one attempt. Small on purpose: everything else is read from the job folder. */
export const runMiniBatchInputSchema = z.object({
  jobId: z.string().min(1),
  index: z.number().int().nonnegative(),
  /** 1 for the first attempt. */
  attempt: z.number().int().positive(),
});
export type RunMiniBatchInput = z.infer<typeof runMiniBatchInputSchema>;

/** An attempt whose run activity threw after Durable gave up on it, and why. */
export const recordFaultInputSchema = runMiniBatchInputSchema.extend({ message: z.string() });
export type RecordFaultInput = z.infer<typeof recordFaultInputSchema>;

export const receiptStatusSchema = z.enum(['succeeded', 'partial', 'failed']);

/**
 * The outcome of one attempt. Expected failures (user code threw, timed out, short result) come back as
 * data; only infrastructure faults are thrown. Size is bounded: no item lists, a capped message.
 */
export const miniBatchReceiptSchema = z.object({
  index: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  /** succeeded: every item succeeded; partial: run() returned fewer results than items; failed: no result. */
  status: receiptStatusSchema,
  items: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Output rows staged for append_row (0 when nothing to append or summary_only). */
  rows: z.number().int().nonnegative(),
  /** Stable error code for failed attempts, e.g. TASK_RUN_FAILED, TASK_TIMEOUT, TASK_BROKEN. */
  code: z.string().optional(),
  /** First 1,000 characters of the error, for people. */
  message: z.string().max(1000).optional(),
  /** False when retrying cannot help (the task module cannot load): the job fails fast. */
  retryable: z.boolean(),
  durationMs: z.number().nonnegative(),
});
export type MiniBatchReceipt = z.infer<typeof miniBatchReceiptSchema>;
