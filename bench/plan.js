// Planning benchmark: 10,000 and 100,000 blobs, and a 1 GiB tabular input, against Azurite.
//
//   node bench/plan.js            (or: node bench/plan.js --quick for 2,000 / 20,000 blobs and 64 MiB)
//
// Azurite (the project's in-process server) and the seeding run in a child process, so the RSS measured
// here is the planner's alone. Baselines measured side by side in the same run: a bare listing (the
// floor: planning cannot be faster than listing) and a collect-everything listing (what a planner that
// holds the whole listing would keep in memory). Prints a table and the lines appended to RESULTS.md.
/* global Buffer, __filename, setInterval, clearInterval */
'use strict';
require('tsx/cjs'); // load src/*.ts directly, so the benchmark does not depend on a build
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const quick = process.argv.includes('--quick');
const SMALL = quick ? 2_000 : 10_000;
const LARGE = quick ? 20_000 : 100_000;
const TABLE_BYTES = quick ? 64 * 1024 * 1024 : 1024 * 1024 * 1024;
const TABLE_FILES = 8;
const CONTAINER = 'bench';

// ---------------------------------------------------------------------------------------------------
// Child: Azurite plus the seeding, reporting the connection string when ready.
if (process.argv[2] === '--serve') {
  (async () => {
    const { startAzurite } = require('../src/local/azurite');
    const { BlobServiceClient } = require('@azure/storage-blob');
    const azurite = await startAzurite({ dataDir: process.argv[3] });
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient(CONTAINER);
    await container.createIfNotExists();
    const body = Buffer.from('x'.repeat(100));
    let next = 0;
    const names = [];
    for (let i = 0; i < LARGE; i += 1) names.push(i < SMALL ? `a/f-${String(i).padStart(7, '0')}.bin` : `b/f-${String(i).padStart(7, '0')}.bin`);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < names.length) {
          const name = names[next++];
          await container.getBlockBlobClient(name).upload(body, body.length);
        }
      }),
    );
    // The table: CSV files built from staged copies of one 8 MiB block of whole rows.
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
      const blob = container.getBlockBlobClient(`table/part-${f}.csv`);
      const ids = [];
      const headerId = Buffer.from('h'.padEnd(8, '0')).toString('base64');
      await blob.stageBlock(headerId, Buffer.from(header), Buffer.byteLength(header));
      ids.push(headerId);
      for (let b = 0; b < perFile; b += 1) {
        const id = Buffer.from(`b${String(b).padStart(7, '0')}`).toString('base64');
        await blob.stageBlock(id, block, block.length);
        ids.push(id);
      }
      await blob.commitBlockList(ids);
    }
    await container.getBlockBlobClient('table/MLTable').upload('paths: []', 9);
    process.send({ connectionString: azurite.connectionString, seedSeconds: (Date.now() - started) / 1000 });
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
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const started = process.hrtime.bigint();
  const result = await fn();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { result, seconds, rssBefore, peak, heapAfter: process.memoryUsage().heapUsed };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pj-bench-plan-'));
  const child = fork(__filename, ['--serve', dataDir], { stdio: 'inherit' });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`Azurite child exited with ${code}`)));
  });
  console.log(`seeded ${LARGE} blobs and ${mb(TABLE_BYTES)} MiB of CSV in ${ready.seedSeconds.toFixed(1)} s`);
  const store = BlobStore.fromConnectionString(ready.connectionString);
  const input = (prefix) => ({ accountUrl: store.accountUrl, container: CONTAINER, prefix });
  const rows = [];

  try {
    for (const [label, prefix, count] of [
      [`${SMALL} blobs`, 'a', SMALL],
      [`${LARGE} blobs`, '', LARGE],
    ]) {
      const bare = await measure(async () => {
        let n = 0;
        for await (const _ of store.list(CONTAINER, prefix ? `${prefix}/` : '')) n += 1;
        return n;
      });
      const collected = await measure(async () => {
        const all = [];
        for await (const blob of store.list(CONTAINER, prefix ? `${prefix}/` : '')) all.push(blob);
        return all;
      });
      const heapHeldByCollect = collected.heapAfter;
      collected.result.length = 0;
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
      if (planned.result.items !== count) throw new Error(`planned ${planned.result.items} items, expected ${count}`);
      rows.push({
        label,
        planSeconds: planned.seconds,
        listSeconds: bare.seconds,
        peakRss: planned.peak,
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
        input: input('table'),
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
      peakRss: table.peak,
      rssBefore: table.rssBefore,
      collectHeap: NaN,
      returned: Buffer.byteLength(JSON.stringify(table.result)),
      miniBatches: table.result.miniBatches,
      pages: table.result.pages,
    });

    // Reading cost of a tabular range: bytes fetched per 1 MiB mini-batch (alignment overhead), middle of a file.
    const blob = 'table/part-3.csv';
    const info = await store.stat(CONTAINER, blob);
    let fetched = 0;
    const read = async (start, end) => {
      const bytes = await store.read(CONTAINER, blob, { start, end });
      fetched += bytes.length;
      return bytes;
    };
    const start = Math.floor(info.size / 2);
    const rangeRead = await measure(() => readRecordsInRange(read, info.size, 'csv', start, start + 1024 * 1024, blob));

    console.log('\ninput            | plan s | bare list s | plan/list | planner peak RSS MiB | collect-all heap MiB | returned B | mini-batches | pages');
    for (const row of rows) {
      console.log(
        `${row.label.padEnd(16)} | ${row.planSeconds.toFixed(2).padStart(6)} | ${Number.isNaN(row.listSeconds) ? '   -' : row.listSeconds.toFixed(2).padStart(11)} | ${Number.isNaN(row.listSeconds) ? '   -' : (row.planSeconds / row.listSeconds).toFixed(2).padStart(9)} | ${mb(row.peakRss).padStart(20)} | ${Number.isNaN(row.collectHeap) ? '   -' : mb(row.collectHeap).padStart(20)} | ${String(row.returned).padStart(10)} | ${String(row.miniBatches).padStart(12)} | ${row.pages}`,
      );
    }
    const [small, large] = rows;
    console.log(
      `\nRSS growth ${SMALL} -> ${LARGE} blobs (peak during planning): ${mb(large.peakRss - small.peakRss)} MiB; returned bytes ratio ${(large.returned / small.returned).toFixed(2)}`,
    );
    console.log(
      `tabular 1 MiB range from the middle of a ${mb(info.size)} MiB file: ${rangeRead.result.length} records, fetched ${mb(fetched)} MiB (${(fetched / (1024 * 1024)).toFixed(2)}x the range) in ${rangeRead.seconds.toFixed(2)} s`,
    );
  } finally {
    child.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
