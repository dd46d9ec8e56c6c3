import { z } from 'zod';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';
import { miniBatchReceiptSchema, type MiniBatchReceipt } from './contracts';

/**
 * Attempt records. A group call keeps the records of its attempts in one JSON Lines append blob
 * (`jobFolder(job).groupRecords(shard, group)`), appended in batches as attempts end: a storage write per
 * batch instead of one per attempt, and one read per group for finalize and for a call run again after a
 * crash. Each shard has a folder of its groups' files, and shards cover the plan in index order, so the
 * records of a job can be read in (mini-batch, attempt) order one shard at a time.
 */
export const failedItemSchema = z.object({ item: z.unknown(), error: z.string() });
export type FailedItem = z.infer<typeof failedItemSchema>;

/** Output folder files one attempt published: its token (in each file's metadata) and the names per output. */
export const publishedFilesSchema = z.object({
  token: z.string(),
  /** Output name -> the files' names relative to the output's folder. */
  files: z.record(z.string(), z.array(z.string())),
});
export type PublishedFiles = z.infer<typeof publishedFilesSchema>;

export const attemptRecordSchema = z.object({
  receipt: miniBatchReceiptSchema,
  failedItems: z.array(failedItemSchema),
  warnings: z.array(z.string()),
  startedAt: z.string(),
  workerId: z.number().int().optional(),
  /** `<pid>-<threadId>` of the worker (workerId holds the thread id alone). */
  worker: z.string().optional(),
  modulePath: z.string().optional(),
  /** Failures from a short result that no ctx.fail call named. */
  unattributedFailures: z.number().int().nonnegative().optional(),
  /** The files the attempt published into the job's uri_folder outputs (see attemptFiles.ts). */
  outputFiles: publishedFilesSchema.optional(),
  timings: z
    .object({
      readMs: z.number(),
      queuedMs: z.number(),
      initMs: z.number(),
      runMs: z.number(),
      writeMs: z.number(),
      totalMs: z.number(),
    })
    .optional(),
});
export type AttemptRecord = z.infer<typeof attemptRecordSchema>;

const attemptKey = (index: number, attempt: number): string => `${index}/${attempt}`;

/**
 * The records in `text`, a line each, and what follows its last newline: a line still being appended
 * (or torn by a crash), which is left out. Every complete line must parse.
 */
export function readRecordLines(text: string, name: string): { records: AttemptRecord[]; partial: string } {
  const lines = text.split('\n');
  const partial = lines.pop() ?? '';
  const records: AttemptRecord[] = [];
  for (const [n, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new Error(`${name} line ${n + 1} is not JSON: ${(error as Error).message}`);
    }
    records.push(attemptRecordSchema.parse(value));
  }
  return { records, partial };
}

/**
 * The records of one group call. `open` creates the blob, or reads what an earlier execution of the same
 * call recorded; `add` buffers a record and `flush` appends the buffered lines in one write.
 */
export class GroupRecords {
  readonly name: string;
  private buffered: string[] = [];
  private length = 0;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: BlobStore,
    private readonly logsContainer: string,
    jobId: string,
    shard: number,
    group: number,
  ) {
    this.name = jobFolder(jobId).groupRecords(shard, group);
  }

  /** Records of an earlier execution of this call, by `index/attempt` (empty for a first execution). */
  async open(): Promise<Map<string, AttemptRecord>> {
    const { created } = await this.store.createAppendBlob(
      this.logsContainer,
      this.name,
      'application/x-ndjson',
    );
    const recorded = new Map<string, AttemptRecord>();
    if (created) return recorded;
    const bytes = await this.store.read(this.logsContainer, this.name);
    this.length = bytes.length;
    for (const record of readRecordLines(bytes.toString('utf8'), this.name).records) {
      recorded.set(attemptKey(record.receipt.index, record.receipt.attempt), record);
    }
    return recorded;
  }

  add(record: AttemptRecord): void {
    this.buffered.push(`${JSON.stringify(record)}\n`);
  }

  get pending(): number {
    return this.buffered.length;
  }

  /** Appends what is buffered; flushes run one after another, in order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.buffered.length === 0) return;
      const body = Buffer.from(this.buffered.join(''), 'utf8');
      this.buffered = [];
      await this.store.appendAt(this.logsContainer, this.name, this.length, body);
      this.length += body.length;
    });
    return this.flushing;
  }
}

/** Writes a group's records in one go (what a group call does over its life; for tools and tests). */
export async function writeGroupRecords(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
  where: { shard: number; group: number },
  records: readonly AttemptRecord[],
): Promise<void> {
  const file = new GroupRecords(store, logsContainer, jobId, where.shard, where.group);
  await file.open();
  for (const record of records) file.add(record);
  await file.flush();
}

/**
 * Every attempt record of a job in (mini-batch, attempt) order, a shard at a time: the records of one
 * shard's groups are read and sorted together (a shard holds a bounded range of mini-batches). An
 * attempt recorded twice (a call run again) keeps its last record.
 */
export async function* listAttemptRecordPages(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): AsyncIterable<AttemptRecord[]> {
  const prefix = jobFolder(jobId).attemptsPrefix;
  let folder: string | undefined;
  let shard = new Map<string, AttemptRecord>();
  const sorted = (): AttemptRecord[] =>
    [...shard.values()].sort(
      (a, b) => a.receipt.index - b.receipt.index || a.receipt.attempt - b.receipt.attempt,
    );
  for await (const blob of store.list(logsContainer, prefix)) {
    const blobFolder = blob.name.slice(0, blob.name.lastIndexOf('/'));
    if (folder !== undefined && blobFolder !== folder && shard.size > 0) {
      yield sorted();
      shard = new Map();
    }
    folder = blobFolder;
    const text = (await store.read(logsContainer, blob.name)).toString('utf8');
    for (const record of readRecordLines(text, blob.name).records) {
      shard.set(attemptKey(record.receipt.index, record.receipt.attempt), record);
    }
  }
  if (shard.size > 0) yield sorted();
}

/** The receipts of listAttemptRecordPages, page by page. */
export async function* listAttemptPages(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): AsyncIterable<MiniBatchReceipt[]> {
  for await (const page of listAttemptRecordPages(store, logsContainer, jobId)) {
    yield page.map((record) => record.receipt);
  }
}

/** Every attempt's receipt, in (mini-batch, attempt) order. */
export async function* listAttempts(
  store: BlobStore,
  logsContainer: string,
  jobId: string,
): AsyncIterable<MiniBatchReceipt> {
  for await (const page of listAttemptPages(store, logsContainer, jobId)) yield* page;
}
