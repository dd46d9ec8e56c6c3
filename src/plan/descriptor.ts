import { z } from 'zod';

/** Where the listed input lives. Blob names in descriptors are relative to this container. */
export const inputLocationSchema = z.object({
  /** e.g. https://acct.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1 */
  accountUrl: z.string(),
  container: z.string(),
  /** The listed prefix (folder) or, for uri_file, the blob name. */
  prefix: z.string(),
});
export type InputLocation = z.infer<typeof inputLocationSchema>;

/**
 * A file of the input as planned. `etag` pins the version: a read of a blob that changed since planning
 * fails with INPUT_CHANGED instead of mixing versions (absent in plans written before pinning).
 */
export const fileRefSchema = z.object({
  name: z.string(),
  size: z.number().int().nonnegative(),
  etag: z.string().optional(),
});
export type FileRef = z.infer<typeof fileRefSchema>;

/**
 * One mini-batch, small by construction: names and byte ranges, never data. `index` is its position in
 * the deterministic plan (0-based) and the key for attempts, blocks, logs and the manifest.
 */
export const miniBatchDescriptorSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('files'),
    index: z.number().int().nonnegative(),
    files: z.array(fileRefSchema),
  }),
  z.object({
    kind: z.literal('tabular'),
    index: z.number().int().nonnegative(),
    blob: z.string(),
    format: z.enum(['csv', 'jsonl']),
    /** Byte range [start, end) of the file; records are aligned to boundaries when read. */
    start: z.number().int().nonnegative(),
    end: z.number().int().nonnegative(),
    fileSize: z.number().int().nonnegative(),
    /** The version planned (see fileRefSchema). */
    etag: z.string().optional(),
  }),
  z.object({
    kind: z.literal('parquet'),
    index: z.number().int().nonnegative(),
    blob: z.string(),
    fileSize: z.number().int().nonnegative(),
    /** The version planned (see fileRefSchema). */
    etag: z.string().optional(),
    /** Row groups [firstRowGroup, firstRowGroup + rowGroups) of the file, read whole. */
    firstRowGroup: z.number().int().nonnegative(),
    rowGroups: z.number().int().nonnegative(),
    /** The file row of the first row (0-based) and the rows the row groups hold, from the footer. */
    firstRow: z.number().int().nonnegative(),
    rows: z.number().int().nonnegative(),
    /** Bytes of the row groups' column chunks: what running the mini-batch reads besides the footer. */
    bytes: z.number().int().nonnegative(),
    /**
     * Set when planning could not read the file's footer: the reason. The file is a mini-batch of its own
     * that fails with it, so that the other files still run and this one is reported.
     */
    unreadable: z.string().optional(),
  }),
  z.object({
    kind: z.literal('partition'),
    index: z.number().int().nonnegative(),
    keys: z.record(z.string(), z.string()),
    files: z.array(fileRefSchema),
    /** Set when the partitioned input is a table (mltable): the task receives records, not files. */
    format: z.enum(['csv', 'jsonl', 'parquet']).optional(),
  }),
]);
export type MiniBatchDescriptor = z.infer<typeof miniBatchDescriptorSchema>;

/** One page of the plan, stored as JSON in the job folder. */
export const planPageSchema = z.object({
  page: z.number().int().nonnegative(),
  /** Index of the first mini-batch on this page; pages hold consecutive indexes. */
  first: z.number().int().nonnegative(),
  miniBatches: z.array(miniBatchDescriptorSchema),
});
export type PlanPage = z.infer<typeof planPageSchema>;

/**
 * What planning returns to the orchestrator: counts and page references only, so its size does not
 * grow with the input.
 */
export const planSummarySchema = z.object({
  kind: z.enum(['files', 'tabular', 'partition']),
  input: inputLocationSchema,
  miniBatches: z.number().int().nonnegative(),
  items: z.number().int().nonnegative().optional(), // files; unknown (undefined) for tabular until read
  bytes: z.number().int().nonnegative(),
  /** Mini-batches per page; page p holds indexes [p*pageSize, (p+1)*pageSize). */
  pageSize: z.number().int().positive(),
  pages: z.number().int().nonnegative(),
});
export type PlanSummary = z.infer<typeof planSummarySchema>;

/**
 * How far planning has got, written by the plan activity to `jobFolder(jobId).planProgress` about every
 * two seconds and once at the end. Constant size: the job view and the planning timeout's reason read it.
 */
export const planProgressSchema = z.object({
  /** Input blobs listed so far (the files under the partition folders for partitioned input). */
  listed: z.number().int().nonnegative(),
  /** Mini-batches cut so far. */
  miniBatches: z.number().int().nonnegative(),
  /** Plan pages written so far. */
  pages: z.number().int().nonnegative(),
  /** When these figures were recorded (ISO 8601). */
  updatedAt: z.string(),
  /** True once the plan is complete. */
  done: z.boolean(),
});
export type PlanProgress = z.infer<typeof planProgressSchema>;

/** The blobs a mini-batch reads. */
export function blobsOf(descriptor: MiniBatchDescriptor): string[] {
  return descriptor.kind === 'tabular' || descriptor.kind === 'parquet'
    ? [descriptor.blob]
    : descriptor.files.map((file) => file.name);
}

/** The input bytes a mini-batch covers: its byte range, its row groups' column chunks, or its files. */
export function bytesOf(descriptor: MiniBatchDescriptor): number {
  if (descriptor.kind === 'tabular') return descriptor.end - descriptor.start;
  if (descriptor.kind === 'parquet') return descriptor.bytes;
  return descriptor.files.reduce((sum, file) => sum + file.size, 0);
}
