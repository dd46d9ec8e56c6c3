// Per-mini-batch overhead of the warm task pool: a no-op run() through TaskPool.runAttempt (worker thread,
// message port for logs, result accounting) against the same run() called directly in-process.
// Usage: npm run build && node bench/pool-overhead.js [miniBatches] [itemsPerMiniBatch]
const path = require('node:path');
const { TaskPool } = require('../dist/src/task/pool');
const { recordsAttempt } = require('./support');

const miniBatches = Number(process.argv[2] ?? 5000);
const itemsPerMiniBatch = Number(process.argv[3] ?? 10);
const modulePath = path.resolve(__dirname, '../test/fixtures/tasks/noop.js');
const records = Array.from({ length: itemsPerMiniBatch }, (_, id) => ({ id, name: `item-${id}` }));

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  return { mean, p50: at(0.5), p99: at(0.99) };
}

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
  return stats(samples);
}

async function pooled() {
  const pool = new TaskPool({ modulePath, maxConcurrency: 1 });
  const request = (i) => recordsAttempt(records, i);
  for (let i = 0; i < 200; i += 1) await pool.runAttempt(request(i)); // warm: thread started, init() done, JIT
  const samples = [];
  for (let i = 0; i < miniBatches; i += 1) {
    const started = performance.now();
    const outcome = await pool.runAttempt(request(i));
    if (outcome.status !== 'succeeded') throw new Error(`attempt failed: ${outcome.code} ${outcome.message}`);
    samples.push(performance.now() - started);
  }
  await pool.destroy();
  return stats(samples);
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
