'use strict';
// What the workers' young-generation limit costs and saves: the same allocation-heavy job
// (bench/tasks/allocate.js, 2,000 CSV rows parsed and serialized per item) through a warm pool of 16
// workers, with V8's own young generation (limit 0) against the pool's default limit
// (DEFAULT_WORKER_YOUNG_GENERATION_MB) and a tighter one. Each run is a fresh process; the configurations
// alternate, three rounds, and the table shows the median of each. Needs `npm run build`.
//
//   node bench/worker-heap.js [miniBatches=480] [itemsPerMiniBatch=10]
//   node bench/worker-heap.js one <limitMb> <miniBatches> <items>   one run (prints one JSON line)
const path = require('node:path');
const { TaskPool, DEFAULT_WORKER_YOUNG_GENERATION_MB } = require('../dist/src/task/pool');
const { child, memorySampler, recordsAttempt } = require('./support');

const CONCURRENCY = 16;
const modulePath = path.join(__dirname, 'tasks', 'allocate.js');
async function runOne(limitMb, miniBatches, items) {
  const records = Array.from({ length: items }, (_, id) => ({ id }));
  const memory = memorySampler(50);
  const pool = new TaskPool({ modulePath, maxConcurrency: CONCURRENCY, maxYoungGenerationSizeMb: limitMb });
  const request = (i) => recordsAttempt(records, i, 120);
  // Warm: every thread started and its code compiled before the clock starts.
  await Promise.all(Array.from({ length: CONCURRENCY * 2 }, (_, i) => pool.runAttempt(request(i))));
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < miniBatches) {
      const outcome = await pool.runAttempt(request(next++));
      if (outcome.status !== 'succeeded')
        throw new Error(`attempt failed: ${outcome.code} ${outcome.message}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const wallMs = performance.now() - started;
  const peakRssMiB = memory.stop();
  await pool.destroy();
  return { limitMb, wallMs: Math.round(wallMs), peakRssMiB };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'one') return console.log(JSON.stringify(await runOne(...rest.map(Number))));
  const miniBatches = Number(mode ?? 480);
  const items = Number(rest[0] ?? 10);
  const limits = [0, DEFAULT_WORKER_YOUNG_GENERATION_MB, 8];
  const runs = new Map(limits.map((limit) => [limit, []]));
  for (let round = 0; round < 3; round += 1)
    for (const limit of limits) runs.get(limit).push(child(__filename, ['one', limit, miniBatches, items]));
  const base = runs.get(0);
  const baseWall = median(base.map((r) => r.wallMs));
  console.log(`${miniBatches} mini-batches of ${items} items, ${CONCURRENCY} workers, median of 3 runs each`);
  console.log('| young generation per worker | wall s | wall / V8 default | peak RSS MiB |');
  console.log('|---|---|---|---|');
  for (const limit of limits) {
    const wall = median(runs.get(limit).map((r) => r.wallMs));
    const rss = median(runs.get(limit).map((r) => r.peakRssMiB));
    const label =
      limit === 0
        ? "V8's default"
        : `${limit} MiB${limit === DEFAULT_WORKER_YOUNG_GENERATION_MB ? ' (the default)' : ''}`;
    console.log(`| ${label} | ${(wall / 1000).toFixed(2)} | ${(wall / baseWall).toFixed(2)}x | ${rss} |`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
