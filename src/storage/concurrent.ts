/** Runs `work` on every item, at most `concurrency` at a time (storage requests in flight); the first failure is thrown. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, lane));
}

/**
 * `work` applied to each item of `items` (taken as it comes, e.g. a listing), up to `concurrency` at a
 * time, and the results yielded in the items' order: later items' work runs while an earlier one is slow,
 * and at most `concurrency` results are held. The first failure is thrown in its place.
 */
export async function* mapInOrder<T, R>(
  items: AsyncIterable<T>,
  concurrency: number,
  work: (item: T) => Promise<R>,
): AsyncIterable<R> {
  const pending: Promise<R>[] = [];
  try {
    for await (const item of items) {
      const result = work(item);
      // Awaited below in order; this keeps an early failure from being reported as unhandled meanwhile.
      result.catch(() => undefined);
      pending.push(result);
      if (pending.length >= Math.max(1, concurrency)) yield await pending.shift()!;
    }
    while (pending.length > 0) yield await pending.shift()!;
  } finally {
    // Abandoned (a failure or a consumer that stopped): the work in flight ends on its own.
    await Promise.allSettled(pending);
  }
}
