import fc from 'fast-check';
import {
  scanRecordsInRange,
  tableRecordAt,
  type AlignOptions,
  type BadRecord,
  type TabularFormat,
  type TabularRecord,
} from '../../../src/plan/tabular';

/**
 * Random tables with random bad records, cut into byte ranges at random points: every good record is
 * read exactly once, in order, and every bad record is reported exactly once, with its true file line
 * and byte offset, whatever the cut and the read chunk size.
 *
 * CSV corruption here is ragged rows (too few or too many fields), a misplaced quote followed by more
 * of its field (`ab"c`, `"ab"c`) and oversized records: each is one record, ending at its line end,
 * however the file is cut. Other quote damage is different. An unclosed quote at the start of a field
 * opens a quoted field that runs on to the next quote (or the record cap), swallowing the lines
 * between, as any CSV reader would. A quote ending an unquoted field (`ab",`) or doubled inside one
 * (`a""b`) reads, from a cut a few lines before it, exactly like the end or the escaped quote of a valid
 * multi-line quoted field; the boundary scans of tabularAlign.ts must prefer the valid reading there (or
 * count from the file start at every such cut), so those cuts may align differently from a read of the
 * whole file. Such files are read within the record cap, but not promised exactly once.
 */

const MAX_RECORD = 48;

interface Expected {
  bytes: Buffer;
  records: TabularRecord[];
  bad: Array<Pick<BadRecord, 'line' | 'offset'> & { text?: string; oversized: boolean }>;
}

/** Builds the file and what reading it must give, from its lines (each a record, good or bad). */
function build(
  prefix: string,
  rows: Array<{ text: string; value?: TabularRecord; blank?: boolean }>,
  eol: string,
  trailingNewline: boolean,
  maxRecordBytes: number,
): Expected {
  let text = prefix;
  const records: TabularRecord[] = [];
  const bad: Expected['bad'] = [];
  rows.forEach((row, i) => {
    const last = i === rows.length - 1;
    const ending = last && !trailingNewline ? '' : eol;
    const offset = Buffer.byteLength(text);
    const line = 1 + (text.match(/\n/g)?.length ?? 0);
    const size = Buffer.byteLength(row.text + ending);
    text += row.text + ending;
    if (row.blank) return;
    if (size > maxRecordBytes) bad.push({ line, offset, oversized: true });
    else if (row.value) records.push(row.value);
    else bad.push({ line, offset, text: row.text, oversized: false });
  });
  return { bytes: Buffer.from(text, 'utf8'), records, bad };
}

const fieldText = fc
  .array(fc.constantFrom('a', 'z', '1', ' ', ',', '"', '\n', '\r\n', 'é', '漢', '🙂', '""'), { maxLength: 6 })
  .map((parts) => parts.join(''));

function csvField(value: string, forceQuote: boolean): string {
  return /[",\r\n]/.test(value) || forceQuote ? `"${value.replace(/"/g, '""')}"` : value;
}

const COLUMNS = ['c0', 'c1', 'c2'];

const plainText = fc
  .array(fc.constantFrom('a', 'z', '1', ' ', 'é', '漢'), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join(''));

/** A field whose quoting is wrong but whose record still ends at its line end: `ab"c` or `"ab"c`. */
const misquotedField = fc.oneof(
  fc.tuple(plainText, plainText).map(([a, b]) => `${a}"${b}`),
  fc.tuple(plainText, plainText).map(([a, b]) => `"${a}"${b}`),
);

type CsvRow = Array<[string, boolean]> | { misquoted: string; at: number; others: string[] };

const csvRow: fc.Arbitrary<CsvRow> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.tuple(fieldText, fc.boolean()), { minLength: 3, maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.record({
      misquoted: misquotedField,
      at: fc.integer({ min: 0, max: 2 }),
      others: fc.array(plainText, { minLength: 2, maxLength: 2 }),
    }),
  },
  // Ragged: a field count other than the header's (one field is quoted so the line is never blank).
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(1, 2, 4, 5)
      .chain((count) => fc.array(fc.tuple(fieldText, fc.boolean()), { minLength: count, maxLength: count })),
  },
);

const csvFile = (maxRecordBytes: number) =>
  fc
    .record({
      rows: fc.array(csvRow, { maxLength: 20 }),
      eol: fc.constantFrom('\n', '\r\n'),
      trailingNewline: fc.boolean(),
      bom: fc.boolean(),
    })
    .map(({ rows, eol, trailingNewline, bom }) =>
      build(
        `${bom ? '\ufeff' : ''}${COLUMNS.join(',')}${eol}`,
        rows.map((fields) => {
          if (!Array.isArray(fields)) {
            const cells = [...fields.others];
            cells.splice(fields.at, 0, fields.misquoted);
            return { text: cells.join(',') };
          }
          const text = fields.map(([value, quote], i) => csvField(value, quote || i === 0)).join(',');
          const value =
            fields.length === COLUMNS.length
              ? Object.fromEntries(COLUMNS.map((name, i) => [name, fields[i]![0]]))
              : undefined;
          return { text, ...(value ? { value } : {}) };
        }),
        eol,
        trailingNewline,
        maxRecordBytes,
      ),
    );

const notJson = fc.constantFrom('nope', '{"id":', '{"a":1}}', 'tru', '{bad}', '漢字', "{'a':1}");
const notObject = fc.constantFrom('[1,2]', '42', 'null', '"text"', 'true');

const jsonlRow = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ id: fc.integer(), text: fieldText })
      .map((value) => ({ text: JSON.stringify(value), value })),
  },
  { weight: 1, arbitrary: fc.oneof(notJson, notObject).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.constantFrom('', '  ').map((text) => ({ text, blank: true })) },
);

const jsonlFile = (maxRecordBytes: number) =>
  fc
    .record({
      rows: fc.array(jsonlRow, { maxLength: 20 }),
      eol: fc.constantFrom('\n', '\r\n'),
      trailingNewline: fc.boolean(),
      bom: fc.boolean(),
    })
    .map(({ rows, eol, trailingNewline, bom }) =>
      build(bom ? '\ufeff' : '', rows, eol, trailingNewline, maxRecordBytes),
    );

function rangesFor(size: number, cuts: number[]): Array<[number, number]> {
  const points = [...new Set([0, size, ...cuts.map((cut) => cut % (size + 1))])].sort((a, b) => a - b);
  return points.slice(1).map((end, i) => [points[i]!, end]);
}

async function scanAll(
  bytes: Buffer,
  format: TabularFormat,
  ranges: Array<[number, number]>,
  options: AlignOptions & { keepText?: boolean },
): Promise<{ records: TabularRecord[]; bad: BadRecord[] }> {
  const read = (start: number, end: number): Promise<Buffer> => Promise.resolve(bytes.subarray(start, end));
  const records: TabularRecord[] = [];
  const bad: BadRecord[] = [];
  for (const [start, end] of ranges) {
    const result = await scanRecordsInRange(read, bytes.length, format, start, end, 'mem.data', options);
    if (options.keepText && format === 'csv') {
      // A Python task's table: no objects, the good records' text; each is made back as fail() would.
      expect(result.records).toEqual([]);
      const count = result.text!.pieces.reduce((sum, piece) => sum + piece.records, 0);
      for (let position = 0; position < count; position += 1)
        records.push(tableRecordAt(format, [result.text!], position)!);
    } else {
      records.push(...result.records);
    }
    bad.push(...result.badRecords);
  }
  return { records, bad };
}

const optionModel = {
  chunkBytes: fc.integer({ min: 1, max: 64 }),
  speculationBytes: fc.constantFrom(1, 16, 1 << 20),
  maxRecordBytes: fc.constantFrom(MAX_RECORD, 16 * 1024 * 1024),
};
const options = fc.record(optionModel);

function check(expected: Expected, got: { records: TabularRecord[]; bad: BadRecord[] }): void {
  expect(got.records).toEqual(expected.records);
  expect(got.bad.map(({ line, offset }) => ({ line, offset }))).toEqual(
    expected.bad.map(({ line, offset }) => ({ line, offset })),
  );
  got.bad.forEach((entry, i) => {
    const want = expected.bad[i]!;
    expect(entry.blob).toBe('mem.data');
    if (want.oversized) expect(entry.error).toMatch(/^record larger than 48 bytes/);
    else expect(entry.text).toBe(want.text!.slice(0, 200));
  });
}

describe('bad records in tabular ranges (property)', () => {
  it('CSV: every good record once, every ragged, misquoted or oversized row reported once at its file line', async () => {
    await fc.assert(
      fc.asyncProperty(
        options.chain((opts) =>
          fc.tuple(fc.constant(opts), csvFile(opts.maxRecordBytes), fc.array(fc.nat(), { maxLength: 30 })),
        ),
        async ([opts, file, cuts]) => {
          check(file, await scanAll(file.bytes, 'csv', rangesFor(file.bytes.length, cuts), opts));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('CSV kept as text for a Python task: the same good records (their bytes, taken in runs) and the same bad records', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Chunks large enough to hold many records too, where plain records are taken in runs.
        fc
          .record({ ...optionModel, chunkBytes: fc.integer({ min: 1, max: 4096 }) })
          .chain((opts) =>
            fc.tuple(fc.constant(opts), csvFile(opts.maxRecordBytes), fc.array(fc.nat(), { maxLength: 30 })),
          ),
        async ([opts, file, cuts]) => {
          const ranges = rangesFor(file.bytes.length, cuts);
          check(file, await scanAll(file.bytes, 'csv', ranges, { ...opts, keepText: true }));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('JSON Lines: every good record once, every invalid, non-object or oversized line reported once at its file line', async () => {
    await fc.assert(
      fc.asyncProperty(
        options.chain((opts) =>
          fc.tuple(fc.constant(opts), jsonlFile(opts.maxRecordBytes), fc.array(fc.nat(), { maxLength: 30 })),
        ),
        async ([opts, file, cuts]) => {
          check(file, await scanAll(file.bytes, 'jsonl', rangesFor(file.bytes.length, cuts), opts));
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('a Python task table kept as text', () => {
  it('takes plain records in runs of bytes, and leaves the others to the parser', async () => {
    const text = 'c0,c1,c2\na,"b, c",d\ne,"f ""g""",h\nbad,row\n\n"multi\nline",x,y\ni,j,k\n';
    const bytes = Buffer.from(text);
    const read = (start: number, end: number): Promise<Buffer> => Promise.resolve(bytes.subarray(start, end));
    const result = await scanRecordsInRange(read, bytes.length, 'csv', 0, bytes.length, 'mem.csv', {
      keepText: true,
    });
    expect(result.text!.pieces.map((piece) => [piece.bytes.toString(), piece.records])).toEqual([
      ['a,"b, c",d\ne,"f ""g""",h\n', 2],
      ['"multi\nline",x,y\ni,j,k\n', 2],
    ]);
    expect(result.badRecords.map((bad) => [bad.line, bad.error])).toEqual([
      [4, '2 fields where the header has 3'],
    ]);
    expect(tableRecordAt('csv', [result.text!], 1)).toEqual({ c0: 'e', c1: 'f "g"', c2: 'h' });
    expect(tableRecordAt('csv', [result.text!], 3)).toEqual({ c0: 'i', c1: 'j', c2: 'k' });
  });
});
