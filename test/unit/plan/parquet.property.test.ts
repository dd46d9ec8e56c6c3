import fc from 'fast-check';
import { readParquetFooter, rowGroupRuns, rowGroupSpans } from '../../../src/plan/parquet';
import { readParquetRowGroups } from '../../../src/plan/parquetRows';
import { memoryReader, writeWithHyparquet } from '../../support/parquet';

/**
 * Random tables written with random row-group sizes and codecs, cut at a random mini_batch_size from the
 * footer alone, and every run read as the task runtime reads it: each row comes out exactly once, in
 * file order, and no run but a lone row group is larger than mini_batch_size.
 */

const table = fc.record({
  ids: fc.array(fc.integer({ min: -1_000_000, max: 1_000_000 }), { maxLength: 120 }),
  names: fc.array(fc.option(fc.string({ maxLength: 12 }), { nil: null }), { minLength: 120, maxLength: 120 }),
  rowGroupSize: fc.integer({ min: 1, max: 40 }),
  codec: fc.constantFrom('UNCOMPRESSED' as const, 'SNAPPY' as const, 'GZIP' as const),
  miniBatchSize: fc.integer({ min: 1, max: 4000 }),
});

describe('Parquet mini-batches (property)', () => {
  it('process every row exactly once, in file order, whatever the row groups and the mini_batch_size', async () => {
    await fc.assert(
      fc.asyncProperty(table, async ({ ids, names, rowGroupSize, codec, miniBatchSize }) => {
        const rows = ids.map((id, i) => ({ id, name: names[i]! }));
        const bytes = writeWithHyparquet(
          [
            { name: 'id', data: Int32Array.from(ids), type: 'INT32' },
            { name: 'name', data: rows.map((row) => row.name), type: 'STRING' },
          ],
          { codec, rowGroupSize },
        );
        const read = memoryReader(bytes);
        const footer = await readParquetFooter(read, bytes.length, 'p.parquet');
        const spans = rowGroupSpans(footer.metadata, bytes.length - footer.bytes.length, 'p.parquet');
        const runs = rowGroupRuns(spans, miniBatchSize);
        const seen: unknown[] = [];
        let nextGroup = 0;
        for (const run of runs) {
          // Runs follow each other over the file's row groups (empty ones only are skipped).
          for (; nextGroup < run.first; nextGroup += 1) expect(spans[nextGroup]!.rows).toBe(0);
          nextGroup = run.first + run.count;
          expect(run.count === 1 || run.bytes <= miniBatchSize).toBe(true);
          const part = await readParquetRowGroups(read, bytes.length, 'p.parquet', {
            first: run.first,
            count: run.count,
          });
          expect(part.badRowGroups).toEqual([]);
          expect(part.records).toHaveLength(run.rows);
          expect(part.records[0]).toEqual(rows[run.firstRow]);
          seen.push(...part.records);
        }
        expect(seen).toEqual(rows);
      }),
      { numRuns: 60 },
    );
  });
});
