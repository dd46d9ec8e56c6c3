// Per-mini-batch overhead of the warm task pool: a no-op run() through TaskPool.runAttempt (worker thread,
// message port for logs, result accounting) against the same run() called directly in-process.
// Usage: npm run build && node bench/pool-overhead.js [miniBatches] [itemsPerMiniBatch]
const path = require('node:path');
const { TaskPool } = require('../dist/src/task/pool');
const { recordsAttempt, sampleStats, sequentialAttempts } = require('./support');

const miniBatches = Number(process.argv[2] ?? 5000);
const itemsPerMiniBatch = Number(process.argv[3] ?? 10);
const modulePath = path.resolve(__dirname, '../test/fixtures/tasks/noop.js');
const records = Array.from({ length: itemsPerMiniBatch }, (_, id) => ({ id, name: `item-${id}` }));

async function direct() {
  const task = require(modulePath);
  const ctx = { jobId: 'bench', miniBatchIndex: 0, attempt: 1, log() {}, fail() {} };
  const samples = [];
  for (let i = 0; i < miniBatches; i += 1) {
    const started = performance.now();
    // Same work the caller would do without a pool: hand over the records, await, count.
    const result = await task.run(
      records.map((r) => ({ ...r })),
      ctx,
    );
    if (!Array.isArray(result)) throw new Error('bad result');
    samples.push(performance.now() - started);
  }
  return sampleStats(samples);
}

async function pooled() {
  const pool = new TaskPool({ modulePath, maxConcurrency: 1 });
  const samples = await sequentialAttempts(pool, (i) => recordsAttempt(records, i), miniBatches);
  await pool.destroy();
  return sampleStats(samples);
}

async function main() {
  const base = await direct();
  const pool = await pooled();
  const fmt = (x) => x.toFixed(3);
  console.log(
    `mini-batches: ${miniBatches}, items per mini-batch: ${itemsPerMiniBatch}, sequential, maxConcurrency 1`,
  );
  console.log('                       mean ms   p50 ms   p99 ms');
  console.log(
    `direct (in-process)   ${fmt(base.mean).padStart(8)} ${fmt(base.p50).padStart(8)} ${fmt(base.p99).padStart(8)}`,
  );
  console.log(
    `warm pool             ${fmt(pool.mean).padStart(8)} ${fmt(pool.p50).padStart(8)} ${fmt(pool.p99).padStart(8)}`,
  );
  console.log(
    `added per mini-batch  ${fmt(pool.mean - base.mean).padStart(8)} ${fmt(pool.p50 - base.p50).padStart(8)} ${fmt(pool.p99 - base.p99).padStart(8)}`,
  );
  console.log(`ratio pool / direct   ${(pool.mean / base.mean).toFixed(1)}x (mean)`);
  console.log(`target: added mean <= 1 ms -> ${pool.mean - base.mean <= 1 ? 'met' : 'NOT met'}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
