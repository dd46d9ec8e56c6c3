import { z } from 'zod';
import { jobStatusSchema, type JobStatus } from '../job/status';
import type { Counters, FirstError } from '../orchestration/counters';
import { inputLocationSchema, miniBatchDescriptorSchema } from '../plan/descriptor';

/**
 * The shapes the HTTP API sends and the client (src/client) reads back: the one module of server code
 * the client imports. Keep it to schemas, types and pure helpers, so that a program using the client
 * loads nothing of the server.
 */

export { jobStatusSchema, isTerminalStatus, type JobStatus } from '../job/status';

const count = z.number().int().nonnegative();

/**
 * How far planning has got, shown while the job is Preparing (figures recorded by the plan activity
 * about every two seconds; absent until the first record).
 */
export const planningViewSchema = z.object({
  /** Input blobs listed so far (files under the partition folders for partitioned input). */
  listed: count,
  /** Mini-batches cut so far. */
  mini_batches: count,
  /** Plan pages written so far. */
  pages: count,
  /** When the figures were recorded. */
  updated_at: z.string(),
  /** True once the plan is complete (the job starts running right after). */
  done: z.boolean(),
});
export type PlanningView = z.infer<typeof planningViewSchema>;

/** `listed 120,000 inputs, 12,000 mini-batches so far`: planning's progress in a line. */
export function planningSummary(planning: PlanningView): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  return `listed ${n(planning.listed)} inputs, ${n(planning.mini_batches)} mini-batches ${planning.done ? 'in all' : 'so far'}`;
}

/** A job as the API and the CLI show it: the seed's vocabulary, live counters, links. */
export interface JobView {
  id: string;
  name: string;
  display_name?: string;
  status: JobStatus;
  /** The Durable Functions runtime status behind `status`, for operators. */
  runtime_status: string;
  counters: Counters;
  reasons: string[];
  first_errors: FirstError[];
  created_time: string;
  last_updated_time: string;
  finished_at?: string;
  outputs: Record<string, string>;
  log_files: Record<string, string>;
  rerun_of?: string;
  studio_url?: string;
  /** While Preparing: how far planning has got. */
  planning?: PlanningView;
}

/**
 * States of a mini-batch on the job page, least to most severe: a band of the grid takes the colour of
 * its most severe member. `earlier`: a re-run does not run it (it succeeded in the job re-run);
 * `pending`: no attempt has ended yet (waiting or running: which one is not recorded anywhere);
 * `canceled`: never ran because the job was canceled or stopped; `retrying`: its last attempt failed and
 * a retry is due or running; `partial` and `failed`: final.
 */
export const miniBatchStateSchema = z.enum([
  'earlier',
  'succeeded',
  'pending',
  'canceled',
  'retrying',
  'partial',
  'failed',
]);
export type MiniBatchState = z.infer<typeof miniBatchStateSchema>;
export const MINI_BATCH_STATES = miniBatchStateSchema.options;

/** Consecutive mini-batches [first, last] summarised as one cell: its worst state and how many of each. */
export const miniBatchBandSchema = z.object({
  first: count,
  last: count,
  state: miniBatchStateSchema,
  counts: z.partialRecord(miniBatchStateSchema, count),
});
export type MiniBatchBand = z.infer<typeof miniBatchBandSchema>;

/** One final failure shown as an example of its code. */
export const failureExampleSchema = z.object({
  index: count,
  attempt: count,
  status: z.enum(['partial', 'failed']),
  /** Absent when neither the attempt listing nor the job's first errors carry it: see the attempt log. */
  message: z.string().optional(),
  /** True when the attempt wrote a bad-records log (table records that did not parse). */
  bad_records: z.boolean(),
});
export type FailureExample = z.infer<typeof failureExampleSchema>;

export const failureGroupSchema = z.object({
  code: z.string(),
  /** Mini-batches whose final attempt ended with this code. */
  count,
  examples: z.array(failureExampleSchema).max(3),
});
export type FailureGroup = z.infer<typeof failureGroupSchema>;

/**
 * `GET /api/jobs/{id}/mini-batches`: every mini-batch of the job's plan by state, in at most
 * `MAX_GRID_CELLS` bands of `band_size` consecutive mini-batches, and its final failures by error code.
 * The job page draws its grid, bar, failure groups and bad-records links from this and nothing else.
 */
export const miniBatchReportSchema = z.object({
  job_id: z.string(),
  status: jobStatusSchema,
  /** Planned mini-batches (0 while planning). For a re-run: the whole plan, `earlier` ones included. */
  total: count,
  band_size: z.number().int().positive(),
  counts: z.record(miniBatchStateSchema, count),
  bands: z.array(miniBatchBandSchema),
  failures: z.object({ total: count, groups: z.array(failureGroupSchema) }),
  /** Attempts with a bad-records log, in mini-batch order (the first ones only; see `bad_records_more`). */
  bad_records: z.array(z.object({ index: count, attempt: count })),
  /** True when more attempts may have bad-records logs than were looked for. */
  bad_records_more: z.boolean(),
});
export type MiniBatchReport = z.infer<typeof miniBatchReportSchema>;

const sizeDistributionSchema = z.object({ min: z.number(), median: z.number(), max: z.number() });
export type SizeDistribution = z.infer<typeof sizeDistributionSchema>;

/** How many mini-batches have sizes in (previous bucket's `upTo`, `upTo`]; the first bucket includes `min`. */
const sizeBucketSchema = z.object({ upTo: z.number(), count: z.number().int().nonnegative() });
export type SizeBucket = z.infer<typeof sizeBucketSchema>;

/**
 * What a plan would be, computed from the listing alone; no user code runs and nothing is written. The
 * body of `POST /api/plan`, which the client reads back through this schema.
 */
export const planPreviewSchema = z.object({
  kind: z.enum(['files', 'tabular', 'partition']),
  input: inputLocationSchema,
  miniBatches: z.number().int().nonnegative(),
  /** Files in the plan; absent for tabular input (records are counted only when read). */
  items: z.number().int().nonnegative().optional(),
  bytes: z.number().nonnegative(),
  /** Bytes per mini-batch; absent when there are no mini-batches. */
  bytesPerMiniBatch: sizeDistributionSchema.optional(),
  /** Bytes per mini-batch in up to 8 buckets of growing width (empty when there are no mini-batches). */
  bytesHistogram: z.array(sizeBucketSchema),
  /** Files per mini-batch (file and partition input). */
  itemsPerMiniBatch: sizeDistributionSchema.optional(),
  /** Rows per mini-batch, known from the footers of Parquet tables (absent for other input). */
  rowsPerMiniBatch: sizeDistributionSchema.optional(),
  /** The first mini-batches, as the task will receive them. */
  first: z.array(miniBatchDescriptorSchema),
  warnings: z.array(z.string()),
});
export type PlanPreview = z.infer<typeof planPreviewSchema>;
