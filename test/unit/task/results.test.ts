import fc from 'fast-check';
import { capMessage, countResults, serializeRow, serializeRows } from '../../../src/task/results';

describe('countResults', () => {
  it.each([
    // items, returned, named -> succeeded, failed, status
    [3, 3, 0, 3, 0, 'succeeded'],
    [3, 2, 0, 2, 1, 'partial'],
    [3, 6, 0, 3, 0, 'succeeded'],
    [3, 0, 0, 0, 3, 'partial'],
    [4, 2, 2, 2, 2, 'partial'],
    [4, 4, 2, 2, 2, 'partial'],
    [4, 1, 2, 1, 3, 'partial'],
    [0, 0, 0, 0, 0, 'succeeded'],
  ])('items %i, returned %i, named %i', (items, returned, named, succeeded, failed, status) => {
    expect(countResults(items, returned, named)).toEqual({ succeeded, failed, status });
  });

  it('always accounts for every item and never lets a named failure succeed', () => {
    fc.assert(
      fc.property(fc.nat(500), fc.nat(1000), fc.nat(500), (items, returned, namedRaw) => {
        const named = Math.min(namedRaw, items);
        const { succeeded, failed } = countResults(items, returned, named);
        expect(succeeded + failed).toBe(items);
        expect(succeeded).toBeLessThanOrEqual(Math.min(returned, items - named));
        expect(failed).toBeGreaterThanOrEqual(named);
      }),
    );
  });
});

describe('serializeRow', () => {
  it('writes strings as is, scalars through String, objects as JSON, nothing as an empty line', () => {
    expect(['a b', 3, 2n, true, null, undefined, { x: 1 }, [1, 'y']].map(serializeRow)).toEqual([
      'a b',
      '3',
      '2',
      'true',
      '',
      '',
      '{"x":1}',
      '[1,"y"]',
    ]);
  });
});

describe('serializeRows', () => {
  it('names the element that has no row form and the row that passes the cap', () => {
    expect(serializeRows(['a', 1, null])).toBe('a\n1\n\n');
    expect(() => serializeRows(['a', () => 1])).toThrow(
      'result[1] cannot be written as a row: it is a function',
    );
    expect(() => serializeRows([1n, { big: 1n }])).toThrow(/result\[1\] cannot be written as a row/);
    expect(() => serializeRows(['12345', '67890'], 8)).toThrow(
      /pass 8 bytes at result\[1\] \(2 rows returned\)/,
    );
    expect(serializeRows(['1234567'], 8)).toBe('1234567\n');
  });
});

describe('capMessage', () => {
  it('keeps short messages and cuts long ones to the limit', () => {
    expect(capMessage('short')).toBe('short');
    const capped = capMessage('x'.repeat(5000));
    expect(capped).toHaveLength(1000);
    expect(capped.endsWith('…')).toBe(true);
  });
});
