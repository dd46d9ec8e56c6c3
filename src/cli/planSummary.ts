import { MAX_LANE_WIDTH } from '../orchestration/lanes';
import type { MiniBatchDescriptor } from '../plan/descriptor';
import { formatBytes } from '../plan/preview';
import { type PlanPreview } from '../api/wire';

/**
 * What `parallel-job plan` prints for people: the cut, the spread of sizes as a histogram, the first
 * mini-batches, what the job will cost in durable work items and storage operations, and the warnings.
 * `--json` prints the preview itself.
 */

export interface PlanSummaryOptions {
  /** Whether the job appends rows (one staged block per mini-batch). */
  appendRows: boolean;
  /** retry_settings.max_retries: the most attempts a mini-batch can take is this plus one. */
  maxRetries: number;
  /** instance_count x max_concurrency_per_instance: attempts in flight at once. */
  concurrency: number;
}

/**
 * Durable work items per mini-batch of short tasks, as measured on the local host (bench/RESULTS.md,
 * bench/dispatch.js: 0.024 for 2,000 no-op mini-batches): a group call runs hundreds of them.
 */
const SHORT_TASK_WORK_ITEMS = 0.03;
/** Writes every attempt makes besides output rows: its log (its record is appended with others). */
const WRITES_PER_ATTEMPT = 1;
const BAR_WIDTH = 30;

const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`;

/** A mini-batch on one line; blob names are shown relative to the input's folder. */
function describeMiniBatch(descriptor: MiniBatchDescriptor, folder: string): string {
  const shown = (name: string): string =>
    folder && name.startsWith(folder) ? name.slice(folder.length) : name;
  if (descriptor.kind === 'tabular') {
    return `${shown(descriptor.blob)} bytes ${count(descriptor.start)}-${count(descriptor.end)} (${formatBytes(descriptor.end - descriptor.start)})`;
  }
  if (descriptor.kind === 'parquet') {
    if (descriptor.unreadable !== undefined)
      return `${shown(descriptor.blob)}: unreadable (${descriptor.unreadable})`;
    const last = descriptor.firstRowGroup + descriptor.rowGroups - 1;
    const groups =
      descriptor.rowGroups === 1
        ? `row group ${descriptor.firstRowGroup}`
        : `row groups ${descriptor.firstRowGroup}-${last}`;
    return `${shown(descriptor.blob)} ${groups}: ${plural(descriptor.rows, 'row')}, ${formatBytes(descriptor.bytes)}`;
  }
  const names = descriptor.files.slice(0, 3).map((file) => shown(file.name));
  const more = descriptor.files.length > 3 ? `, ... (${count(descriptor.files.length - 3)} more)` : '';
  const bytes = descriptor.files.reduce((sum, file) => sum + file.size, 0);
  const keys =
    descriptor.kind === 'partition'
      ? `${Object.entries(descriptor.keys)
          .map(([key, value]) => `${key}=${value}`)
          .join(', ')}: `
      : '';
  return `${keys}${plural(descriptor.files.length, 'file')}, ${formatBytes(bytes)}: ${names.join(', ')}${more}`;
}

/** Reads a mini-batch makes: one per file, or for a table range the range and (CSV) its header line. */
function readsPerMiniBatch(preview: PlanPreview): number {
  if (preview.kind === 'tabular') return 2;
  return preview.itemsPerMiniBatch?.median ?? 1;
}

export function formatPlanSummary(preview: PlanPreview, options: PlanSummaryOptions): string {
  const lines: string[] = [];
  const where = `${preview.input.container}/${preview.input.prefix}`;
  const parquet = preview.first.some((descriptor) => descriptor.kind === 'parquet');
  const what =
    preview.kind === 'tabular'
      ? `${parquet ? 'row groups of Parquet tables' : 'byte ranges of tables'} in ${where}`
      : `${preview.kind === 'partition' ? 'partitions' : 'files'} of ${where} (${plural(preview.items ?? 0, 'file')})`;
  lines.push(
    `${plural(preview.miniBatches, 'mini-batch', 'mini-batches')} of ${what}, ${formatBytes(preview.bytes)} in all.`,
  );

  const sizes = preview.bytesPerMiniBatch;
  if (sizes) {
    lines.push(
      '',
      `Bytes per mini-batch: min ${formatBytes(sizes.min)}, median ${formatBytes(sizes.median)}, max ${formatBytes(sizes.max)}`,
    );
    const largest = Math.max(...preview.bytesHistogram.map((bucket) => bucket.count));
    for (const bucket of preview.bytesHistogram) {
      const bar = '#'.repeat(Math.round((BAR_WIDTH * bucket.count) / largest));
      lines.push(
        `  <= ${formatBytes(bucket.upTo).padStart(10)}  ${bar.padEnd(BAR_WIDTH)}  ${count(bucket.count)}`,
      );
    }
  }
  const rows = preview.rowsPerMiniBatch;
  if (rows)
    lines.push(
      `Rows per mini-batch: min ${count(rows.min)}, median ${count(rows.median)}, max ${count(rows.max)}`,
    );
  const files = preview.itemsPerMiniBatch;
  if (files)
    lines.push(
      `Files per mini-batch: min ${count(files.min)}, median ${count(files.median)}, max ${count(files.max)}`,
    );

  if (preview.first.length > 0) {
    lines.push('', `First ${plural(preview.first.length, 'mini-batch', 'mini-batches')}:`);
    const folder = preview.input.prefix ? `${preview.input.prefix.replace(/\/+$/, '')}/` : '';
    for (const descriptor of preview.first)
      lines.push(`  #${descriptor.index}  ${describeMiniBatch(descriptor, folder)}`);
  }

  if (preview.miniBatches > 0) {
    const n = preview.miniBatches;
    // Long tasks: a group call (and its shard episode) per lane-wide wave of attempts.
    const waves = 2 * Math.ceil(n / Math.min(MAX_LANE_WIDTH, options.concurrency));
    const shortTasks = Math.max(1, Math.ceil(n * SHORT_TASK_WORK_ITEMS));
    const writes = WRITES_PER_ATTEMPT + (options.appendRows ? 1 : 0);
    const operations = Math.ceil(n * (readsPerMiniBatch(preview) + writes));
    lines.push(
      '',
      'Estimated cost, if every attempt succeeds the first time:',
      `  durable work items: about ${count(Math.min(shortTasks, waves))} for short tasks (a group call runs many mini-batches), up to ${count(waves)} for tasks of 20 s or more (a call per lane-wide wave)`,
      `  storage operations: about ${count(operations)} (per mini-batch: its reads, ${plural(writes, 'write', 'writes')}${options.appendRows ? ' including the staged output rows' : ''})`,
    );
    if (options.maxRetries > 0)
      lines.push(
        `  each failed attempt adds ${plural(writes, 'write', 'writes')}, and a call when its backoff outlasts its group, up to ${plural(options.maxRetries, 'retry', 'retries')} per mini-batch`,
      );
  }

  if (preview.warnings.length > 0) {
    lines.push('', 'Warnings:');
    for (const warning of preview.warnings) lines.push(`  - ${warning}`);
  }
  return lines.join('\n');
}
