'use strict';
// Choosing the Parquet reader: the candidates decode the same file, written by arrow-rs (parquet-wasm's
// writer, as Spark- and pyarrow-like producers write: snappy, 100,000-row row groups), into what a task
// gets, one JavaScript object per row; and, for reference, into columns only. Same process, alternating,
// medians. hyparquet is pure JavaScript; parquet-wasm is arrow-rs in WebAssembly and hands back Arrow IPC,
// which apache-arrow reads in JavaScript.
// Usage: node bench/parquet-readers.js [rows] [rounds]
const arrow = require('apache-arrow');
const parquetWasm = require('parquet-wasm/node');
const { parquetRead, parquetReadObjects } = require('hyparquet');

const ROWS = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 5);

function sales() {
  const regions = ['eu-west', 'eu-north', 'us-east', 'us-west', 'asia'];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const id = new BigInt64Array(ROWS);
  const quantity = new Int32Array(ROWS);
  const price = new Float64Array(ROWS);
  const customer = new Array(ROWS);
  const region = new Array(ROWS);
  const soldAt = new Array(ROWS);
  const note = new Array(ROWS);
  for (let i = 0; i < ROWS; i += 1) {
    id[i] = BigInt(i);
    quantity[i] = Math.floor(next() * 20);
    price[i] = Math.round(next() * 100000) / 100;
    customer[i] = `Customer ${i % 50000}`;
    region[i] = regions[i % 5];
    soldAt[i] = Date.UTC(2026, 0, 1) + i * 1000;
    note[i] = next() < 0.3 ? null : `note ${i % 100}`;
  }
  const table = new arrow.Table({
    id: arrow.makeVector(id),
    customer: arrow.vectorFromArray(customer, new arrow.Utf8()),
    region: arrow.vectorFromArray(region, new arrow.Utf8()),
    price: arrow.makeVector(price),
    quantity: arrow.makeVector(quantity),
    sold_at: arrow.vectorFromArray(soldAt, new arrow.TimestampMillisecond('UTC')),
    note: arrow.vectorFromArray(note, new arrow.Utf8()),
  });
  const properties = new parquetWasm.WriterPropertiesBuilder()
    .setCompression(parquetWasm.Compression.SNAPPY)
    .setMaxRowGroupSize(100_000)
    .build();
  return Buffer.from(
    parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), properties),
  );
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const bytes = sales();
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const readers = {
    'hyparquet: row objects': async () => (await parquetReadObjects({ file: buffer, utf8: false })).length,
    'parquet-wasm + apache-arrow: row objects': async () => {
      const table = arrow.tableFromIPC(parquetWasm.readParquet(bytes).intoIPCStream());
      const rows = [];
      for (const row of table) rows.push(row.toJSON());
      return rows.length;
    },
    'hyparquet: columns only': async () => {
      let values = 0;
      await parquetRead({
        file: buffer,
        utf8: false,
        onChunk: (chunk) => (values += chunk.columnData.length),
      });
      return values / 7;
    },
    'parquet-wasm + apache-arrow: Arrow table only': async () =>
      arrow.tableFromIPC(parquetWasm.readParquet(bytes).intoIPCStream()).numRows,
  };
  const samples = Object.fromEntries(Object.keys(readers).map((name) => [name, []]));
  for (let round = 0; round <= ROUNDS; round += 1) {
    for (const [name, read] of Object.entries(readers)) {
      const started = performance.now();
      if ((await read()) !== ROWS) throw new Error(`${name} lost rows`);
      if (round > 0) samples[name].push(performance.now() - started); // round 0 warms up
    }
  }
  console.log(
    `${ROWS.toLocaleString('en-US')} rows, 7 columns, ${(bytes.length / 1024 / 1024).toFixed(1)} MiB (arrow-rs, snappy); ${ROUNDS} rounds, medians`,
  );
  for (const [name, values] of Object.entries(samples)) {
    console.log(`${name.padEnd(48)} ${median(values).toFixed(0).padStart(7)} ms`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
