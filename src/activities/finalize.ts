import { finalizeActivityInputSchema, type FinalizeActivityOutput } from '../orchestration/contracts';
import { planPageSchema, type MiniBatchDescriptor } from '../plan/descriptor';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder, outputBlockId } from '../storage/layout';
import { resolveInputLocation } from '../storage/inputs';
import { attemptRecordSchema, listAttempts } from './attemptRecord';
import type { MiniBatchReceipt } from './contracts';
import { readManifest, type Manifest, type ManifestEntry } from './manifest';
import { outputOwnerOf, readJobRecord, type ActivityDeps, type JobRecord } from './jobRecord';
import { claimOutput } from './outputOwner';
import { DataPlaceRefusedError } from '../errors';

/**
 * Ends a job in storage: commits the append_row output from the winning attempt of every mini-batch in
 * mini-batch order (staged blocks, never downloaded), and writes manifest.json, job_result.json,
 * processed_mini_batches.csv, failed_items.jsonl and job_progress_overview.txt. Idempotent: running it
 * again writes the same blobs.
 */
export async function finalizeActivity(deps: ActivityDeps, raw: unknown): Promise<FinalizeActivityOutput> {
  const input = finalizeActivityInputSchema.parse(raw);
  const { store, logsContainer } = deps;
  const folder = jobFolder(input.jobId);
  const logUrl = (name: string): string => store.url(logsContainer, name);
  await store.ensureContainer(logsContainer);

  let record: JobRecord | undefined;
  const outputs: Record<string, string> = {};
  const logFiles: Record<string, string> = { job_result: logUrl(folder.jobResult) };
  let manifestEntries: ManifestEntry[] = [];
  let attempts: MiniBatchReceipt[] = [];

  if (input.planned) {
    record = await readJobRecord(store, logsContainer, input.jobId);
    attempts = await collect(listAttempts(store, logsContainer, input.jobId));
    const previous = record.rerunOf ? await readManifest(store, logsContainer, record.rerunOf) : undefined;
    manifestEntries = buildManifest(record, attempts, previous);
    const manifest: Manifest = {
      jobId: input.jobId,
      generation: record.generation,
      status: input.status,
      miniBatches: manifestEntries,
    };
    await store.writeJson(logsContainer, folder.manifest, manifest);
    Object.assign(outputs, await commitOutput(deps, record, manifestEntries));
    await store.write(logsContainer, folder.processedMiniBatches, processedCsv(attempts), {
      contentType: 'text/csv',
    });
    await store.write(logsContainer, folder.failedItems, await failedItems(deps, record, manifestEntries), {
      contentType: 'application/x-ndjson',
    });
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

  const durationSeconds = (Date.parse(input.finishedAt) - Date.parse(input.startedAt)) / 1000;
  const overview = progressOverview(input, durationSeconds, manifestEntries.length);
  await store.write(logsContainer, folder.progressOverview, overview, { contentType: 'text/plain' });
  logFiles.job_progress_overview = logUrl(folder.progressOverview);
  await store.write(logsContainer, folder.readme, README, { contentType: 'text/plain' });

  const jobResult = {
    job_id: input.jobId,
    status: input.status,
    reasons: input.reasons,
    counters: input.counters,
    first_errors: input.errors,
    started_at: input.startedAt,
    finished_at: input.finishedAt,
    duration_seconds: durationSeconds,
    effective_settings: record?.job.settings,
    rerun_of: record?.rerunOf,
    outputs,
    log_files: logFiles,
    warnings: record?.job.warnings ?? [],
  };
  await store.writeJson(logsContainer, folder.jobResult, jobResult);
  return { outputs, logFiles };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** The winning attempt of a mini-batch is its last one; earlier attempts failed and were retried. */
function buildManifest(
  record: JobRecord,
  attempts: MiniBatchReceipt[],
  previous?: Manifest,
): ManifestEntry[] {
  const winners = new Map<number, MiniBatchReceipt>();
  for (const attempt of attempts) {
    const known = winners.get(attempt.index);
    if (!known || attempt.attempt > known.attempt) winners.set(attempt.index, attempt);
  }
  const entries: ManifestEntry[] = [];
  for (let index = 0; index < record.plan.miniBatches; index += 1) {
    const winner = winners.get(index);
    if (winner) {
      entries.push({
        index,
        status: winner.status === 'succeeded' ? 'SUCCEEDED' : 'FAILED',
        attempt: winner.attempt,
        generation: record.generation,
        items: winner.items,
        failed: winner.status === 'failed' ? winner.items : winner.failed,
        rows: winner.status === 'failed' ? 0 : winner.rows,
      });
      continue;
    }
    const kept = previous?.miniBatches[index];
    entries.push(
      kept && kept.status === 'SUCCEEDED'
        ? kept
        : { index, status: kept?.status === 'FAILED' ? 'FAILED' : 'PENDING' },
    );
  }
  return entries;
}

/**
 * Commits each output blob's blocks in mini-batch order; rows appear once each, in input order. Only into
 * a writable place, and only over a blob this job (or the job it re-runs) created.
 */
async function commitOutput(
  deps: ActivityDeps,
  record: JobRecord,
  entries: ManifestEntry[],
): Promise<Record<string, string>> {
  const { store } = deps;
  const target = record.appendRow;
  const appendTo = record.job.appendRowTo;
  if (!target || !appendTo) return {};
  const field = `outputs.${appendTo.output}.path`;
  for (const [part, blob] of target.blobs.entries()) {
    deps.access.assert(
      { accountUrl: store.accountUrl, container: target.container, prefix: blob },
      'write',
      field,
    );
    const claim = await claimOutput(store, target.container, blob, outputOwnerOf(record));
    if (!claim.ok) throw new DataPlaceRefusedError(field, claim.problem);
    const first = part * target.miniBatchesPerBlob;
    const ids = entries
      .slice(first, first + target.miniBatchesPerBlob)
      .filter((entry) => entry.attempt !== undefined && (entry.rows ?? 0) > 0)
      .map((entry) => outputBlockId(entry.generation ?? 0, entry.index, entry.attempt!));
    await store.commitBlocks(target.container, blob, ids, {
      contentType: 'text/plain',
      metadata: claim.metadata,
      conditions: claim.conditions,
    });
  }
  const first = target.blobs[0]!;
  const url =
    target.blobs.length === 1
      ? store.url(target.container, first)
      : store.url(target.container, first.slice(0, first.lastIndexOf('/') + 1));
  return { [appendTo.output]: url };
}

const CSV_HEADER = 'mini_batch,attempt,status,items,succeeded,failed,rows,duration_ms,code\n';

function processedCsv(attempts: MiniBatchReceipt[]): string {
  const rows = [...attempts]
    .sort((a, b) => a.index - b.index || a.attempt - b.attempt)
    .map((r) =>
      [
        r.index,
        r.attempt,
        r.status,
        r.items,
        r.succeeded,
        r.failed,
        r.rows,
        Math.round(r.durationMs),
        r.code ?? '',
      ].join(','),
    );
  return CSV_HEADER + rows.map((row) => `${row}\n`).join('');
}

/**
 * One JSON line per failed item: the items the task named (ctx.fail or a short result), or every item
 * of a mini-batch whose last attempt failed outright, with that attempt's error.
 */
async function failedItems(deps: ActivityDeps, record: JobRecord, entries: ManifestEntry[]): Promise<string> {
  const { store, logsContainer } = deps;
  const folder = jobFolder(record.jobId);
  const lines: string[] = [];
  const pages = new Map<number, MiniBatchDescriptor[]>();
  for (const entry of entries) {
    if (entry.status !== 'FAILED' || entry.attempt === undefined || entry.generation !== record.generation)
      continue;
    const attemptRecord = await store.readJson(
      logsContainer,
      folder.attemptRecord(entry.index, entry.attempt),
      attemptRecordSchema,
    );
    const base = { mini_batch: entry.index, attempt: entry.attempt };
    if (attemptRecord.failedItems.length > 0) {
      for (const failed of attemptRecord.failedItems)
        lines.push(JSON.stringify({ ...base, item: failed.item, error: failed.error }));
      continue;
    }
    const error = `${attemptRecord.receipt.code ?? 'TASK_FAILED'}: ${attemptRecord.receipt.message ?? 'failed'}`;
    const descriptor = await descriptorOf(store, logsContainer, record, entry.index, pages);
    for (const item of itemsOf(descriptor)) lines.push(JSON.stringify({ ...base, item, error }));
  }
  return lines.map((line) => `${line}\n`).join('');
}

async function descriptorOf(
  store: BlobStore,
  logsContainer: string,
  record: JobRecord,
  index: number,
  pages: Map<number, MiniBatchDescriptor[]>,
): Promise<MiniBatchDescriptor | undefined> {
  const page = Math.floor(index / record.plan.pageSize);
  let descriptors = pages.get(page);
  if (!descriptors) {
    descriptors = (
      await store.readJson(logsContainer, jobFolder(record.jobId).planPage(page), planPageSchema)
    ).miniBatches;
    pages.set(page, descriptors);
  }
  return descriptors.find((d) => d.index === index);
}

function itemsOf(descriptor: MiniBatchDescriptor | undefined): unknown[] {
  if (!descriptor) return [];
  if (descriptor.kind === 'tabular')
    return [{ blob: descriptor.blob, start: descriptor.start, end: descriptor.end }];
  return descriptor.files.map((file) => file.name);
}

function progressOverview(
  input: ReturnType<typeof finalizeActivityInputSchema.parse>,
  durationSeconds: number,
  planned: number,
): string {
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
manifest.json                    every mini-batch: SUCCEEDED / FAILED / PENDING (re-run uses it)
job_progress_overview.txt        a summary for people
failed_items.jsonl               one line per failed item, with its error
sys/job_report/processed_mini_batches.csv   one row per attempt
user/mini_batch_<n>/attempt_<k>.log.txt     what the task logged in that attempt
sys/job.json, sys/plan/, sys/attempts/      the resolved job, the plan pages, the attempt records
`;
