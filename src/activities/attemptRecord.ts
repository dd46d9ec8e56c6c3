import { z } from 'zod';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';
import { miniBatchReceiptSchema, type MiniBatchReceipt } from './contracts';

/**
 * One attempt's record in the job folder. Its blob metadata repeats the receipt's counts, so that
 * finalize can read every attempt of a large job from listings without downloading the records.
 */
export const failedItemSchema = z.object({ item: z.unknown(), error: z.string() });
export type FailedItem = z.infer<typeof failedItemSchema>;

export const attemptRecordSchema = z.object({
  receipt: miniBatchReceiptSchema,
  failedItems: z.array(failedItemSchema),
  warnings: z.array(z.string()),
  startedAt: z.string(),
  workerId: z.number().int().optional(),
});
export type AttemptRecord = z.infer<typeof attemptRecordSchema>;

/** Blob metadata values must be ASCII strings; the message is kept in the record body only. */
export function receiptMetadata(receipt: MiniBatchReceipt): Record<string, string> {
  return {
    index: String(receipt.index),
    attempt: String(receipt.attempt),
    status: receipt.status,
    items: String(receipt.items),
    succeeded: String(receipt.succeeded),
    failed: String(receipt.failed),
    rows: String(receipt.rows),
    retryable: String(receipt.retryable),
    durationms: String(Math.round(receipt.durationMs)),
    ...(receipt.code ? { code: receipt.code } : {}),
  };
}

const metadataSchema = z.object({
  index: z.coerce.number().int().nonnegative(),
  attempt: z.coerce.number().int().positive(),
  status: z.enum(['succeeded', 'partial', 'failed']),
  items: z.coerce.number().int().nonnegative(),
  succeeded: z.coerce.number().int().nonnegative(),
  failed: z.coerce.number().int().nonnegative(),
  rows: z.coerce.number().int().nonnegative(),
  retryable: z.enum(['true', 'false']).transform((v) => v === 'true'),
  durationms: z.coerce.number().nonnegative(),
  code: z.string().optional(),
});

export function receiptFromMetadata(
  metadata: Record<string, string> | undefined,
): MiniBatchReceipt | undefined {
  const parsed = metadataSchema.safeParse(metadata ?? {});
  if (!parsed.success) return undefined;
  const { durationms, ...rest } = parsed.data;
  return { ...rest, durationMs: durationms };
}

export async function writeAttemptRecord(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
  record: AttemptRecord,
): Promise<void> {
  const { index, attempt } = record.receipt;
  await store.writeJson(logsContainer, jobFolder(jobId).attemptRecord(index, attempt), record, {
    metadata: receiptMetadata(record.receipt),
  });
}

/**
 * Every attempt of a job in (mini-batch, attempt) order, from listings (metadata), falling back to the
 * body for older records; one listing page of `pageSize` records in memory at a time.
 */
export async function* listAttempts(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
  options?: { pageSize?: number },
): AsyncIterable<MiniBatchReceipt> {
  for await (const page of listAttemptPages(store, logsContainer, jobId, options)) yield* page;
}

/** The same listing a page at a time. */
export async function* listAttemptPages(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
  options?: { pageSize?: number },
): AsyncIterable<MiniBatchReceipt[]> {
  for await (const blobs of store.listPages(logsContainer, jobFolder(jobId).attemptsPrefix, {
    includeMetadata: true,
    ...(options?.pageSize ? { pageSize: options.pageSize } : {}),
  })) {
    const page: MiniBatchReceipt[] = [];
    for (const blob of blobs) {
      page.push(
        receiptFromMetadata(blob.metadata) ??
          (await store.readJson(logsContainer, blob.name, attemptRecordSchema)).receipt,
      );
    }
    yield page;
  }
}
