'use strict';
// Planning 10,000 Parquet files from their footers, against a bare listing of the same folder plus a bare
// footer read of each file (its last 8 bytes, then the footer: the two range reads any footer reader makes),
// made with the same number of reads in flight as planning (PARQUET_FOOTER_CONCURRENCY). Azurite (in
// memory) runs in a child process; the files are one uploaded Parquet file (8 row groups) whose record is
// cloned under 10,000 names inside Azurite (bench/azurite-seed.js), so each is listed and read over HTTP.
// Rounds alternate the two sides; medians.
// Usage: npm run build && node bench/parquet-plan.js [files] [rounds]
const { fork } = require('node:child_process');
const { captureBlobServer, cloneBlobRecords } = require('./azurite-seed');

const FILES = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const CONTAINER = 'lake';
const name = (i) => `sales/region=eu/part-${String(i).padStart(5, '0')}.parquet`;

if (process.argv[2] === '--serve') {
  (async () => {
    const files = Number(process.argv[3]);
    const captured = captureBlobServer();
    const { parquetWriteBuffer } = require('hyparquet-writer');
    const { startAzurite } = require('@parallel-job/functions-host');
    const { BlobServiceClient } = require('@azure/storage-blob');
    const azurite = await startAzurite();
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      CONTAINER,
    );
    await container.createIfNotExists();
    const rows = 8000;
    const body = Buffer.from(
      parquetWriteBuffer({
        rowGroupSize: 1000,
        columnData: [
          { name: 'id', data: Int32Array.from({ length: rows }, (_, i) => i), type: 'INT32' },
          { name: 'customer', data: Array.from({ length: rows }, (_, i) => `Customer ${i}`), type: 'STRING' },
          { name: 'amount', data: Float64Array.from({ length: rows }, (_, i) => i / 7), type: 'DOUBLE' },
        ],
      }),
    );
    await container.getBlockBlobClient(name(0)).upload(body, body.length);
    cloneBlobRecords(captured, CONTAINER, name, files);
    process.send({ connectionString: azurite.connectionString, size: body.length });
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
  return;
}

const { BlobStore } = require('../dist/src/storage/blobStore');
const { planJob } = require('../dist/src/plan/planner');
const { PARQUET_FOOTER_CONCURRENCY } = require('../dist/src/plan/parquet');

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The floor: list the folder, and read each file's footer length and footer, so many at a time. */
async function bareListingAndFooters(store) {
  const names = [];
  for await (const blob of store.list(CONTAINER, 'sales/')) names.push(blob);
  let next = 0;
  let footers = 0;
  const lane = async () => {
    while (next < names.length) {
      const { name: blob, size } = names[next++];
      const tail = await store.read(CONTAINER, blob, { start: size - 8, end: size });
      const length = tail.readUInt32LE(0);
      await store.read(CONTAINER, blob, { start: size - 8 - length, end: size - 8 });
      footers += 1;
    }
  };
  await Promise.all(Array.from({ length: PARQUET_FOOTER_CONCURRENCY }, lane));
  return footers;
}

async function main() {
  const child = fork(__filename, ['--serve', String(FILES)], { stdio: 'inherit', execArgv: [] });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`Azurite child exited with ${code}`)));
  });
  const store = BlobStore.fromConnectionString(ready.connectionString);
  try {
    const plan = [];
    const bare = [];
    let summary;
    const planOnce = (jobId) =>
      planJob(store, {
        jobId,
        input: { accountUrl: store.accountUrl, container: CONTAINER, prefix: 'sales' },
        inputType: 'mltable',
        miniBatchSize: 1024 * 1024,
        miniBatchSizeUnit: 'bytes',
        logsContainer: 'logs',
      });
    // Warm-up: Azurite answers a collection's first listings and reads slower; both sides' code compiles.
    await bareListingAndFooters(store);
    await planOnce('bench-warm-up');
    for (let round = 0; round < ROUNDS; round += 1) {
      let started = performance.now();
      summary = await planOnce(`bench-${round}`);
      plan.push(performance.now() - started);
      if (summary.miniBatches !== FILES) throw new Error(`planned ${summary.miniBatches} mini-batches`);
      started = performance.now();
      if ((await bareListingAndFooters(store)) !== FILES) throw new Error('the bare read missed files');
      bare.push(performance.now() - started);
    }
    const ratio = median(plan) / median(bare);
    console.log(
      `${FILES.toLocaleString('en-US')} Parquet files of ${(ready.size / 1024).toFixed(0)} KiB (8 row groups each), ${summary.pages} plan pages; ${ROUNDS} rounds, medians`,
    );
    console.log(
      `bare listing + footer reads (${PARQUET_FOOTER_CONCURRENCY} in flight)   ${(median(bare) / 1000).toFixed(2).padStart(7)} s`,
    );
    console.log(
      `planning (footers, row-group runs, plan pages)   ${(median(plan) / 1000).toFixed(2).padStart(7)} s`,
    );
    console.log(
      `ratio                                            ${ratio.toFixed(2)}x  (target <= 1.2x: ${ratio <= 1.2 ? 'met' : 'NOT met'})`,
    );
  } finally {
    child.kill();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
