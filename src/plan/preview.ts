import type { BlobStore } from '../storage/blobStore';
import { type PlanPreview, type SizeBucket, type SizeDistribution } from '../api/wire';
import { bytesOf, type MiniBatchDescriptor } from './descriptor';
import { cutInput, type InputCut } from './cut';
import { planRequestSchema, type PlanRequest } from './request';

/** A mini-batch this many times the median is called skewed. */
const SKEW_FACTOR = 10;
/** Tabular sizes below this are almost always a mistake: the size is bytes, not rows. */
const TINY_TABULAR_BYTES = 1024;

/** Growable array of doubles: 8 bytes per mini-batch, so a million mini-batches cost 8 MB. */
class NumberColumn {
  private values = new Float64Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }
  distribution(): SizeDistribution | undefined {
    if (this.length === 0) return undefined;
    const sorted = this.values.slice(0, this.length).sort();
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return { min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
  }
  /**
   * Counts per bucket, the buckets' bounds growing geometrically from min to max (sizes span orders of
   * magnitude, so equal widths would put nearly everything in one bucket).
   */
  histogram(buckets = 8): SizeBucket[] {
    if (this.length === 0) return [];
    const values = this.values.subarray(0, this.length);
    let min = Infinity;
    let max = -Infinity;
    for (const value of values) {
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
    if (min === max) return [{ upTo: max, count: this.length }];
    const low = Math.max(1, min);
    const ratio = Math.pow(max / low, 1 / buckets);
    const bounds = Array.from({ length: buckets }, (_, i) =>
      i === buckets - 1 ? max : Math.ceil(low * Math.pow(ratio, i + 1)),
    );
    const counts = new Array<number>(buckets).fill(0);
    for (const value of values) {
      const bucket = bounds.findIndex((bound) => value <= bound);
      const at = bucket === -1 ? buckets - 1 : bucket;
      counts[at] = counts[at]! + 1;
    }
    return bounds.map((upTo, i) => ({ upTo, count: counts[i]! }));
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** What the preview notes about Parquet files: row groups too large to share, footers it could not read. */
interface ParquetNotes {
  oversized: { count: number; largest?: { blob: string; rowGroup: number; bytes: number } };
  unreadable: { blob: string; reason: string }[];
}

/** Unreadable files named one by one in the warnings; the rest are counted. */
const UNREADABLE_LISTED = 5;

function parquetWarnings(notes: ParquetNotes, miniBatchSize: number): string[] {
  const warnings: string[] = [];
  const { oversized, unreadable } = notes;
  if (oversized.largest) {
    const { blob, rowGroup, bytes } = oversized.largest;
    warnings.push(
      `${oversized.count.toLocaleString('en-US')} Parquet row group${oversized.count === 1 ? ' is' : 's are'} larger than mini_batch_size (${formatBytes(miniBatchSize)}) and ${oversized.count === 1 ? 'is a mini-batch' : 'are mini-batches'} of ${oversized.count === 1 ? 'its' : 'their'} own: a row group is never split (the largest: row group ${rowGroup} of ${blob}, ${formatBytes(bytes)}). ` +
        'Raise mini_batch_size, or write the files with smaller row groups.',
    );
  }
  if (unreadable.length > 0) {
    const listed = unreadable
      .slice(0, UNREADABLE_LISTED)
      .map(({ blob, reason }) => `${blob} (${reason})`)
      .join('; ');
    const more =
      unreadable.length > UNREADABLE_LISTED ? `; and ${unreadable.length - UNREADABLE_LISTED} more` : '';
    warnings.push(
      `${unreadable.length.toLocaleString('en-US')} Parquet file${unreadable.length === 1 ? "'s footer" : "s' footers"} could not be read: ${listed}${more}. ` +
        'Each is a mini-batch that fails with its reason; the other files run.',
    );
  }
  return warnings;
}

/** Warnings about a plan: empty input, a file that cannot be split, skewed sizes, a tiny tabular byte size. */
function planWarnings(
  kind: InputCut['kind'],
  request: Pick<PlanRequest, 'miniBatchSize' | 'miniBatchSizeUnit'>,
  totals: {
    miniBatches: number;
    items: number;
    bytes: number;
    largestFile: { name: string; size: number };
    bytesPerMiniBatch: SizeDistribution | undefined;
  },
): string[] {
  const { miniBatches, items, bytes, largestFile, bytesPerMiniBatch } = totals;
  const warnings: string[] = [];
  if (miniBatches === 0) {
    warnings.push('The input is empty: the job would run no mini-batches.');
  }
  if (kind !== 'tabular' && miniBatches === 1 && items === 1) {
    warnings.push(
      `The input is a single file (${largestFile.name}, ${formatBytes(largestFile.size)}) and a file cannot be split: one mini-batch runs, with no parallelism. ` +
        'For CSV or JSON Lines, declare the input as mltable (or give a byte mini_batch_size) to split it by bytes.',
    );
  } else if (kind !== 'tabular' && miniBatches > 1 && largestFile.size > bytes / 2) {
    warnings.push(
      `One file holds most of the input (${largestFile.name}, ${formatBytes(largestFile.size)} of ${formatBytes(bytes)}) and cannot be split: its mini-batch will dominate the run time.`,
    );
  }
  if (
    bytesPerMiniBatch &&
    miniBatches > 1 &&
    bytesPerMiniBatch.max > SKEW_FACTOR * Math.max(bytesPerMiniBatch.median, 1)
  ) {
    warnings.push(
      `Mini-batch sizes are skewed: the largest is ${formatBytes(bytesPerMiniBatch.max)}, the median ${formatBytes(bytesPerMiniBatch.median)}. ` +
        (kind === 'files'
          ? 'mini_batch_size counts files, not bytes; group files of similar size, or use partition_keys.'
          : 'Consider splitting large partitions (split by size) or rebalancing the files.'),
    );
  }
  if (
    kind === 'tabular' &&
    request.miniBatchSizeUnit === 'bytes' &&
    request.miniBatchSize < TINY_TABULAR_BYTES
  ) {
    warnings.push(
      `mini_batch_size is ${request.miniBatchSize} bytes: for tabular input it is an approximate byte size, not a row count. Did you mean e.g. 1MB?`,
    );
  }
  return warnings;
}

/**
 * Previews the plan of `request`: counts, the size distribution, the first mini-batches and warnings
 * (empty input, one file that cannot be split, skewed sizes, a byte size that looks like a row count).
 */
export async function previewPlan(
  store: BlobStore,
  request: PlanRequest,
  options?: { sample?: number },
): Promise<PlanPreview> {
  const valid = planRequestSchema.parse(request);
  const sample = options?.sample ?? 5;
  const cut = cutInput(store, valid);
  const sizes = new NumberColumn();
  const counts = new NumberColumn();
  const rows = new NumberColumn();
  const parquet: ParquetNotes = { oversized: { count: 0 }, unreadable: [] };
  const first: MiniBatchDescriptor[] = [];
  let items = 0;
  let bytes = 0;
  let largestFile = { name: '', size: 0 };

  for await (const descriptor of cut.miniBatches) {
    if (first.length < sample) first.push(descriptor);
    if (descriptor.kind === 'tabular' || descriptor.kind === 'parquet') {
      sizes.push(bytesOf(descriptor));
      bytes += bytesOf(descriptor);
      if (descriptor.kind === 'parquet') noteParquet(descriptor, valid.miniBatchSize, parquet, rows);
    } else {
      let batchBytes = 0;
      for (const file of descriptor.files) {
        batchBytes += file.size;
        if (file.size > largestFile.size) largestFile = file;
      }
      sizes.push(batchBytes);
      counts.push(descriptor.files.length);
      items += descriptor.files.length;
      bytes += batchBytes;
    }
  }

  const bytesPerMiniBatch = sizes.distribution();
  const warnings = [
    ...planWarnings(cut.kind, valid, {
      miniBatches: sizes.length,
      items,
      bytes,
      largestFile,
      bytesPerMiniBatch,
    }),
    ...parquetWarnings(parquet, valid.miniBatchSize),
  ];
  const rowsPerMiniBatch = rows.distribution();

  return {
    kind: cut.kind,
    input: valid.input,
    miniBatches: sizes.length,
    items: cut.kind === 'tabular' ? undefined : items,
    bytes,
    bytesPerMiniBatch,
    bytesHistogram: sizes.histogram(),
    itemsPerMiniBatch: counts.distribution(),
    ...(rowsPerMiniBatch ? { rowsPerMiniBatch } : {}),
    first,
    warnings,
  };
}

/** Counts a Parquet mini-batch's rows, and notes it when it is one oversized row group or an unreadable file. */
function noteParquet(
  descriptor: Extract<MiniBatchDescriptor, { kind: 'parquet' }>,
  miniBatchSize: number,
  notes: ParquetNotes,
  rows: NumberColumn,
): void {
  if (descriptor.unreadable !== undefined) {
    notes.unreadable.push({ blob: descriptor.blob, reason: descriptor.unreadable });
    return;
  }
  rows.push(descriptor.rows);
  if (descriptor.rowGroups === 1 && descriptor.bytes > miniBatchSize) {
    const { oversized } = notes;
    oversized.count += 1;
    if (!oversized.largest || descriptor.bytes > oversized.largest.bytes) {
      oversized.largest = {
        blob: descriptor.blob,
        rowGroup: descriptor.firstRowGroup,
        bytes: descriptor.bytes,
      };
    }
  }
}
