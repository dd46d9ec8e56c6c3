import { loadSettings } from '../../../src/config';
import { ConfigError, TabularParseError } from '../../../src/errors';
import { readRecordsInRange, scanRecordsInRange, type TabularFormat } from '../../../src/plan/tabular';

const MiB = 1024 * 1024;

/** An in-memory reader that counts the bytes it hands out. */
function counting(bytes: Buffer) {
  const reader = {
    bytesRead: 0,
    read: (start: number, end: number): Promise<Buffer> => {
      const slice = bytes.subarray(start, end);
      reader.bytesRead += slice.length;
      return Promise.resolve(slice);
    },
  };
  return reader;
}

function scan(
  text: string | Buffer,
  format: TabularFormat,
  start = 0,
  end?: number,
  maxRecordBytes?: number,
) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const reader = counting(bytes);
  return scanRecordsInRange(reader.read, bytes.length, format, start, end ?? bytes.length, 'data/x', {
    ...(maxRecordBytes ? { maxRecordBytes } : {}),
  });
}

describe('bad table records', () => {
  it('reports ragged CSV rows and misplaced quotes with their file lines, and keeps the good rows', async () => {
    const text = [
      'id,name',
      '1,ann',
      '2,bob,extra',
      '3,"multi',
      'line"',
      '4',
      '5,ab"c"d',
      '6,"closed"x',
      '',
      '7,eve',
    ].join('\r\n');
    const result = await scan(text, 'csv');
    expect(result.records).toEqual([
      { id: '1', name: 'ann' },
      { id: '3', name: 'multi\r\nline' },
      { id: '7', name: 'eve' },
    ]);
    const offsetOf = (needle: string) => Buffer.from(text.slice(0, text.indexOf(needle))).length;
    expect(result.badRecords).toEqual([
      {
        blob: 'data/x',
        line: 3,
        offset: offsetOf('2,bob'),
        text: '2,bob,extra',
        error: '3 fields where the header has 2',
      },
      {
        blob: 'data/x',
        line: 6,
        offset: offsetOf('4\r\n'),
        text: '4',
        error: '1 field where the header has 2',
      },
      {
        blob: 'data/x',
        line: 7,
        offset: offsetOf('5,ab'),
        text: '5,ab"c"d',
        error: expect.stringMatching(/^field 2 has a quote but does not start with one/),
      },
      {
        blob: 'data/x',
        line: 8,
        offset: offsetOf('6,"closed'),
        text: '6,"closed"x',
        error: expect.stringMatching(/^field 2 has "x" after its closing quote/),
      },
    ]);
  });

  it('reports JSON lines that are not JSON or not objects, counting lines from the file start', async () => {
    const lines = ['{"id":1}', '', 'not json', '[1,2]', '{"id":2}', '{"id":', 'null', '{"id":3}'];
    const text = `${lines.join('\n')}\n`;
    // A range that starts mid-file: its line numbers still count from the file start.
    const start = text.indexOf('[1,2]') - 3;
    const result = await scan(text, 'jsonl', start);
    expect(result.records).toEqual([{ id: 2 }, { id: 3 }]);
    expect(result.badRecords.map(({ line, offset, text: t, error }) => ({ line, offset, t, error }))).toEqual(
      [
        { line: 4, offset: text.indexOf('[1,2]'), t: '[1,2]', error: 'not a JSON object (it is an array)' },
        {
          line: 6,
          offset: text.indexOf('{"id":\n'),
          t: '{"id":',
          error: expect.stringMatching(/^not valid JSON \(/),
        },
        { line: 7, offset: text.indexOf('null'), t: 'null', error: 'not a JSON object (it is null)' },
      ],
    );
  });

  it('drops a UTF-8 byte order mark from the CSV header and the first JSON line', async () => {
    expect((await scan('\ufeffid,v\n1,2\n', 'csv')).records).toEqual([{ id: '1', v: '2' }]);
    expect((await scan('\ufeff"id",v\n1,2\n', 'csv')).records).toEqual([{ id: '1', v: '2' }]);
    expect(await scan('\ufeff{"a":1}\n{"a":2}', 'jsonl')).toEqual({
      records: [{ a: 1 }, { a: 2 }],
      badRecords: [],
    });
    // A bad first line after a BOM starts after it.
    expect((await scan('\ufeffoops\n', 'jsonl')).badRecords).toMatchObject([
      { line: 1, offset: 3, text: 'oops' },
    ]);
  });

  it('throws the first bad record, with its file line, from the strict reader', async () => {
    const bytes = Buffer.from('{"a":1}\n{"a":2}\n{broken\n');
    const read = (s: number, e: number) => Promise.resolve(bytes.subarray(s, e));
    const failure = readRecordsInRange(read, bytes.length, 'jsonl', 10, bytes.length, 'b.jsonl');
    await expect(failure).rejects.toBeInstanceOf(TabularParseError);
    await expect(failure).rejects.toThrow(/'b.jsonl': line 3 \(byte 16\): not valid JSON/);
  });

  it('does not read a 50 MB line whole: it is one bad record, and every range reads a bounded amount', async () => {
    const huge = Buffer.alloc(50 * MiB, 'x');
    const bytes = Buffer.concat([
      Buffer.from('{"id":1}\n'),
      Buffer.from('{"blob":"'),
      huge,
      Buffer.from('"}\n{"id":2}\n'),
    ]);
    const rangeBytes = MiB;
    const records: unknown[] = [];
    const bad: Array<{ line: number; offset: number; error: string }> = [];
    let largestRead = 0;
    for (let start = 0; start < bytes.length; start += rangeBytes) {
      const end = Math.min(bytes.length, start + rangeBytes);
      const reader = counting(bytes);
      const result = await scanRecordsInRange(reader.read, bytes.length, 'jsonl', start, end, 'big.jsonl');
      records.push(...result.records);
      bad.push(...result.badRecords.map(({ line, offset, error }) => ({ line, offset, error })));
      largestRead = Math.max(largestRead, reader.bytesRead);
      // The range's own bytes (twice: finding its first record, then reading), the record cap, a chunk.
      expect(reader.bytesRead).toBeLessThanOrEqual(2 * (end - start) + 16 * MiB + 256 * 1024 + 16);
    }
    expect(records).toEqual([{ id: 1 }, { id: 2 }]);
    expect(bad).toEqual([
      { line: 2, offset: 9, error: expect.stringMatching(/^record larger than 16,777,216 bytes/) },
    ]);
    expect(largestRead).toBeLessThan(20 * MiB);
  });

  it('keeps a stray CSV quote to its own record, whatever the cut', async () => {
    const rows = ['id,note', '1,ok', '2,it"s broken', '3,"quoted"then more', '4,"fine, quoted"'];
    for (let i = 5; i < 400; i += 1) rows.push(`${i},row ${i}`);
    const bytes = Buffer.from(`${rows.join('\n')}\n`);
    const read = (s: number, e: number) => Promise.resolve(bytes.subarray(s, e));
    const expected = Array.from({ length: 399 }, (_, i) => i + 1)
      .filter((i) => i !== 2 && i !== 3)
      .map((i) => ({ id: String(i), note: i === 1 ? 'ok' : i === 4 ? 'fine, quoted' : `row ${i}` }));
    for (const size of [7, 64, 2048, bytes.length]) {
      const records: unknown[] = [];
      const bad: Array<{ line: number; text: string }> = [];
      for (let start = 0; start < bytes.length; start += size) {
        const end = Math.min(bytes.length, start + size);
        const result = await scanRecordsInRange(read, bytes.length, 'csv', start, end, 'stray.csv', {
          chunkBytes: 16,
        });
        records.push(...result.records);
        bad.push(...result.badRecords.map(({ line, text }) => ({ line, text })));
      }
      expect(records).toEqual(expected);
      expect(bad).toEqual([
        { line: 3, text: '2,it"s broken' },
        { line: 4, text: '3,"quoted"then more' },
      ]);
    }
  });

  it('bounds what an unclosed CSV quote makes a small range read by the record cap', async () => {
    const rows = ['id,note', '1,ok', '2,"never closed'];
    for (let i = 3; i < 40_000; i += 1) rows.push(`${i},fine row number ${i}`);
    const bytes = Buffer.from(`${rows.join('\n')}\n`);
    expect(bytes.length).toBeGreaterThan(MiB);
    const reader = counting(bytes);
    const cap = 64 * 1024;
    const result = await scanRecordsInRange(reader.read, bytes.length, 'csv', 0, 2048, 'open.csv', {
      maxRecordBytes: cap,
    });
    expect(reader.bytesRead).toBeLessThanOrEqual(3 * 2048 + cap + 256 * 1024);
    expect(result.records).toEqual([{ id: '1', note: 'ok' }]);
    // An opening quote that never closes makes the rest of the file one quoted field: one record past the cap.
    expect(result.badRecords).toMatchObject([
      { line: 3, offset: 13, error: expect.stringMatching(/^record larger than 65,536 bytes/) },
    ]);
  });

  it('fails a CSV file whose header line is longer than the cap', async () => {
    const text = `"id${'x'.repeat(5000)}\n1\n`;
    await expect(scan(text, 'csv', 0, undefined, 1024)).rejects.toThrow(
      /header line is longer than 1,024 bytes/,
    );
  });

  it('reads the cap from PARALLEL_JOB_MAX_RECORD_BYTES, 16 MiB when unset', () => {
    const maxRecordBytes = (value?: string) =>
      loadSettings({
        AzureWebJobsStorage: 'UseDevelopmentStorage=true',
        ...(value === undefined ? {} : { PARALLEL_JOB_MAX_RECORD_BYTES: value }),
      }).PARALLEL_JOB_MAX_RECORD_BYTES;
    expect(maxRecordBytes()).toBe(16 * MiB);
    expect(maxRecordBytes('65536')).toBe(65536);
    expect(() => maxRecordBytes('10')).toThrow(ConfigError);
    expect(() => maxRecordBytes('lots')).toThrow(
      /PARALLEL_JOB_MAX_RECORD_BYTES: must be a whole number of bytes/,
    );
  });
});
