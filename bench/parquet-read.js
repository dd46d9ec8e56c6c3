'use strict';
// Reading 1,000,000 Parquet rows through a no-op JavaScript task, against hyparquet (the chosen reader)
// decoding the same files directly into row objects. Ours is the task runtime's whole path for a Parquet
// mini-batch: footer and row groups read by range (from memory here, as both sides read), the bytes handed
// to a warm worker thread, each row group decoded there on its own, values mapped (int64, decimals), and
// run() called on the records (test/fixtures/tasks/noop.js, summary_only).
// Both sides run one mini-batch at a time, in the same process, alternating, medians of the rounds.
// Usage: npm run build && node bench/parquet-read.js [rows] [rounds]
const path = require('node:path');
const { parquetReadObjects } = require('hyparquet');
const { parquetWriteBuffer } = require('hyparquet-writer');
const { fetchParquetPart } = require('../dist/src/plan/parquetRows');
const { readParquetFooter, rowGroupRuns, rowGroupSpans } = require('../dist/src/plan/parquet');
const { TaskPool } = require('../dist/src/task/pool');
const { recordsAttempt } = require('./support');

const ROWS = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const FILES = 10;
const ROW_GROUP_ROWS = 25_000;
const MINI_BATCH_BYTES = 2 * 1024 * 1024;

/** A sales table: ids (int64), customers and regions (strings), prices and quantities, times, notes with nulls. */
function file(first, rows) {
  const regions = ['eu-west', 'eu-north', 'us-east', 'us-west', 'asia'];
  let seed = first + 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const ids = new BigInt64Array(rows);
  const quantity = new Int32Array(rows);
  const price = new Float64Array(rows);
  const customer = new Array(rows);
  const region = new Array(rows);
  const soldAt = new Array(rows);
  const note = new Array(rows);
  for (let i = 0; i < rows; i += 1) {
    ids[i] = BigInt(first + i);
    quantity[i] = Math.floor(next() * 20);
    price[i] = Math.round(next() * 100000) / 100;
    customer[i] = `Customer ${(first + i) % 50000}`;
    region[i] = regions[i % 5];
    soldAt[i] = new Date(Date.UTC(2026, 0, 1) + (first + i) * 1000);
    note[i] = next() < 0.3 ? null : `note ${i % 100}`;
  }
  return Buffer.from(
    parquetWriteBuffer({
      rowGroupSize: ROW_GROUP_ROWS,
      columnData: [
        { name: 'id', data: ids, type: 'INT64' },
        { name: 'customer', data: customer, type: 'STRING' },
        { name: 'region', data: region, type: 'STRING' },
        { name: 'price', data: price, type: 'DOUBLE' },
        { name: 'quantity', data: quantity, type: 'INT32' },
        { name: 'sold_at', data: soldAt, type: 'TIMESTAMP' },
        { name: 'note', data: note, type: 'STRING' },
      ],
    }),
  );
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const reader = (bytes) => (start, end) => Promise.resolve(bytes.subarray(start, end));

/** The chosen reader alone: each file decoded into row objects, as hyparquet's own API does it. */
async function direct(files) {
  let rows = 0;
  for (const bytes of files) {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    rows += (await parquetReadObjects({ file: buffer, utf8: false })).length;
  }
  return rows;
}

/** Ours: the planned mini-batches of each file, read as the runtime reads them and run through the task. */
async function ours(files, plans, pool) {
  let rows = 0;
  let index = 0;
  for (const [f, bytes] of files.entries()) {
    for (const run of plans[f]) {
      const part = await fetchParquetPart(reader(bytes), bytes.length, `f-${f}.parquet`, run);
      const attempt = recordsAttempt([], index++);
      const batch = { kind: 'parquet', parts: [part], failOnBadRowGroup: false };
      const outcome = await pool.runAttempt({ ...attempt, batch, appendRows: false });
      if (outcome.status !== 'succeeded') throw new Error(`attempt ${outcome.status}: ${outcome.message}`);
      rows += outcome.succeeded;
    }
  }
  return rows;
}

async function main() {
  const perFile = Math.ceil(ROWS / FILES);
  const files = Array.from({ length: FILES }, (_, f) =>
    file(f * perFile, Math.min(perFile, ROWS - f * perFile)),
  );
  const plans = [];
  for (const bytes of files) {
    const footer = await readParquetFooter(reader(bytes), bytes.length, 'f');
    const spans = rowGroupSpans(footer.metadata, bytes.length - footer.bytes.length, 'f');
    plans.push(rowGroupRuns(spans, MINI_BATCH_BYTES).map((run) => ({ first: run.first, count: run.count })));
  }
  const modulePath = path.resolve(__dirname, '../test/fixtures/tasks/noop.js');
  // What a Parquet job's attempts get (V8's own young generation: runMiniBatch asks its pool for it), and
  // for comparison the other tasks' worker (young generation capped, src/task/threads.ts).
  const pool = new TaskPool({ modulePath, maxConcurrency: 1 });
  const roomy = new TaskPool({ modulePath, maxConcurrency: 1, maxYoungGenerationSizeMb: 0 });
  await ours(files, plans, pool); // warm-up: the workers start, every side's code is compiled
  await ours(files, plans, roomy);
  await direct(files);
  const base = [];
  const mine = [];
  const mineRoomy = [];
  const timed = async (samples, work) => {
    const started = performance.now();
    if ((await work()) !== ROWS) throw new Error('a read lost rows');
    samples.push(performance.now() - started);
  };
  for (let round = 0; round < ROUNDS; round += 1) {
    await timed(base, () => direct(files));
    await timed(mine, () => ours(files, plans, pool));
    await timed(mineRoomy, () => ours(files, plans, roomy));
  }
  await pool.destroy();
  await roomy.destroy();
  const mib = files.reduce((sum, bytes) => sum + bytes.length, 0) / 1024 / 1024;
  const miniBatches = plans.reduce((sum, runs) => sum + runs.length, 0);
  console.log(
    `${ROWS.toLocaleString('en-US')} rows in ${FILES} files (${mib.toFixed(1)} MiB, snappy, ${ROW_GROUP_ROWS.toLocaleString('en-US')} rows per row group), ${miniBatches} mini-batches of ${MINI_BATCH_BYTES / 1024 / 1024} MiB; ${ROUNDS} rounds, medians`,
  );
  console.log(
    `${'hyparquet parquetReadObjects, file by file'.padEnd(52)} ${median(base).toFixed(0).padStart(7)} ms`,
  );
  const line = (label, samples) => {
    const ratio = median(samples) / median(base);
    console.log(
      `${label.padEnd(52)} ${median(samples).toFixed(0).padStart(7)} ms  ${ratio.toFixed(2)}x  (target <= 1.3x: ${ratio <= 1.3 ? 'met' : 'NOT met'})`,
    );
  };
  line("ours, no-op task, a Parquet job's worker (V8's heap)", mineRoomy);
  line('ours, no-op task, with the capped young generation', mine);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
