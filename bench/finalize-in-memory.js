'use strict';
// The finalize of the log files as it was before it streamed them (kept for the side-by-side bench and
// for the test that the streamed files are the same): every attempt receipt, every manifest entry, the
// whole CSV and every failed item in memory, each file written in one request. The modules it uses are
// passed in, so the bench runs it on dist/ and the tests on src/.

async function collect(items) {
  const all = [];
  for await (const item of items) all.push(item);
  return all;
}

function buildManifest(record, attempts, previous) {
  const winners = new Map();
  for (const attempt of attempts) {
    const known = winners.get(attempt.index);
    if (!known || attempt.attempt > known.attempt) winners.set(attempt.index, attempt);
  }
  const entries = [];
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

const CSV_HEADER = 'mini_batch,attempt,status,items,succeeded,failed,rows,duration_ms,code\n';

function processedCsv(attempts) {
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

function itemsOf(descriptor) {
  if (!descriptor) return [];
  if (descriptor.kind === 'tabular')
    return [{ blob: descriptor.blob, start: descriptor.start, end: descriptor.end }];
  return descriptor.files.map((file) => file.name);
}

async function failedItems(m, store, logsContainer, record, entries, records) {
  const folder = m.jobFolder(record.jobId);
  const lines = [];
  const pages = new Map();
  for (const entry of entries) {
    if (entry.status !== 'FAILED' || entry.attempt === undefined || entry.generation !== record.generation)
      continue;
    const attemptRecord = records.get(`${entry.index}/${entry.attempt}`);
    const base = { mini_batch: entry.index, attempt: entry.attempt };
    if (attemptRecord.failedItems.length > 0) {
      for (const failed of attemptRecord.failedItems)
        lines.push(JSON.stringify({ ...base, item: failed.item, error: failed.error }));
      continue;
    }
    const error = `${attemptRecord.receipt.code ?? 'TASK_FAILED'}: ${attemptRecord.receipt.message ?? 'failed'}`;
    const page = Math.floor(entry.index / record.plan.pageSize);
    let descriptors = pages.get(page);
    if (!descriptors) {
      descriptors = (await store.readJson(logsContainer, folder.planPage(page), m.planPageSchema))
        .miniBatches;
      pages.set(page, descriptors);
    }
    for (const item of itemsOf(descriptors.find((d) => d.index === entry.index)))
      lines.push(JSON.stringify({ ...base, item, error }));
  }
  return lines.map((line) => `${line}\n`).join('');
}

/**
 * Builds manifest.json, processed_mini_batches.csv and failed_items.jsonl of `record`'s job in memory
 * and, unless `write` is false, writes them where finalize writes them. `m` holds the project modules'
 * exports used: listAttemptRecordPages, readManifest, planPageSchema, jobFolder.
 */
async function finalizeReportsInMemory(m, store, logsContainer, record, status, write = true) {
  const all = (await collect(m.listAttemptRecordPages(store, logsContainer, record.jobId))).flat();
  const attempts = all.map((one) => one.receipt);
  const records = new Map(all.map((one) => [`${one.receipt.index}/${one.receipt.attempt}`, one]));
  const previous = record.rerunOf ? await m.readManifest(store, logsContainer, record.rerunOf) : undefined;
  const entries = buildManifest(record, attempts, previous);
  const manifest = { jobId: record.jobId, generation: record.generation, status, miniBatches: entries };
  const csv = processedCsv(attempts);
  const failed = await failedItems(m, store, logsContainer, record, entries, records);
  if (write) {
    const folder = m.jobFolder(record.jobId);
    await store.writeJson(logsContainer, folder.manifest, manifest);
    await store.write(logsContainer, folder.processedMiniBatches, csv, { contentType: 'text/csv' });
    await store.write(logsContainer, folder.failedItems, failed, { contentType: 'application/x-ndjson' });
  }
  return { manifest, csv, failedItems: failed };
}

module.exports = { finalizeReportsInMemory };
