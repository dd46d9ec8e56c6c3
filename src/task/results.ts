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

/** One append_row line for a returned element (see RunResult in the contract), without its newline. */
export function serializeRow(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) return '';
  return JSON.stringify(value) ?? '';
}
