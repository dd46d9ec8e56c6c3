import { ParquetFileError } from '../../../src/errors';
import { readParquetFooter, rowGroupRuns, rowGroupSpans } from '../../../src/plan/parquet';
import { decimalText, readParquetRowGroups } from '../../../src/plan/parquetRows';
import {
  CODECS,
  arrow,
  corruptRowGroup,
  decimalWords,
  memoryReader,
  writeWithArrow,
  writeWithHyparquet,
} from '../../support/parquet';

/** Parquet footers, row-group runs and typed records, on files written by hyparquet-writer and arrow-rs. */

const day = (iso: string) => new Date(`${iso}T00:00:00.000Z`);

/** Five rows with every kind of value the records table in docs/parquet.md maps. */
function typedTable(): arrow.Table {
  const int32 = () => new arrow.Field('item', new arrow.Int32(), true);
  return new arrow.Table({
    id: arrow.vectorFromArray([1, 2, 3, 4, 5], new arrow.Int32()),
    big: arrow.vectorFromArray([1n, 9007199254740993n, null, -9007199254740993n, 0n], new arrow.Int64()),
    small: arrow.vectorFromArray([1, 255, null, 0, 7], new arrow.Uint8()),
    price: arrow.vectorFromArray(
      [decimalWords(12345n), decimalWords(-5n), null, decimalWords(0n), decimalWords(100n)],
      new arrow.Decimal(2, 9, 128),
    ),
    exact: arrow.vectorFromArray(
      [
        decimalWords(123456789012345678901234n),
        null,
        decimalWords(-1n),
        decimalWords(10000n),
        decimalWords(5n),
      ],
      new arrow.Decimal(4, 38, 128),
    ),
    at: arrow.vectorFromArray(
      [Date.UTC(2026, 0, 1, 12, 30), null, 0, Date.UTC(2026, 5, 30), Date.UTC(1999, 11, 31, 23, 59, 59)],
      new arrow.TimestampMillisecond('UTC'),
    ),
    local: arrow.vectorFromArray([Date.UTC(2026, 0, 1), 1, null, 2, 3], new arrow.TimestampMicrosecond()),
    day: arrow.vectorFromArray(
      [day('2026-01-02'), null, day('1970-01-01'), day('2026-12-31'), day('2000-02-29')],
      new arrow.DateDay(),
    ),
    name: arrow.vectorFromArray(['ann', null, 'ü', '', 'zed'], new arrow.Utf8()),
    blob: arrow.vectorFromArray(
      [new Uint8Array([1, 2]), null, new Uint8Array([]), new Uint8Array([255]), new Uint8Array([0, 0, 0])],
      new arrow.Binary(),
    ),
    tags: arrow.vectorFromArray([[1, 2], null, [], [null, 3], [4]], new arrow.List(int32())),
    place: arrow.vectorFromArray(
      [
        { city: 'Oslo', zip: 150 },
        null,
        { city: null, zip: 7 },
        { city: 'Rome', zip: null },
        { city: '', zip: 0 },
      ],
      new arrow.Struct([
        new arrow.Field('city', new arrow.Utf8(), true),
        new arrow.Field('zip', new arrow.Int32(), true),
      ]),
    ),
    attrs: arrow.vectorFromArray(
      [
        new Map([
          ['a', 1n],
          ['b', null],
        ]),
        null,
        new Map(),
        new Map([['big', 2n ** 60n]]),
        new Map([['z', 0n]]),
      ],
      new arrow.Map_<arrow.Utf8, arrow.Int64>(
        new arrow.Field(
          'entries',
          new arrow.Struct<{ key: arrow.Utf8; value: arrow.Int64 }>([
            new arrow.Field('key', new arrow.Utf8(), false),
            new arrow.Field('value', new arrow.Int64(), true),
          ]),
          false,
        ),
      ),
    ),
    ok: arrow.vectorFromArray([true, false, null, true, false], new arrow.Bool()),
    score: arrow.vectorFromArray([1.5, Number.NaN, null, -0.25, 1e300], new arrow.Float64()),
  });
}

const typedRecords = [
  {
    id: 1,
    big: 1,
    small: 1,
    price: 123.45,
    exact: '12345678901234567890.1234',
    at: new Date('2026-01-01T12:30:00.000Z'),
    local: new Date('2026-01-01T00:00:00.000Z'),
    day: day('2026-01-02'),
    name: 'ann',
    blob: new Uint8Array([1, 2]),
    tags: [1, 2],
    place: { city: 'Oslo', zip: 150 },
    attrs: { a: 1, b: null },
    ok: true,
    score: 1.5,
  },
  {
    id: 2,
    big: 9007199254740993n,
    small: 255,
    price: -0.05,
    exact: null,
    at: null,
    local: new Date(1),
    day: null,
    name: null,
    blob: null,
    tags: null,
    place: null,
    attrs: null,
    ok: false,
    score: Number.NaN,
  },
  {
    id: 3,
    big: null,
    small: null,
    price: null,
    exact: '-0.0001',
    at: new Date(0),
    local: null,
    day: day('1970-01-01'),
    name: 'ü',
    blob: new Uint8Array([]),
    tags: [],
    place: { city: null, zip: 7 },
    attrs: {},
    ok: null,
    score: null,
  },
  {
    id: 4,
    big: -9007199254740993n,
    small: 0,
    price: 0,
    exact: '1.0000',
    at: new Date('2026-06-30T00:00:00.000Z'),
    local: new Date(2),
    day: day('2026-12-31'),
    name: '',
    blob: new Uint8Array([255]),
    tags: [null, 3],
    place: { city: 'Rome', zip: null },
    attrs: { big: 2n ** 60n },
    ok: true,
    score: -0.25,
  },
  {
    id: 5,
    big: 0,
    small: 7,
    price: 1,
    exact: '0.0005',
    at: new Date('1999-12-31T23:59:59.000Z'),
    local: new Date(3),
    day: day('2000-02-29'),
    name: 'zed',
    blob: new Uint8Array([0, 0, 0]),
    tags: [4],
    place: { city: '', zip: 0 },
    attrs: { z: 0 },
    ok: false,
    score: 1e300,
  },
];

async function readAll(bytes: Buffer, blob = 't.parquet') {
  return readParquetRowGroups(memoryReader(bytes), bytes.length, blob);
}

describe('typed records from arrow-rs files', () => {
  it.each(CODECS.flatMap((codec) => [1, 2, 5].map((rowGroupSize) => [codec, rowGroupSize] as const)))(
    '%s, %i rows per row group: every value mapped as documented, nulls, nested and all',
    async (codec, rowGroupSize) => {
      const bytes = writeWithArrow(typedTable(), { codec, rowGroupSize });
      const read = await readAll(bytes);
      expect(read.badRowGroups).toEqual([]);
      expect(read.goodRowGroups).toEqual(Array.from({ length: Math.ceil(5 / rowGroupSize) }, (_, i) => i));
      expect(read.records).toEqual(typedRecords);
      // toEqual does not tell a bigint from a number: the types themselves.
      expect(read.records.map((record) => typeof record.big)).toEqual([
        'number',
        'bigint',
        'object',
        'bigint',
        'number',
      ]);
      expect(read.footer.metadata.row_groups[0]!.columns[0]!.meta_data!.codec).toBe(codec);
    },
  );

  it('names each column with how its values reach Python and whether they hold bytes', async () => {
    const read = await readAll(writeWithArrow(typedTable(), { codec: 'SNAPPY', rowGroupSize: 5 }));
    expect(read.columns).toEqual([
      { name: 'id', python: 'other', binary: false },
      { name: 'big', python: 'int', binary: false },
      { name: 'small', python: 'other', binary: false },
      { name: 'price', python: 'decimal', binary: false },
      { name: 'exact', python: 'decimal', binary: false },
      { name: 'at', python: 'timestamp_utc', binary: false },
      { name: 'local', python: 'timestamp', binary: false },
      { name: 'day', python: 'date', binary: false },
      { name: 'name', python: 'other', binary: false },
      { name: 'blob', python: 'binary', binary: true },
      { name: 'tags', python: 'other', binary: false },
      { name: 'place', python: 'other', binary: false },
      { name: 'attrs', python: 'other', binary: false },
      { name: 'ok', python: 'other', binary: false },
      { name: 'score', python: 'other', binary: false },
    ]);
  });
});

describe('flat tables from hyparquet-writer', () => {
  const rows = 23;
  const columns = () => [
    { name: 'id', data: Int32Array.from({ length: rows }, (_, i) => i), type: 'INT32' as const },
    {
      name: 'name',
      data: Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? null : `row ${i}`)),
      type: 'STRING' as const,
    },
    { name: 'amount', data: Float64Array.from({ length: rows }, (_, i) => i / 4), type: 'DOUBLE' as const },
    {
      name: 'count',
      data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 1000n),
      type: 'INT64' as const,
    },
    {
      name: 'at',
      data: Array.from({ length: rows }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i))),
      type: 'TIMESTAMP' as const,
    },
  ];
  const expected = Array.from({ length: rows }, (_, i) => ({
    id: i,
    name: i % 5 === 0 ? null : `row ${i}`,
    amount: i / 4,
    count: i * 1000,
    at: new Date(Date.UTC(2026, 0, 1 + i)),
  }));

  it.each(
    (['UNCOMPRESSED', 'SNAPPY', 'GZIP'] as const).flatMap((codec) =>
      [1, 4, 10, 100].map((rowGroupSize) => [codec, rowGroupSize] as const),
    ),
  )('%s, %i rows per row group: the same records, in file order', async (codec, rowGroupSize) => {
    const bytes = writeWithHyparquet(columns(), { codec, rowGroupSize });
    const read = await readAll(bytes);
    expect(read.badRowGroups).toEqual([]);
    expect(read.records).toEqual(expected);
    const spans = rowGroupSpans(read.footer.metadata, bytes.length - read.footer.bytes.length, 't.parquet');
    expect(spans.map((span) => span.rows)).toEqual(
      Array.from({ length: Math.ceil(rows / rowGroupSize) }, (_, i) =>
        Math.min(rowGroupSize, rows - i * rowGroupSize),
      ),
    );
  });

  it('reads only the row groups asked for, with their file rows', async () => {
    const bytes = writeWithHyparquet(columns(), { codec: 'SNAPPY', rowGroupSize: 4 });
    const read = await readParquetRowGroups(memoryReader(bytes), bytes.length, 't.parquet', {
      first: 2,
      count: 2,
    });
    expect(read.goodRowGroups).toEqual([2, 3]);
    expect(read.records).toEqual(expected.slice(8, 16));
  });
});

describe('footers and row-group runs', () => {
  it('gathers whole row groups up to the byte size; a larger row group is a run of its own', () => {
    const spans = [10, 10, 10, 50, 5, 5, 0].map((bytes, i) => ({
      rows: i === 6 ? 0 : 100,
      start: 4 + i * 60,
      end: 4 + i * 60 + bytes,
    }));
    expect(rowGroupRuns(spans, 25)).toEqual([
      { first: 0, count: 2, rows: 200, bytes: 20, firstRow: 0 },
      { first: 2, count: 1, rows: 100, bytes: 10, firstRow: 200 },
      { first: 3, count: 1, rows: 100, bytes: 50, firstRow: 300 },
      { first: 4, count: 3, rows: 200, bytes: 10, firstRow: 400 },
    ]);
  });

  it('reads a footer with two range reads from the end, its length and then itself, and not a data byte', async () => {
    const wide = Array.from({ length: 400 }, (_, i) => ({
      name: `column_with_a_long_name_${i}`,
      data: [i, i + 1],
      type: 'INT32' as const,
    }));
    const bytes = writeWithHyparquet(wide, { codec: 'SNAPPY', rowGroupSize: 1 });
    const reads: Array<[number, number]> = [];
    const footer = await readParquetFooter(
      (start, end) => {
        reads.push([start, end]);
        return Promise.resolve(bytes.subarray(start, end));
      },
      bytes.length,
      'wide.parquet',
    );
    expect(footer.metadata.row_groups).toHaveLength(2);
    const footerStart = bytes.length - footer.bytes.length;
    expect(footer.bytes.equals(bytes.subarray(footerStart))).toBe(true);
    expect(reads).toEqual([
      [bytes.length - 8, bytes.length],
      [footerStart, bytes.length - 8],
    ]);
    const spans = rowGroupSpans(footer.metadata, footerStart, 'wide.parquet');
    expect(Math.max(...spans.map((span) => span.end))).toBeLessThanOrEqual(footerStart);
  });

  it('refuses a truncated file, a file that is not Parquet and one too short, naming the reason', async () => {
    const bytes = writeWithHyparquet([{ name: 'id', data: [1, 2, 3], type: 'INT32' }], {
      codec: 'SNAPPY',
      rowGroupSize: 2,
    });
    const footerOf = (data: Buffer) => readParquetFooter(memoryReader(data), data.length, 'x.parquet');
    await expect(footerOf(bytes.subarray(0, bytes.length - 10))).rejects.toThrow(
      new ParquetFileError(
        'x.parquet',
        'it does not end with the Parquet footer (the magic bytes PAR1): the file is truncated or not Parquet',
      ),
    );
    await expect(footerOf(Buffer.from('id,name\n1,ann\n2,bob\n'))).rejects.toThrow(
      /does not end with the Parquet footer/,
    );
    await expect(footerOf(Buffer.from('PAR1PAR1'))).rejects.toThrow(
      "'x.parquet' cannot be read as Parquet: the file has 8 bytes, fewer than a Parquet file's 12 at least.",
    );
    const lying = Buffer.from(bytes);
    lying.writeUInt32LE(bytes.length * 2, bytes.length - 8);
    await expect(footerOf(lying)).rejects.toThrow(
      /its footer claims [\d,]+ bytes of metadata, more than the file holds/,
    );
  });
});

describe('a corrupt row group', () => {
  it('fails only its rows, naming the file, the row group and the reason; the other row groups are read', async () => {
    const columns = [
      { name: 'id', data: Int32Array.from({ length: 9 }, (_, i) => i), type: 'INT32' as const },
      { name: 'name', data: Array.from({ length: 9 }, (_, i) => `name ${i}`), type: 'STRING' as const },
    ];
    const bytes = writeWithHyparquet(columns, { codec: 'SNAPPY', rowGroupSize: 3 });
    // Scribble over the data of row group 1 (its pages' headers and snappy blocks).
    const read = await readAll(await corruptRowGroup(bytes, 1), 'c.parquet');
    expect(read.records).toEqual([0, 1, 2, 6, 7, 8].map((i) => ({ id: i, name: `name ${i}` })));
    expect(read.goodRowGroups).toEqual([0, 2]);
    expect(read.badRowGroups).toEqual([
      // A page header of 0xff bytes is not Thrift.
      { blob: 'c.parquet', rowGroup: 1, firstRow: 3, rows: 3, error: 'thrift unhandled type: 15' },
    ]);
  });
});

describe('decimalText', () => {
  it('writes an unscaled integer or two’s complement bytes as its exact value', () => {
    expect(decimalText(123456789012345678901234n, 4)).toBe('12345678901234567890.1234');
    expect(decimalText(-5n, 2)).toBe('-0.05');
    expect(decimalText(7, 0)).toBe('7');
    expect(decimalText(12n, -2)).toBe('1200');
    expect(decimalText(new Uint8Array([0xff, 0xfe]), 1)).toBe('-0.2');
    expect(decimalText(new Uint8Array([0x01, 0x00]), 3)).toBe('0.256');
  });
});
