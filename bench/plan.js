// Planning benchmark: 10,000 and 100,000 blobs, and a 1 GiB tabular input, against Azurite.
//
//   node bench/plan.js            (or: node bench/plan.js --quick for 2,000 / 20,000 blobs and 64 MiB)
//
// Azurite (the project's in-process server) and the seeding run in child processes, so the RSS measured
// here is the planner's alone. Baselines measured side by side in the same run: a bare listing (the
// floor: planning cannot be faster than listing) and a collect-everything listing (what a planner that
// holds the whole listing would keep in memory). Prints a table and the lines appended to RESULTS.md.
'use strict';
require('tsx/cjs'); // load src/*.ts directly, so the benchmark does not depend on this app's build
const { fork } = require('node:child_process');
const { captureBlobServer, cloneBlobRecords } = require('./azurite-seed');

const quick = process.argv.includes('--quick');
const SMALL = quick ? 2_000 : 10_000;
const LARGE = quick ? 20_000 : 100_000;
const TABLE_BYTES = quick ? 64 * 1024 * 1024 : 1024 * 1024 * 1024;
const TABLE_FILES = 8;
const CONTAINER = 'bench';
const TABLE_CONTAINER = 'tables';

// ---------------------------------------------------------------------------------------------------
// Child: Azurite in memory, seeded with cloned blob records (bench/azurite-seed.js). Planning then lists
// them over HTTP like any other blobs.
if (process.argv[2] === '--serve') {
  (async () => {
    const captured = captureBlobServer();
    const { startAzurite } = require('@parallel-job/functions-host');
    const { BlobServiceClient } = require('@azure/storage-blob');
    const azurite = await startAzurite();
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient(CONTAINER);
    await container.createIfNotExists();
    const name = (i) =>
      i < SMALL ? `a/f-${String(i).padStart(7, '0')}.bin` : `b/f-${String(i).padStart(7, '0')}.bin`;
    const body = Buffer.from('x'.repeat(100));
    await container.getBlockBlobClient(name(0)).upload(body, body.length);
    cloneBlobRecords(captured, CONTAINER, name, LARGE);
    // The table: CSV files built from staged copies of one 8 MiB block of whole rows.
    const tables = service.getContainerClient(TABLE_CONTAINER);
    await tables.createIfNotExists();
    const header = 'id,name,score,comment\n';
    const rows = [];
    let size = 0;
    for (let i = 0; size < 8 * 1024 * 1024 - 200; i += 1) {
      const row = `${i},"name ${i}, the ${i % 7}th",${(i * 0.37).toFixed(2)},"line one\nline two"\n`;
      rows.push(row);
      size += Buffer.byteLength(row);
    }
    const block = Buffer.from(rows.join(''));
    const perFile = Math.max(1, Math.round(TABLE_BYTES / TABLE_FILES / block.length));
    for (let f = 0; f < TABLE_FILES; f += 1) {
      const blob = tables.getBlockBlobClient(`table/part-${f}.csv`);
      const headerId = Buffer.from('h'.padEnd(8, '0')).toString('base64');
      await blob.stageBlock(headerId, Buffer.from(header), Buffer.byteLength(header));
      const ids = [headerId];
      for (let b = 0; b < perFile; b += 1) {
        const id = Buffer.from(`b${String(b).padStart(7, '0')}`).toString('base64');
        await blob.stageBlock(id, block, block.length);
        ids.push(id);
      }
      await blob.commitBlockList(ids);
    }
    await tables.getBlockBlobClient('table/MLTable').upload('paths: []', 9);
    process.send({ connectionString: azurite.connectionString });
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
  return;
}

// ---------------------------------------------------------------------------------------------------
// Parent: the planner under measurement.
const { BlobStore } = require('../src/storage/blobStore');
const { planJob } = require('../src/plan/planner');
const { readRecordsInRange } = require('../src/plan/tabular');

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

/** Peak RSS while `fn` runs, sampled every 5 ms (the planner awaits I/O often, so samples keep up). */
async function measure(fn) {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  let heapPeak = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    peak = Math.max(peak, usage.rss);
    heapPeak = Math.max(heapPeak, usage.heapUsed);
  }, 5);
  const started = process.hrtime.bigint();
  const result = await fn();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { result, seconds, rssBefore, peak, heapPeak, heapAfter: process.memoryUsage().heapUsed };
}

async function main() {
  const seedStarted = Date.now();
  const child = fork(__filename, ['--serve', ...(quick ? ['--quick'] : [])], {
    stdio: 'inherit',
    execArgv: [],
  });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`Azurite child exited with ${code}`)));
  });
  console.log(
    `seeded ${LARGE} blobs and ${mb(TABLE_BYTES)} MiB of CSV in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`,
  );
  const store = BlobStore.fromConnectionString(ready.connectionString);
  const sdkService = require('@azure/storage-blob').BlobServiceClient.fromConnectionString(
    ready.connectionString,
  );
  const input = (prefix) => ({ accountUrl: store.accountUrl, container: CONTAINER, prefix });
  const rows = [];

  try {
    const sizes = [
      [`${SMALL} blobs`, 'a', SMALL],
      [`${LARGE} blobs`, '', LARGE],
    ];
    // Azurite answers a collection's first listing slower than later ones (its store warms up): list
    // everything once so the planner and the baselines all meet a warm Azurite. The fast listing keeps
    // little garbage, so this barely grows this process's heap before the planner runs.
    const warmup = await measure(async () => {
      let n = 0;
      for await (const _ of store.list(CONTAINER, '')) n += 1;
      return n;
    });
    console.log(`warm-up listing of ${warmup.result} blobs: ${warmup.seconds.toFixed(2)} s`);
    const plans = [];
    for (const [, prefix, count] of sizes) {
      const planned = await measure(() =>
        planJob(store, {
          jobId: `bench-${count}`,
          input: input(prefix),
          inputType: 'uri_folder',
          miniBatchSize: 10,
          miniBatchSizeUnit: 'files',
          logsContainer: 'logs',
        }),
      );
      if (planned.result.items !== count)
        throw new Error(`planned ${planned.result.items} items, expected ${count}`);
      plans.push(planned);
    }
    for (const [i, [label, prefix]] of sizes.entries()) {
      const bare = await measure(async () => {
        let n = 0;
        for await (const _ of store.list(CONTAINER, prefix ? `${prefix}/` : '')) n += 1;
        return n;
      });
      // The SDK's own listing (what BlobStore used before it scanned the XML itself).
      const sdk = await measure(async () => {
        let n = 0;
        const pages = sdkService
          .getContainerClient(CONTAINER)
          .listBlobsFlat({ prefix: prefix ? `${prefix}/` : '' })
          .byPage({ maxPageSize: 5000 });
        for await (const page of pages) n += page.segment.blobItems.length;
        return n;
      });
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const collected = await measure(async () => {
        const all = [];
        for await (const blob of store.list(CONTAINER, prefix ? `${prefix}/` : '')) all.push(blob);
        return all;
      });
      global.gc?.();
      const heapHeldByCollect = process.memoryUsage().heapUsed - heapBefore;
      collected.result.length = 0;
      const planned = plans[i];
      rows.push({
        label,
        planSeconds: planned.seconds,
        listSeconds: bare.seconds,
        sdkSeconds: sdk.seconds,
        sdkPeakRss: sdk.peak,
        peakRss: planned.peak,
        heapPeak: planned.heapPeak,
        rssBefore: planned.rssBefore,
        collectHeap: heapHeldByCollect,
        returned: Buffer.byteLength(JSON.stringify(planned.result)),
        miniBatches: planned.result.miniBatches,
        pages: planned.result.pages,
      });
    }

    const table = await measure(() =>
      planJob(store, {
        jobId: 'bench-table',
        input: { ...input('table'), container: TABLE_CONTAINER },
        inputType: 'mltable',
        miniBatchSize: 1024 * 1024,
        miniBatchSizeUnit: 'bytes',
        logsContainer: 'logs',
      }),
    );
    rows.push({
      label: `${mb(table.result.bytes)} MiB table`,
      planSeconds: table.seconds,
      listSeconds: NaN,
      sdkSeconds: NaN,
      sdkPeakRss: NaN,
      peakRss: table.peak,
      heapPeak: table.heapPeak,
      rssBefore: table.rssBefore,
      collectHeap: NaN,
      returned: Buffer.byteLength(JSON.stringify(table.result)),
      miniBatches: table.result.miniBatches,
      pages: table.result.pages,
    });

    // Reading cost of a tabular range: bytes fetched per 1 MiB mini-batch (alignment overhead), middle of a file.
    const blob = 'table/part-3.csv';
    const info = await store.stat(TABLE_CONTAINER, blob);
    let fetched = 0;
    const read = async (start, end) => {
      const bytes = await store.read(TABLE_CONTAINER, blob, { start, end });
      fetched += bytes.length;
      return bytes;
    };
    const start = Math.floor(info.size / 2);
    const rangeRead = await measure(() =>
      readRecordsInRange(read, info.size, 'csv', start, start + 1024 * 1024, blob),
    );

    console.log(
      '\ninput            | plan s | bare list s | plan/list | SDK list s | plan/SDK list | planner peak RSS MiB | SDK list peak RSS MiB | peak heap MiB | collect-all holds MiB | returned B | mini-batches | pages',
    );
    for (const row of rows) {
      console.log(
        `${row.label.padEnd(16)} | ${row.planSeconds.toFixed(2).padStart(6)} | ${Number.isNaN(row.listSeconds) ? '   -' : row.listSeconds.toFixed(2).padStart(11)} | ${Number.isNaN(row.listSeconds) ? '   -' : (row.planSeconds / row.listSeconds).toFixed(2).padStart(9)} | ${Number.isNaN(row.sdkSeconds) ? '   -' : row.sdkSeconds.toFixed(2).padStart(10)} | ${Number.isNaN(row.sdkSeconds) ? '   -' : (row.planSeconds / row.sdkSeconds).toFixed(2).padStart(13)} | ${mb(row.peakRss).padStart(20)} | ${Number.isNaN(row.sdkPeakRss) ? '   -' : mb(row.sdkPeakRss).padStart(21)} | ${mb(row.heapPeak).padStart(13)} | ${Number.isNaN(row.collectHeap) ? '   -' : mb(row.collectHeap).padStart(20)} | ${String(row.returned).padStart(10)} | ${String(row.miniBatches).padStart(12)} | ${row.pages}`,
      );
    }
    const [small, large] = rows;
    console.log(
      `\nRSS growth ${SMALL} -> ${LARGE} blobs (peak during planning): RSS ${mb(large.peakRss - small.peakRss)} MiB, heap ${mb(large.heapPeak - small.heapPeak)} MiB; returned bytes ratio ${(large.returned / small.returned).toFixed(2)}`,
    );
    console.log(
      `tabular 1 MiB range from the middle of a ${mb(info.size)} MiB file: ${rangeRead.result.length} records, fetched ${mb(fetched)} MiB (${(fetched / (1024 * 1024)).toFixed(2)}x the range) in ${rangeRead.seconds.toFixed(2)} s`,
    );
  } finally {
    child.kill();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
