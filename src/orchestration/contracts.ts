import { z } from 'zod';
import { effectiveJobSchema, effectiveSettingsSchema } from '../job/effective';
import { miniBatchReceiptSchema } from '../activities/contracts';
import { planProgressSchema, planSummarySchema } from '../plan/descriptor';
import { countersSchema, firstErrorSchema } from './counters';

export const OrchestratorNames = {
  root: 'ParallelJob',
  shard: 'ParallelJob_Shard',
} as const;

/** External events the orchestrators listen to. */
export const Events = {
  /** Graceful stop: no new mini-batches, in-flight attempts finish, outputs are finalized. */
  cancel: 'cancel',
} as const;

/** Deterministic child id, so a replayed or duplicated start finds the same shard. */
export function shardInstanceId(jobId: string, shard: number): string {
  return `${jobId}:shard:${shard}`;
}

export const phaseSchema = z.enum(['Preparing', 'Running', 'Finalizing', 'CancelRequested']);
export type Phase = z.infer<typeof phaseSchema>;

/** Orchestration knobs that come from app settings, not from the spec. */
export const runtimeOptionsSchema = z.object({
  /** First retry waits about this long; later ones double (capped at a minute). */
  retryBaseDelayMs: z.number().int().nonnegative().default(1000),
  /** Shards started per root execution before it continues as new (bounds the root's history). */
  shardsPerExecution: z.number().int().positive().default(32),
  /** Service Bus entity to notify on completion, if any. */
  notify: z.boolean().default(false),
});
export type RuntimeOptions = z.infer<typeof runtimeOptionsSchema>;

/** The root's state, carried across continue-as-new. */
export const rootStateSchema = z.object({
  plan: planSummarySchema,
  generation: z.number().int().nonnegative(),
  /** Next mini-batch index to hand to a shard. */
  cursor: z.number().int().nonnegative(),
  /** Next shard number. */
  nextShard: z.number().int().nonnegative(),
  counters: countersSchema,
  errors: z.array(firstErrorSchema),
  reasons: z.array(z.string()),
  canceled: z.boolean(),
  startedAt: z.string(),
  executions: z.number().int().positive(),
});
export type RootState = z.infer<typeof rootStateSchema>;

export const rootInputSchema = z.object({
  jobId: z.string().min(1),
  job: effectiveJobSchema,
  /** Absolute folder of the deployed task code (or the spec's folder in local mode). */
  tasksRoot: z.string(),
  rerunOf: z.string().optional(),
  /** The spec as submitted (validated), for GET /api/jobs/{id}/spec. */
  spec: z.record(z.string(), z.unknown()).optional(),
  options: runtimeOptionsSchema,
  state: rootStateSchema.optional(),
});
export type RootInput = z.input<typeof rootInputSchema>;
export type ParsedRootInput = z.infer<typeof rootInputSchema>;

export const shardInputSchema = z.object({
  jobId: z.string(),
  shard: z.number().int().nonnegative(),
  /** Mini-batch indexes [start, end). */
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  /** The lane's width: attempts in flight at once. */
  laneWidth: z.number().int().positive(),
  /** A re-run asks which indexes of its range still need to run. */
  select: z.boolean(),
  settings: effectiveSettingsSchema.pick({
    maxRetries: true,
    timeoutSeconds: true,
    progressUpdateTimeoutSeconds: true,
  }),
  retryBaseDelayMs: z.number().int().nonnegative(),
  budget: z.object({ items: z.number().int().nullable(), miniBatches: z.number().int().nullable() }),
});
export type ShardInput = z.infer<typeof shardInputSchema>;

/**
 * A field's earlier name still read, so that shards and group calls a running job scheduled before an
 * upgrade go on after it: inputs in a history are replayed as they were written. Remove one release on.
 */
function withEarlierName(
  raw: unknown,
  earlier: string,
  current: string,
): { value: unknown; renamed: boolean } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { value: raw, renamed: false };
  if (!(earlier in raw) || current in raw) return { value: raw, renamed: false };
  const { [earlier]: value, ...rest } = raw as Record<string, unknown>;
  return { value: { ...rest, [current]: value }, renamed: true };
}

/**
 * A shard's input, also as the version before `laneWidth` wrote it (`window`); `earlier` says it was, so
 * that the shard goes on calling activities by the names its history recorded.
 */
export function parseShardInput(raw: unknown): { input: ShardInput; earlier: boolean } {
  const { value, renamed } = withEarlierName(raw, 'window', 'laneWidth');
  return { input: shardInputSchema.parse(value), earlier: renamed };
}

export const shardResultSchema = z.object({
  shard: z.number().int().nonnegative(),
  counters: countersSchema,
  errors: z.array(firstErrorSchema),
  /** Why the shard stopped early, if it did. */
  stop: z.enum(['fatal', 'budget', 'stalled', 'canceled']).optional(),
  fatal: z.object({ code: z.string(), message: z.string(), index: z.number().int() }).optional(),
});
export type ShardResult = z.infer<typeof shardResultSchema>;

/** Root custom status: phase and counters, small enough for the 16 KB limit. */
export const rootStatusSchema = z.object({
  phase: phaseSchema,
  counters: countersSchema,
  /** Shard numbers running now; their own custom status has live counters. */
  shards: z.array(z.number().int()),
  reasons: z.array(z.string()),
  startedAt: z.string(),
});
export type RootStatus = z.infer<typeof rootStatusSchema>;

/**
 * `inFlight`: mini-batches handed to the running group (it runs up to its width of them at once);
 * `group`: that call's number, whose record file shows its progress before it returns.
 */
export const shardStatusSchema = z.object({
  counters: countersSchema,
  inFlight: z.number().int(),
  group: z.number().int().nonnegative().optional(),
});
export type ShardStatus = z.infer<typeof shardStatusSchema>;

/** A run of consecutive mini-batches at the same attempt: how groups name their work compactly. */
export const workRunSchema = z.object({
  start: z.number().int().nonnegative(),
  count: z.number().int().positive(),
  attempt: z.number().int().positive(),
});
export type WorkRun = z.infer<typeof workRunSchema>;

/** Most mini-batches handed to one group call: bounds the call's input, result and time. */
export const MAX_GROUP_MINI_BATCHES = 4096;

/**
 * One call of the group activity: runs the mini-batches of `runs` in order with up to `laneWidth` attempts
 * in flight, starting new ones until `budgetMs` is spent (or the failure budget, a fatal error or a stop
 * request ends it early), and says which it did not start. (shard, group) names the call, so that a
 * re-executed call finds what its first execution recorded.
 */
export const runGroupInputSchema = z.object({
  jobId: z.string().min(1),
  shard: z.number().int().nonnegative(),
  group: z.number().int().nonnegative(),
  runs: z.array(workRunSchema).min(1),
  laneWidth: z.number().int().positive(),
  budgetMs: z.number().int().positive(),
  maxRetries: z.number().int().nonnegative(),
  /** Backoff base of retries (see retryDelayMs); a retry due within the budget runs in this group. */
  retryBaseDelayMs: z.number().int().nonnegative(),
  /** With attempts running and none ending for this long, the group gives up on them (stalled). */
  progressUpdateTimeoutSeconds: z.number().positive(),
  budget: z.object({ items: z.number().int().nullable(), miniBatches: z.number().int().nullable() }),
});
export type RunGroupInput = z.infer<typeof runGroupInputSchema>;

/** A group call's input, also as the version before `laneWidth` wrote it (`width`). */
export const parseRunGroupInput = (raw: unknown): RunGroupInput =>
  runGroupInputSchema.parse(withEarlierName(raw, 'width', 'laneWidth').value);

/**
 * What a group did, folded: counters of the attempts it started and of the mini-batches that ended in
 * it, the first errors, the failed attempts to retry (their receipts, for a later retry or to count them
 * if none comes) and the work it did not start. Its size is bounded by the failures, not by the work.
 */
export const groupResultSchema = z.object({
  counters: countersSchema,
  errors: z.array(firstErrorSchema),
  retries: z.array(miniBatchReceiptSchema),
  fatal: z.object({ code: z.string(), message: z.string(), index: z.number().int() }).optional(),
  /** No attempt ended within progress_update_timeout: the group stopped waiting for those running. */
  stalled: z.boolean().optional(),
  notStarted: z.array(workRunSchema),
});
export type GroupResult = z.infer<typeof groupResultSchema>;

/** A group whose activity threw after its retries: what it was given and why it failed. */
export const recordGroupFaultInputSchema = z.object({
  jobId: z.string().min(1),
  shard: z.number().int().nonnegative(),
  group: z.number().int().nonnegative(),
  runs: z.array(workRunSchema).min(1),
  maxRetries: z.number().int().nonnegative(),
  message: z.string(),
});
export type RecordGroupFaultInput = z.infer<typeof recordGroupFaultInputSchema>;

/** How a job ended: what finalize records and what the root returns. */
export const jobEndSchema = z.object({
  status: z.enum(['Completed', 'Failed', 'Canceled']),
  reasons: z.array(z.string()),
  counters: countersSchema,
  errors: z.array(firstErrorSchema),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type JobEnd = z.infer<typeof jobEndSchema>;

/** What the root returns: the job's end plus where finalize put the outputs and logs. */
export const jobOutcomeSchema = jobEndSchema.extend({
  /** Output names -> blob URLs, and log file names -> blob URLs (from finalize). */
  outputs: z.record(z.string(), z.string()),
  logFiles: z.record(z.string(), z.string()),
});
export type JobOutcome = z.infer<typeof jobOutcomeSchema>;

/** The notify activity's input: the job's outcome, sent to the Service Bus entity of job events. */
export const notifyInputSchema = z.object({ jobId: z.string(), outcome: jobOutcomeSchema });
export type NotifyInput = z.infer<typeof notifyInputSchema>;

/** Planning activity: in and out. */
export const planActivityInputSchema = z.object({
  jobId: z.string(),
  job: effectiveJobSchema,
  tasksRoot: z.string(),
  rerunOf: z.string().optional(),
  createdAt: z.string(),
});
export type PlanActivityInput = z.infer<typeof planActivityInputSchema>;
export const planActivityOutputSchema = z.object({
  plan: planSummarySchema,
  generation: z.number().int().nonnegative(),
  /** Mini-batches this run executes (all of them, or a re-run's selection). */
  selected: z.number().int().nonnegative(),
});
export type PlanActivityOutput = z.infer<typeof planActivityOutputSchema>;

/** Reads the job's planning progress (constant size; null when planning recorded none). */
export const planProgressInputSchema = z.object({ jobId: z.string() });
export type PlanProgressInput = z.infer<typeof planProgressInputSchema>;
export const planProgressOutputSchema = planProgressSchema.nullable();
export type PlanProgressOutput = z.infer<typeof planProgressOutputSchema>;

export const selectActivityInputSchema = z.object({
  jobId: z.string(),
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});
export type SelectActivityInput = z.infer<typeof selectActivityInputSchema>;

export const stopShardsInputSchema = z.object({
  jobId: z.string(),
  shards: z.array(z.number().int().nonnegative()),
});
export type StopShardsInput = z.infer<typeof stopShardsInputSchema>;

/**
 * Finalize runs in steps, each retried on its own and each idempotent: `begin` writes job_result.json
 * as Finalizing, `reports` streams manifest.json, processed_mini_batches.csv and failed_items.jsonl,
 * `output` commits the append_row output from the manifest, `end` writes the overview and the final
 * job_result.json. No step: all of them in one call.
 */
export const finalizeSteps = ['begin', 'reports', 'output', 'end'] as const;
export const finalizeActivityInputSchema = jobEndSchema.extend({
  jobId: z.string(),
  /** False when planning never produced a job record (nothing to assemble). */
  planned: z.boolean(),
  step: z.enum(finalizeSteps).optional(),
});
export type FinalizeActivityInput = z.infer<typeof finalizeActivityInputSchema>;
export const finalizeActivityOutputSchema = z.object({
  outputs: z.record(z.string(), z.string()),
  logFiles: z.record(z.string(), z.string()),
});
export type FinalizeActivityOutput = z.infer<typeof finalizeActivityOutputSchema>;
