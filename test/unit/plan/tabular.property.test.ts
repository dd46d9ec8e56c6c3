import fc from 'fast-check';
import { readRecordsInRange, type AlignOptions, type TabularFormat } from '../../../src/plan/tabular';

/** Field text with everything that makes CSV hard: quotes, commas, CR/LF, multi-byte UTF-8. */
const fieldText = fc
  .array(fc.constantFrom('a', 'b', 'z', '1', ' ', ',', '"', '\n', '\r\n', 'é', '漢', '🙂', 'ß', '""'), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''));

function csvField(value: string, forceQuote: boolean): string {
  const needsQuotes = /[",\r\n]/.test(value) || forceQuote;
  return needsQuotes ? `"${value.replace(/"/g, '""')}"` : value;
}

const csvFile = fc
  .record({
    columns: fc.integer({ min: 2, max: 4 }),
    rows: fc.array(fc.array(fc.tuple(fieldText, fc.boolean()), { minLength: 4, maxLength: 4 }), {
      maxLength: 25,
    }),
    eol: fc.constantFrom('\n', '\r\n'),
    trailingNewline: fc.boolean(),
    quotedHeader: fc.boolean(),
  })
  .map(({ columns, rows, eol, trailingNewline, quotedHeader }) => {
    const names = Array.from({ length: columns }, (_, i) =>
      quotedHeader && i === 0 ? 'first\ncol' : `c${i}`,
    );
    const records = rows.map((row) => Object.fromEntries(names.map((name, i) => [name, row[i]![0]])));
    const lines = [
      names.map((name) => csvField(name, false)).join(','),
      ...rows.map((row) =>
        row
          .slice(0, columns)
          .map(([value, quote]) => csvField(value, quote))
          .join(','),
      ),
    ];
    const text = lines.join(eol) + (trailingNewline ? eol : '');
    return { bytes: Buffer.from(text, 'utf8'), records };
  });

const jsonlFile = fc
  .record({
    rows: fc.array(
      fc.record({ id: fc.integer(), text: fieldText, tags: fc.array(fieldText, { maxLength: 2 }) }),
      {
        maxLength: 25,
      },
    ),
    eol: fc.constantFrom('\n', '\r\n'),
    trailingNewline: fc.boolean(),
  })
  .map(({ rows, eol, trailingNewline }) => {
    const text =
      rows.map((row) => JSON.stringify(row)).join(eol) + (trailingNewline && rows.length ? eol : '');
    return { bytes: Buffer.from(text, 'utf8'), records: rows };
  });

/** Random cut points: the planner's ranges always start at 0 and end at the file size. */
function rangesFor(size: number, cuts: number[]): Array<[number, number]> {
  const points = [...new Set([0, size, ...cuts.map((cut) => cut % (size + 1))])].sort((a, b) => a - b);
  return points.slice(1).map((end, i) => [points[i]!, end]);
}

async function readAll(
  bytes: Buffer,
  format: TabularFormat,
  ranges: Array<[number, number]>,
  options: AlignOptions,
): Promise<unknown[]> {
  const read = (start: number, end: number): Promise<Buffer> => Promise.resolve(bytes.subarray(start, end));
  const out: unknown[] = [];
  for (const [start, end] of ranges) {
    out.push(...(await readRecordsInRange(read, bytes.length, format, start, end, 'mem.data', options)));
  }
  return out;
}

const alignOptions = fc.record({
  chunkBytes: fc.integer({ min: 1, max: 64 }),
  // Small windows force the exact count-from-start fallback; large ones exercise speculation alone.
  speculationBytes: fc.constantFrom(1, 16, 1 << 20),
  maxQuotedFieldBytes: fc.constantFrom(128 * 1024, Number.POSITIVE_INFINITY),
});

describe('tabular range reading (property)', () => {
  it('reads every CSV record exactly once, in order, for any cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvFile,
        fc.array(fc.nat(), { maxLength: 30 }),
        alignOptions,
        async (file, cuts, options) => {
          const records = await readAll(file.bytes, 'csv', rangesFor(file.bytes.length, cuts), options);
          expect(records).toEqual(file.records);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads every JSON Lines record exactly once, in order, for any cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        jsonlFile,
        fc.array(fc.nat(), { maxLength: 30 }),
        alignOptions,
        async (file, cuts, options) => {
          const records = await readAll(file.bytes, 'jsonl', rangesFor(file.bytes.length, cuts), options);
          expect(records).toEqual(file.records);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('cuts at every single byte of a tricky CSV file', async () => {
    const text = 'id,"note\nwith newline"\r\n1,"a,""b""\r\nc"\r\n2,漢字🙂\r\n3,""\r\n4,"x\n""\n,y"';
    const bytes = Buffer.from(text, 'utf8');
    const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
    const records = await readAll(bytes, 'csv', rangesFor(bytes.length, everyByte), { chunkBytes: 3 });
    expect(records).toEqual([
      { id: '1', 'note\nwith newline': 'a,"b"\r\nc' },
      { id: '2', 'note\nwith newline': '漢字🙂' },
      { id: '3', 'note\nwith newline': '' },
      { id: '4', 'note\nwith newline': 'x\n"\n,y' },
    ]);
  });
});
