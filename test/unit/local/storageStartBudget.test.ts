import { storageStartBudgetMs } from '../../../src/local/storage';

describe('storage start budget', () => {
  it('gives a new folder 30 s and grows with the metadata the storage process loads first', () => {
    expect(storageStartBudgetMs(0)).toBe(30_000);
    // A million blobs: 805 MiB of metadata took 65 s to load on a 2-core machine; keep twice that.
    expect(storageStartBudgetMs(805 * 2 ** 20)).toBeGreaterThanOrEqual(2 * 65_000);
    expect(storageStartBudgetMs(200 * 2 ** 20)).toBeGreaterThan(storageStartBudgetMs(100 * 2 ** 20));
  });
});
