import { z } from 'zod';
import { inputLocationSchema } from './descriptor';

/** What the planning activity needs: where the input is, how to cut it, where to write the pages. */
export const planRequestSchema = z.object({
  jobId: z.string().min(1),
  input: inputLocationSchema,
  inputType: z.enum(['uri_folder', 'uri_file', 'mltable']),
  /** Files per mini-batch (`files`) or approximate bytes per mini-batch (`bytes`, tabular input). */
  miniBatchSize: z.number().int().positive(),
  miniBatchSizeUnit: z.enum(['files', 'bytes']),
  /** Hive-style folder keys (`key=value/`); one mini-batch per distinct key tuple. */
  partitionKeys: z.array(z.string().min(1)).min(1).optional(),
  /** Split a partition further by `miniBatchSize` (off by default: one mini-batch per key tuple). */
  splitPartitionsBySize: z.boolean().optional(),
  /** Container (on the app account) that holds the job folder the pages are written to. */
  logsContainer: z.string().min(1),
  /** Mini-batches per plan page (default 1000). */
  pageSize: z.number().int().positive().optional(),
  /** Blobs per listing request (default 5000, the service maximum); smaller only for tests. */
  listPageSize: z.number().int().positive().max(5000).optional(),
});
export type PlanRequest = z.infer<typeof planRequestSchema>;

export const DEFAULT_PLAN_PAGE_SIZE = 1000;
