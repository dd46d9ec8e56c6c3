import type { MiniBatchDescriptor } from '../../../src/plan/descriptor';
import { runMiniBatch } from '../../../src/activities/runMiniBatch';
import { jobFolder } from '../../../src/storage/layout';
import { useActivityJobs } from '../../support/activityJobs';
import {
  arrow,
  corruptPage,
  corruptRowGroup,
  decimalWords,
  writeWithArrow,
  writeWithHyparquet,
} from '../../support/parquet';

// Parquet mini-batches through the activity: real Azurite, real worker threads and real Python processes.
// Records arrive typed, a corrupt row group fails its rows and no others, a rewritten file fails the
// mini-batch with INPUT_CHANGED.

const env = useActivityJobs();
const { inputs, outputs, logs, writeJob } = env;

async function stagedRows(jobId: string): Promise<string[]> {
  const blob = `${jobId}/parallel_run_step.txt`;
  const { uncommitted } = await env.store.listBlocks(outputs, blob);
  await env.store.commitBlocks(outputs, blob, uncommitted);
  return (await env.store.readText(outputs, blob)).trimEnd().split('\n');
}

async function upload(name: string, bytes: Buffer): Promise<{ size: number; etag: string }> {
  await env.store.write(inputs, name, bytes);
  const info = await env.store.stat(inputs, name);
  return { size: info!.size, etag: info!.etag ?? '' };
}

function parquetRun(
  index: number,
  blob: string,
  file: { size: number; etag: string },
  rowGroups: { first: number; count: number; firstRow: number; rows: number },
): Extract<MiniBatchDescriptor, { kind: 'parquet' }> {
  return {
    kind: 'parquet',
    index,
    blob,
    fileSize: file.size,
    etag: file.etag,
    firstRowGroup: rowGroups.first,
    rowGroups: rowGroups.count,
    firstRow: rowGroups.firstRow,
    rows: rowGroups.rows,
    bytes: 0,
  };
}

/** Typed values a JavaScript task must get: int64 both ways, decimals, timestamps, bytes, nested, nulls. */
function typedTable(): arrow.Table {
  return new arrow.Table({
    name: arrow.vectorFromArray(['ann', 'fail me', null], new arrow.Utf8()),
    big: arrow.vectorFromArray([7n, 9007199254740993n, null], new arrow.Int64()),
    price: arrow.vectorFromArray(
      [decimalWords(1999n), null, decimalWords(-1n)],
      new arrow.Decimal(2, 10, 128),
    ),
    exact: arrow.vectorFromArray([decimalWords(10n ** 20n + 1n), null, null], new arrow.Decimal(3, 30, 128)),
    at: arrow.vectorFromArray(
      [Date.UTC(2026, 2, 1, 8), Date.UTC(2026, 2, 2), null],
      new arrow.TimestampMillisecond('UTC'),
    ),
    day: arrow.vectorFromArray([new Date(Date.UTC(2026, 2, 1)), null, null], new arrow.DateDay()),
    raw: arrow.vectorFromArray([new Uint8Array([0xca, 0xfe]), null, new Uint8Array([])], new arrow.Binary()),
    tags: arrow.vectorFromArray(
      [[{ k: 'a', v: new Uint8Array([1]) }], [], null],
      new arrow.List(
        new arrow.Field(
          'item',
          new arrow.Struct([
            new arrow.Field('k', new arrow.Utf8(), true),
            new arrow.Field('v', new arrow.Binary(), true),
          ]),
          true,
        ),
      ),
    ),
  });
}

describe('Parquet mini-batches for JavaScript tasks', () => {
  it('gives run() one typed object per row: Dates, bigints where int64 is not safe, Buffers (also nested), exact wide decimals', async () => {
    const jobId = 'pq-js-types';
    const file = await upload(
      'pq/types.parquet',
      writeWithArrow(typedTable(), { codec: 'ZSTD', rowGroupSize: 2 }),
    );
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'parquet-types.js',
      descriptors: [parquetRun(0, 'pq/types.parquet', file, { first: 0, count: 2, firstRow: 0, rows: 3 })],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({ status: 'partial', items: 3, succeeded: 2, failed: 1, rows: 2 });
    expect((await stagedRows(jobId)).map((row) => JSON.parse(row) as unknown)).toEqual([
      {
        name: 'string ann',
        big: 'number 7',
        price: 'number 19.99',
        exact: 'string 100000000000000000.001',
        at: 'Date 2026-03-01T08:00:00.000Z',
        day: 'Date 2026-03-01T00:00:00.000Z',
        raw: 'Buffer cafe',
        tags: [{ k: 'string a', v: 'Buffer 01' }],
      },
      {
        name: null,
        big: null,
        price: 'number -0.01',
        exact: null,
        at: null,
        day: null,
        raw: 'Buffer ',
        tags: null,
      },
    ]);
    // The record named as failed, as JSON can hold it: the unsafe int64 as digits, bytes as base64.
    expect(attempt.failedItems).toEqual([
      {
        item: {
          name: 'fail me',
          big: '9007199254740993',
          price: null,
          exact: null,
          at: '2026-03-02T00:00:00.000Z',
          day: null,
          raw: null,
          tags: [],
        },
        error: 'named as failed',
      },
    ]);
  });

  it('fails the rows of a corrupt row group with the file, row group and reason, runs the others, and counts the rows for error_threshold', async () => {
    const jobId = 'pq-corrupt';
    const rows = 12;
    const bytes = writeWithHyparquet(
      [
        { name: 'id', data: Int32Array.from({ length: rows }, (_, i) => i), type: 'INT32' },
        { name: 'name', data: Array.from({ length: rows }, (_, i) => `n${i}`), type: 'STRING' },
      ],
      { codec: 'SNAPPY', rowGroupSize: 4 },
    );
    const file = await upload('pq/corrupt.parquet', await corruptRowGroup(bytes, 1));
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'parquet-types.js',
      descriptors: [parquetRun(0, 'pq/corrupt.parquet', file, { first: 0, count: 3, firstRow: 0, rows })],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({
      status: 'partial',
      items: 12,
      succeeded: 8,
      failed: 4,
      rows: 8,
      message:
        "4 of 12 items failed: 4 rows of 1 row group that could not be read (first: row group 1 (rows 4-7) of 'pq/corrupt.parquet': thrift unhandled type: 15)",
    });
    expect((await stagedRows(jobId)).map((row) => (JSON.parse(row) as { id: string }).id)).toEqual(
      [0, 1, 2, 3, 8, 9, 10, 11].map((i) => `number ${i}`),
    );
    const entry = { blob: 'pq/corrupt.parquet', rowGroup: 1, firstRow: 4, rows: 4 };
    expect(attempt.failedItems).toEqual([{ item: entry, error: 'thrift unhandled type: 15' }]);
    const badLog = await env.store.readText(logs, jobFolder(jobId).badRecords(0, 1));
    expect(badLog).toBe(`${JSON.stringify({ ...entry, error: 'thrift unhandled type: 15' })}\n`);
    const log = await env.store.readText(logs, jobFolder(jobId).attemptLog(0, 1));
    expect(log).toContain(
      'WARNING 1 row group could not be read and its 4 rows are failed items; all listed in',
    );
  });

  it('fails the rows of a row group with one corrupt page, and runs the other row groups', async () => {
    const jobId = 'pq-corrupt-page';
    const rows = 9;
    const bytes = writeWithHyparquet(
      [
        { name: 'id', data: Int32Array.from({ length: rows }, (_, i) => i), type: 'INT32' },
        { name: 'name', data: Array.from({ length: rows }, (_, i) => `name ${i}`), type: 'STRING' },
      ],
      { codec: 'GZIP', rowGroupSize: 3 },
    );
    // The `name` column's page of row group 2: its header is intact, its compressed data is not.
    const file = await upload('pq/corrupt-page.parquet', await corruptPage(bytes, 2, 1));
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'parquet-types.js',
      descriptors: [
        parquetRun(0, 'pq/corrupt-page.parquet', file, { first: 0, count: 3, firstRow: 0, rows }),
      ],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({ status: 'partial', items: 9, succeeded: 6, failed: 3, rows: 6 });
    expect((await stagedRows(jobId)).map((row) => (JSON.parse(row) as { id: string }).id)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `number ${i}`),
    );
    expect(attempt.failedItems).toEqual([
      {
        item: { blob: 'pq/corrupt-page.parquet', rowGroup: 2, firstRow: 6, rows: 3 },
        error: 'incorrect data check', // zlib's word for a gzip page whose check does not match
      },
    ]);
  });

  it('fails the whole mini-batch, not retried, when on_bad_record is fail_mini_batch', async () => {
    const jobId = 'pq-strict';
    const bytes = writeWithHyparquet([{ name: 'id', data: [1, 2, 3, 4], type: 'INT32' }], {
      codec: 'GZIP',
      rowGroupSize: 2,
    });
    const file = await upload('pq/strict.parquet', await corruptRowGroup(bytes, 0));
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'parquet-types.js',
      settings: { onBadRecord: 'fail_mini_batch' },
      descriptors: [parquetRun(0, 'pq/strict.parquet', file, { first: 0, count: 2, firstRow: 0, rows: 4 })],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({
      status: 'failed',
      items: 4,
      succeeded: 0,
      failed: 4,
      code: 'TABULAR_PARSE_FAILED',
      retryable: false,
      message:
        "Could not read records from 'pq/strict.parquet': row group 0 (rows 0-1): thrift unhandled type: 15. Check that the file is valid CSV (with a header line), JSON Lines or Parquet. (on_bad_record: fail_mini_batch; fail_item would run the other records)",
    });
  });

  it('fails with INPUT_CHANGED, reading nothing of the new version, when the file was rewritten after planning', async () => {
    const jobId = 'pq-changed';
    const write = (from: number) =>
      writeWithHyparquet([{ name: 'id', data: [from, from + 1], type: 'INT32' }], {
        codec: 'SNAPPY',
        rowGroupSize: 1,
      });
    const file = await upload('pq/changing.parquet', write(0));
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'parquet-types.js',
      descriptors: [parquetRun(0, 'pq/changing.parquet', file, { first: 0, count: 2, firstRow: 0, rows: 2 })],
    });
    await upload('pq/changing.parquet', write(100));
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({
      status: 'failed',
      items: 2,
      failed: 2,
      code: 'INPUT_CHANGED',
      retryable: false,
    });
    expect(attempt.receipt.message).toContain("The input blob 'pq/changing.parquet'");
  });

  it('fails a file planning could not read with the reason it found, and runs partitions of Parquet files with their keys', async () => {
    const jobId = 'pq-unreadable';
    const good = writeWithHyparquet([{ name: 'id', data: [1, 2, 3], type: 'INT32' }], {
      codec: 'SNAPPY',
      rowGroupSize: 2,
    });
    const a = await upload('pq/region=eu/a.parquet', good);
    const b = await upload('pq/region=eu/b.parquet', good);
    await writeJob({
      jobId,
      kind: 'partition',
      entryScript: 'parquet-types.js',
      descriptors: [
        {
          ...parquetRun(
            0,
            'pq/broken.parquet',
            { size: 10, etag: 'x' },
            { first: 0, count: 0, firstRow: 0, rows: 0 },
          ),
          unreadable: 'it is broken',
        },
        {
          kind: 'partition',
          index: 1,
          keys: { region: 'eu' },
          format: 'parquet',
          files: [
            { name: 'pq/region=eu/a.parquet', ...a },
            { name: 'pq/region=eu/b.parquet', ...b },
          ],
        },
      ],
    });
    const broken = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(broken.receipt).toMatchObject({
      status: 'failed',
      items: 0,
      code: 'PARQUET_UNREADABLE',
      retryable: false,
      message:
        "The mini-batch's input could not be read: 'pq/broken.parquet' cannot be read as Parquet: it is broken. Write the file again (a file still being written, or cut short by a failed copy, has no footer yet), or move it out of the input.",
    });
    const partition = await runMiniBatch(env.deps, { jobId, index: 1, attempt: 1 });
    expect(partition.receipt).toMatchObject({ status: 'succeeded', items: 6, succeeded: 6, rows: 6 });
    expect(await stagedRows(jobId)).toEqual(
      [1, 2, 3, 1, 2, 3].map((id) => JSON.stringify({ id: `number ${id}` })),
    );
  });
});

describe('Parquet mini-batches for Python tasks (no pyarrow)', () => {
  it('gives run() a DataFrame with the columns typed back: int64, UTC timestamps, dates, decimals, bytes; failed rows by position', async () => {
    const jobId = 'pq-py-types';
    const table = new arrow.Table({
      name: arrow.vectorFromArray(['ann', 'fail me', null], new arrow.Utf8()),
      big: arrow.vectorFromArray([7n, 9007199254740993n, 3n], new arrow.Int64()),
      count: arrow.vectorFromArray([1, null, 3], new arrow.Int32()),
      price: arrow.vectorFromArray(
        [decimalWords(1999n), null, decimalWords(-1n)],
        new arrow.Decimal(2, 10, 128),
      ),
      at: arrow.vectorFromArray([Date.UTC(2026, 2, 1, 8), null, 0], new arrow.TimestampMillisecond('UTC')),
      local: arrow.vectorFromArray([Date.UTC(2026, 2, 1, 8), 0, 0], new arrow.TimestampMillisecond()),
      day: arrow.vectorFromArray([new Date(Date.UTC(2026, 2, 1)), null, new Date(0)], new arrow.DateDay()),
      raw: arrow.vectorFromArray(
        [new Uint8Array([0x41, 0x42]), null, new Uint8Array([])],
        new arrow.Binary(),
      ),
    });
    const file = await upload('pq/py.parquet', writeWithArrow(table, { codec: 'GZIP', rowGroupSize: 2 }));
    await writeJob({
      jobId,
      kind: 'tabular',
      entryScript: 'parquet_types.py',
      code: 'tasks/python',
      descriptors: [parquetRun(0, 'pq/py.parquet', file, { first: 0, count: 2, firstRow: 0, rows: 3 })],
    });
    const attempt = await runMiniBatch(env.deps, { jobId, index: 0, attempt: 1 });
    expect(attempt.receipt).toMatchObject({ status: 'partial', items: 3, succeeded: 2, failed: 1, rows: 2 });
    expect(await stagedRows(jobId)).toEqual(['row 0', 'row 2']);
    expect(attempt.failedItems).toEqual([
      {
        item: {
          name: 'fail me',
          big: '9007199254740993',
          count: null,
          price: null,
          at: null,
          local: '1970-01-01T00:00:00.000Z',
          day: null,
          raw: null,
        },
        error: 'named as failed',
      },
    ]);
    const log = await env.store.readText(logs, jobFolder(jobId).attemptLog(0, 1));
    const columns = log
      .split('\n')
      .filter((line) => line.includes('COLUMN '))
      .map((line) => JSON.parse(line.slice(line.indexOf('COLUMN ') + 7)) as unknown);
    expect(columns).toEqual([
      { column: 'name', dtype: 'object', values: ['str ann', 'str fail me', null] },
      { column: 'big', dtype: 'int64', values: ['int 7', 'int 9007199254740993', 'int 3'] },
      { column: 'count', dtype: 'float64', values: ['float 1.0', null, 'float 3.0'] },
      { column: 'price', dtype: 'object', values: ['Decimal 19.99', null, 'Decimal -0.01'] },
      {
        column: 'at',
        dtype: 'datetime64[ns, UTC]',
        values: ['Timestamp 2026-03-01 08:00:00+00:00', null, 'Timestamp 1970-01-01 00:00:00+00:00'],
      },
      {
        column: 'local',
        dtype: 'datetime64[ns]',
        values: [
          'Timestamp 2026-03-01 08:00:00',
          'Timestamp 1970-01-01 00:00:00',
          'Timestamp 1970-01-01 00:00:00',
        ],
      },
      { column: 'day', dtype: 'object', values: ['date 2026-03-01', null, 'date 1970-01-01'] },
      { column: 'raw', dtype: 'object', values: ["bytes b'AB'", null, "bytes b''"] },
    ]);
  });
});
