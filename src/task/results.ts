/** Result accounting: how a run() result turns into receipt counts. Pure, so it is unit-tested alone. */
export interface ResultCounts {
  succeeded: number;
  failed: number;
  status: 'succeeded' | 'partial';
}

/**
 * `succeeded = min(resultLength, items - named)`, `failed = items - succeeded` (see RunResult in the
 * contract). `named` is the number of distinct items passed to ctx.fail.
 */
export function countResults(items: number, resultLength: number, named: number): ResultCounts {
  const eligible = Math.max(0, items - Math.min(named, items));
  const succeeded = Math.min(resultLength, eligible);
  const failed = items - succeeded;
  return { succeeded, failed, status: failed === 0 ? 'succeeded' : 'partial' };
}

/** Cuts a message to the receipt's limit of 1,000 characters. */
export function capMessage(message: string, limit = 1000): string {
  return message.length > limit ? `${message.slice(0, limit - 1)}…` : message;
}

/**
 * The most append_row text one mini-batch may return. Its rows travel from the worker thread as one string
 * and are staged as one block of the output blob; larger results belong in files of an output folder.
 */
export const MAX_ROWS_BYTES_PER_MINI_BATCH = 64 * 1024 * 1024;

/** A returned element that cannot be written as a row, or rows past the cap: the message names the row. */
export class RowError extends Error {}

/** One append_row line for a returned element (see RunResult in the contract), without its newline. */
export function serializeRow(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) return '';
  // A function or a symbol would otherwise become an empty row without a word.
  if (typeof value === 'function' || typeof value === 'symbol')
    throw new RowError(`it is a ${typeof value}, which has no row form`);
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new RowError('JSON has no form for it');
  return json;
}

/**
 * The append_row text of a result: one line per element, checked one by one, so that an element that
 * cannot be written or the row that passes the cap is named by its position.
 */
export function serializeRows(values: readonly unknown[], maxBytes = MAX_ROWS_BYTES_PER_MINI_BATCH): string {
  const lines: string[] = [];
  let bytes = 0;
  for (let index = 0; index < values.length; index += 1) {
    let line: string;
    try {
      line = `${serializeRow(values[index])}\n`;
    } catch (error) {
      throw new RowError(`result[${index}] cannot be written as a row: ${(error as Error).message}`);
    }
    bytes += Buffer.byteLength(line, 'utf8');
    if (bytes > maxBytes) {
      throw new RowError(
        `the rows pass ${maxBytes.toLocaleString('en-US')} bytes at result[${index}] (${values.length.toLocaleString('en-US')} rows returned): write large results as files in an output folder, or use smaller mini-batches`,
      );
    }
    lines.push(line);
  }
  return lines.join('');
}
