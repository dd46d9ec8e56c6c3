import { storageMemoryBytes, storageStartBudgetMs } from '../../../src/storage/localStorage';

describe('storage start budget', () => {
  it('gives a new folder 30 s and grows with the metadata the storage process loads first', () => {
    expect(storageStartBudgetMs(0)).toBe(30_000);
    // A million blobs: 805 MiB of metadata took 65 s to load on a 2-core machine; keep twice that.
    expect(storageStartBudgetMs(805 * 2 ** 20)).toBeGreaterThanOrEqual(2 * 65_000);
    expect(storageStartBudgetMs(200 * 2 ** 20)).toBeGreaterThan(storageStartBudgetMs(100 * 2 ** 20));
  });
});

describe('the memory the host announces for a large storage folder', () => {
  it('covers the peak measured at a million blobs', () => {
    // bench/storage.js: 785 MiB of metadata, 1,309 MiB at the peak of listing a million blobs.
    expect(storageMemoryBytes(785 * 2 ** 20)).toBeGreaterThanOrEqual(1309 * 2 ** 20);
    expect(storageMemoryBytes(785 * 2 ** 20)).toBeLessThan(1.5 * 2 ** 30);
  });
});
