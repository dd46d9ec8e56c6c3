import {
  finalizeActivityInputSchema,
  finalizeSteps,
  type FinalizeActivityInput,
  type FinalizeActivityOutput,
} from '../orchestration/contracts';
import { planPageSchema, type MiniBatchDescriptor } from '../plan/descriptor';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder, outputBlockId } from '../storage/layout';
import { resolveInputLocation } from '../storage/inputs';
import { listAttemptRecordPages, type AttemptRecord } from './attemptRecord';
import type { MiniBatchReceipt } from './contracts';
import { MANIFEST_TAIL, manifestEntries, manifestHead, manifestLine, type ManifestEntry } from './manifest';
import type { ActivityDeps } from './deps';
import { outputOwnerOf, readJobRecord, type JobRecord } from '../storage/jobRecord';
import { claimOutputBlob, OUTPUT_OWNER_METADATA } from '../storage/outputOwner';
import { OUTPUT_MINI_BATCH_METADATA, OUTPUT_TOKEN_METADATA } from './attemptFiles';
import { sameAccount } from '../storage/access';
import { StorageNotFoundError } from '../errors';
import { AttemptCodes } from '../failureCodes';

/** Knobs for tests and benchmarks; the defaults suit any job size. */
export interface FinalizeOptions {
  /** Characters buffered per log blob before they are staged as one block. */
  blockChars?: number;
  /** Called with every page's length: what finalize holds of the attempt records at once (one shard's). */
  onPage?: (records: number) => void;
}

// Small enough that the three files buffer a few MiB between them, large enough for few blocks (Azure allows
// 50,000 per blob: 50 GiB of manifest at this size).
const DEFAULT_BLOCK_CHARS = 1024 * 1024;

/**
 * Ends a job in storage, in steps that the root retries one by one (see `finalizeSteps`); each is
 * idempotent: running it again writes the same blobs. Memory stays flat in the number of mini-batches:
 * attempt records are read a listing page at a time and the log files are staged block by block.
 */
export async function finalizeActivity(
  deps: ActivityDeps,
  raw: unknown,
  options: FinalizeOptions = {},
): Promise<FinalizeActivityOutput> {
  const input = finalizeActivityInputSchema.parse(raw);
  await deps.store.ensureContainer(deps.logsContainer);
  const record = input.planned ? await readJobRecord(deps.store, deps.logsContainer, input.jobId) : undefined;
  const steps = input.step ? [input.step] : finalizeSteps;
  const written = links(deps, input, record);
  for (const step of steps) {
    if (step === 'begin') await writeJobResult(deps, input, record, written, 'Finalizing');
    if (step === 'reports' && record) await writeReports(deps, input, record, options);
    if (step === 'output' && record) {
      await commitOutput(deps, record);
      await removeLosingFiles(deps, record);
    }
    if (step === 'end') {
      await writeOverview(deps, input, record);
      await writeJobResult(deps, input, record, written, input.status);
    }
  }
  return written;
}

/** Where the outputs and log files are; the same in every step, so any step can report them. */
function links(
  deps: ActivityDeps,
  input: FinalizeActivityInput,
  record: JobRecord | undefined,
): FinalizeActivityOutput {
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const logUrl = (name: string): string => store.url(logsContainer, name);
  const outputs: Record<string, string> = {};
  const logFiles: Record<string, string> = { job_result: logUrl(folder.jobResult) };
  if (record) {
    const target = record.appendRow;
    const appendTo = record.job.appendRowTo;
    if (target && appendTo) {
      const first = target.blobs[0]!;
      outputs[appendTo.output] =
        target.blobs.length === 1
          ? store.url(target.container, first)
          : store.url(target.container, first.slice(0, first.lastIndexOf('/') + 1));
    }
    logFiles.manifest = logUrl(folder.manifest);
    logFiles.processed_mini_batches = logUrl(folder.processedMiniBatches);
    logFiles.failed_items = logUrl(folder.failedItems);
    logFiles.user_logs = logUrl(`${folder.root}user/`);
    for (const [name, output] of Object.entries(record.job.outputs)) {
      if (outputs[name]) continue;
      const location = resolveInputLocation(output.path, { accountUrl: store.accountUrl });
      outputs[name] = store.forAccount(location.accountUrl).url(location.container, location.prefix);
    }
  }
  logFiles.job_progress_overview = logUrl(folder.progressOverview);
  return { outputs, logFiles };
}

/** job_result.json: first as Finalizing (so a job stuck in finalize says so), last with the end status. */
async function writeJobResult(
  deps: ActivityDeps,
  input: FinalizeActivityInput,
  record: JobRecord | undefined,
  written: FinalizeActivityOutput,
  status: FinalizeActivityInput['status'] | 'Finalizing',
): Promise<void> {
  const durationSeconds = (Date.parse(input.finishedAt) - Date.parse(input.startedAt)) / 1000;
  const jobResult = {
    job_id: input.jobId,
    status,
    reasons: input.reasons,
    counters: input.counters,
    first_errors: input.errors,
    started_at: input.startedAt,
    finished_at: input.finishedAt,
    duration_seconds: durationSeconds,
    effective_settings: record?.job.settings,
    rerun_of: record?.rerunOf,
    outputs: written.outputs,
    log_files: written.logFiles,
    warnings: record?.job.warnings ?? [],
  };
  await deps.store.writeJson(deps.logsContainer, jobFolder(input.jobId).jobResult, jobResult);
}

async function writeOverview(
  deps: ActivityDeps,
  input: FinalizeActivityInput,
  record: JobRecord | undefined,
): Promise<void> {
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const overview = progressOverview(input, record?.plan.miniBatches ?? 0);
  await store.write(logsContainer, folder.progressOverview, overview, { contentType: 'text/plain' });
  await store.write(logsContainer, folder.readme, README, { contentType: 'text/plain' });
}

/**
 * A blob written as staged blocks: text is buffered up to `limit` characters, staged under a fixed-width
 * id numbered from 0, and the ids are committed in order at the end. Running it again stages the same
 * ids with the same bytes, and the commit replaces the blob.
 */
class BlockWriter {
  private parts: string[] = [];
  private chars = 0;
  private readonly ids: string[] = [];

  constructor(
    private readonly store: BlobStore,
    private readonly container: string,
    private readonly name: string,
    private readonly contentType: string,
    private readonly limit: number,
  ) {}

  async push(text: string): Promise<void> {
    this.parts.push(text);
    this.chars += text.length;
    if (this.chars >= this.limit) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.chars === 0) return;
    const id = Buffer.from(`block-${String(this.ids.length).padStart(8, '0')}`).toString('base64');
    await this.store.stageBlock(this.container, this.name, id, Buffer.from(this.parts.join(''), 'utf8'));
    this.ids.push(id);
    this.parts = [];
    this.chars = 0;
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.ids.length === 0) {
      await this.store.write(this.container, this.name, '', { contentType: this.contentType });
      return;
    }
    await this.store.commitBlocks(this.container, this.name, this.ids, { contentType: this.contentType });
  }
}

/**
 * manifest.json, processed_mini_batches.csv and failed_items.jsonl in one pass over the attempt listing.
 * The listing is in (mini-batch, attempt) order, so the attempts of one mini-batch arrive together and
 * the last is the winner; mini-batches without attempts take their entry from the re-run job's
 * manifest, read in step.
 */
async function writeReports(
  deps: ActivityDeps,
  input: FinalizeActivityInput,
  record: JobRecord,
  options: FinalizeOptions,
): Promise<void> {
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const limit = options.blockChars ?? DEFAULT_BLOCK_CHARS;
  const manifest = new BlockWriter(store, logsContainer, folder.manifest, 'application/json', limit);
  const csv = new BlockWriter(store, logsContainer, folder.processedMiniBatches, 'text/csv', limit);
  const failed = new BlockWriter(store, logsContainer, folder.failedItems, 'application/x-ndjson', limit);
  const previous = record.rerunOf
    ? new PreviousManifest(manifestEntries(store, logsContainer, record.rerunOf)[Symbol.asyncIterator]())
    : undefined;
  const descriptors = new PlanPageReader(store, logsContainer, record);

  let next = 0;
  /** Entries for [next, end) from the previous manifest (or PENDING), then the winner of `group`. */
  const emit = async (end: number, group?: AttemptRecord[]): Promise<void> => {
    for (; next < end; next += 1) {
      const kept = await previous?.at(next);
      const entry: ManifestEntry =
        kept && kept.status === 'SUCCEEDED'
          ? kept
          : { index: next, status: kept?.status === 'FAILED' ? 'FAILED' : 'PENDING' };
      await manifest.push(manifestLine(entry, next === 0));
    }
    if (!group) return;
    const last = group[group.length - 1]!;
    const winner = last.receipt;
    const entry: ManifestEntry = {
      index: winner.index,
      status: winner.status === 'succeeded' ? 'SUCCEEDED' : 'FAILED',
      attempt: winner.attempt,
      generation: record.generation,
      items: winner.items,
      failed: winner.status === 'failed' ? winner.items : winner.failed,
      rows: winner.status === 'failed' ? 0 : winner.rows,
      ...(winner.status !== 'failed' && last.outputFiles
        ? { files: last.outputFiles.files, filesToken: last.outputFiles.token }
        : {}),
    };
    await manifest.push(manifestLine(entry, winner.index === 0));
    for (const attempt of group) await csv.push(csvRow(attempt.receipt));
    if (entry.status === 'FAILED') {
      for (const line of await failedLines(last, descriptors)) await failed.push(line);
    }
    next = winner.index + 1;
  };

  await manifest.push(
    manifestHead({ jobId: input.jobId, generation: record.generation, status: input.status }),
  );
  await csv.push(CSV_HEADER);
  let group: AttemptRecord[] = [];
  for await (const page of listAttemptRecordPages(store, logsContainer, input.jobId)) {
    options.onPage?.(page.length);
    for (const attempt of page) {
      const { index } = attempt.receipt;
      if (group.length > 0 && index !== group[0]!.receipt.index) {
        await emit(group[0]!.receipt.index, group);
        group = [];
      }
      // Attempts past the plan (none are expected) have a CSV row but no manifest entry, as before.
      if (index >= record.plan.miniBatches) await csv.push(csvRow(attempt.receipt));
      else group.push(attempt);
    }
  }
  if (group.length > 0) await emit(group[0]!.receipt.index, group);
  await emit(record.plan.miniBatches);
  await manifest.push(MANIFEST_TAIL);
  await Promise.all([manifest.close(), csv.close(), failed.close()]);
}

/** The re-run job's manifest, read forward in step with the mini-batches being finalized. */
class PreviousManifest {
  private current: ManifestEntry | undefined;
  private done = false;

  constructor(private readonly entries: AsyncIterator<ManifestEntry>) {}

  /** The entry for `index`, skipping every lower one (indexes only grow). */
  async at(index: number): Promise<ManifestEntry | undefined> {
    while (!this.done && (!this.current || this.current.index < index)) {
      const read = await this.entries.next();
      if (read.done) this.done = true;
      else this.current = read.value;
    }
    return this.current?.index === index ? this.current : undefined;
  }
}

/** The plan page of the mini-batches being finalized; they come in order, so one page is kept. */
class PlanPageReader {
  private page = -1;
  private descriptors: MiniBatchDescriptor[] = [];

  constructor(
    private readonly store: BlobStore,
    private readonly logsContainer: string,
    private readonly record: JobRecord,
  ) {}

  async get(index: number): Promise<MiniBatchDescriptor | undefined> {
    const page = Math.floor(index / this.record.plan.pageSize);
    if (page !== this.page) {
      const name = jobFolder(this.record.jobId).planPage(page);
      this.descriptors = (await this.store.readJson(this.logsContainer, name, planPageSchema)).miniBatches;
      this.page = page;
    }
    return this.descriptors.find((d) => d.index === index);
  }
}

/**
 * One JSON line per failed item: the items the task named (ctx.fail or a short result), or every item
 * of a mini-batch whose last attempt failed outright, with that attempt's error.
 */
async function failedLines(attempt: AttemptRecord, descriptors: PlanPageReader): Promise<string[]> {
  const { index } = attempt.receipt;
  const base = { mini_batch: index, attempt: attempt.receipt.attempt };
  if (attempt.failedItems.length > 0) {
    return attempt.failedItems.map(
      (failed) => `${JSON.stringify({ ...base, item: failed.item, error: failed.error })}\n`,
    );
  }
  const error = `${attempt.receipt.code ?? AttemptCodes.failed}: ${attempt.receipt.message ?? 'failed'}`;
  return itemsOf(await descriptors.get(index)).map((item) => `${JSON.stringify({ ...base, item, error })}\n`);
}

/**
 * Commits each output blob's blocks in mini-batch order; rows appear once each, in input order. Only into
 * a writable place, and only over a blob this job (or the job it re-runs) created. Reads the manifest
 * written by the `reports` step, one output blob's block ids in memory at a time.
 */
async function commitOutput(deps: ActivityDeps, record: JobRecord): Promise<void> {
  const { store, logsContainer } = deps;
  const target = record.appendRow;
  const appendTo = record.job.appendRowTo;
  if (!target || !appendTo) return;
  const field = `outputs.${appendTo.output}.path`;
  const entries = manifestEntries(store, logsContainer, record.jobId)[Symbol.asyncIterator]();
  let pending: ManifestEntry | undefined;
  for (const [part, blob] of target.blobs.entries()) {
    const claim = await claimOutputBlob(deps, target.container, blob, outputOwnerOf(record), field);
    const end = (part + 1) * target.miniBatchesPerBlob;
    const ids: string[] = [];
    for (;;) {
      if (!pending) {
        const read = await entries.next();
        if (read.done) break;
        pending = read.value;
      }
      if (pending.index >= end) break;
      if (pending.attempt !== undefined && (pending.rows ?? 0) > 0)
        ids.push(outputBlockId(pending.generation ?? 0, pending.index, pending.attempt));
      pending = undefined;
    }
    await store.commitBlocks(target.container, blob, ids, {
      contentType: 'text/plain',
      metadata: claim.metadata,
      conditions: claim.conditions,
    });
  }
  await entries.return?.();
}

/**
 * Removes the output folder files of this job that no winning attempt published: those of an attempt that
 * uploaded and then crashed before its record was kept, or whose mini-batch failed in the end. The
 * manifest names each mini-batch's winning token; a file whose metadata has this job's owner and another
 * token goes. One listing of each uri_folder output, with metadata; idempotent.
 */
async function removeLosingFiles(deps: ActivityDeps, record: JobRecord): Promise<void> {
  const folders = Object.entries(record.job.outputs).filter(([, output]) => output.type === 'uri_folder');
  if (folders.length === 0) return;
  const winners = new Map<number, string>();
  for await (const entry of manifestEntries(deps.store, deps.logsContainer, record.jobId))
    if (entry.filesToken) winners.set(entry.index, entry.filesToken);
  const owner = outputOwnerOf(record);
  for (const [, output] of folders) {
    const location = resolveInputLocation(output.path, { accountUrl: deps.store.accountUrl });
    if (!sameAccount(location.accountUrl, deps.store.accountUrl)) continue;
    const prefix = location.prefix === '' ? '' : `${location.prefix.replace(/\/+$/, '')}/`;
    try {
      for await (const blob of deps.store.list(location.container, prefix, { includeMetadata: true })) {
        const metadata = blob.metadata ?? {};
        const token = metadata[OUTPUT_TOKEN_METADATA];
        if (token === undefined || metadata[OUTPUT_OWNER_METADATA] !== owner) continue;
        if (winners.get(Number(metadata[OUTPUT_MINI_BATCH_METADATA])) === token) continue;
        await deps.store.delete(location.container, blob.name);
      }
    } catch (error) {
      // No container: no file was ever published there.
      if (!(error instanceof StorageNotFoundError && error.blob === undefined)) throw error;
    }
  }
}

const CSV_HEADER = 'mini_batch,attempt,status,items,succeeded,failed,rows,duration_ms,code\n';

function csvRow(r: MiniBatchReceipt): string {
  return `${[
    r.index,
    r.attempt,
    r.status,
    r.items,
    r.succeeded,
    r.failed,
    r.rows,
    Math.round(r.durationMs),
    r.code ?? '',
  ].join(',')}\n`;
}

function itemsOf(descriptor: MiniBatchDescriptor | undefined): unknown[] {
  if (!descriptor) return [];
  if (descriptor.kind === 'tabular')
    return [{ blob: descriptor.blob, start: descriptor.start, end: descriptor.end }];
  if (descriptor.kind === 'parquet')
    return [
      { blob: descriptor.blob, firstRowGroup: descriptor.firstRowGroup, rowGroups: descriptor.rowGroups },
    ];
  return descriptor.files.map((file) => file.name);
}

function progressOverview(input: FinalizeActivityInput, planned: number): string {
  const durationSeconds = (Date.parse(input.finishedAt) - Date.parse(input.startedAt)) / 1000;
  const c = input.counters;
  const lines = [
    `Job ${input.jobId}: ${input.status}`,
    `Started ${input.startedAt}, finished ${input.finishedAt} (${durationSeconds.toFixed(1)} s).`,
    `Mini-batches: ${planned} planned, ${c.scheduled} scheduled, ${c.succeeded} succeeded, ${c.failed} failed, ${c.retried} retries.`,
    `Items: ${c.itemsSucceeded} succeeded, ${c.itemsFailed} failed. Output rows: ${c.rows}.`,
    planned === 0 && input.status === 'Completed' ? 'The input was empty: the output is empty.' : '',
    ...input.reasons.map((reason) => `Reason: ${reason}`),
  ];
  return lines.filter(Boolean).join('\n') + '\n';
}

const README = `This folder holds one job's logs.
job_result.json                  status, reasons, effective settings, counters, first errors, links
                                 (status Finalizing while the log files below are being written)
manifest.json                    every mini-batch: SUCCEEDED / FAILED / PENDING (re-run uses it)
job_progress_overview.txt        a summary for people
failed_items.jsonl               one line per failed item, with its error
sys/job_report/processed_mini_batches.csv   one row per attempt
user/mini_batch_<n>/attempt_<k>.log.txt     what the task logged in that attempt (none for a silent success)
user/mini_batch_<n>/attempt_<k>.bad_records.jsonl   table records that did not parse (file, line, offset, why)
sys/job.json, sys/plan/, sys/attempts/      the resolved job, the plan pages, the attempt records
sys/plan_progress.json           how far planning got (inputs listed, mini-batches cut)
`;
