// Per-mini-batch overhead of the warm Python pool: a no-op run() through TaskPool.runAttempt (a long-lived
// Python process, JSON lines on its own pipes, the end markers on stdout and stderr, result accounting)
// against the same run() called in a plain Python loop in one process. Both sides hand over the same
// local paths and count the same results.
// Usage: npm run build && node bench/python-pool.js [miniBatches] [itemsPerMiniBatch] [python]
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { TaskPool } = require('../dist/src/task/pool');
const { poolAttempt, sampleStats, sequentialAttempts } = require('./support');

const miniBatches = Number(process.argv[2] ?? 5000);
const itemsPerMiniBatch = Number(process.argv[3] ?? 10);
const python = process.argv[4] ?? process.env.PARALLEL_JOB_PYTHON ?? 'python3';
const modulePath = path.resolve(__dirname, 'tasks/noop.py');
const folder = mkdtempSync(path.join(os.tmpdir(), 'bench-python-pool-'));
const paths = Array.from({ length: itemsPerMiniBatch }, (_, i) => {
  const file = path.join(folder, `item-${i}.txt`);
  writeFileSync(file, `item ${i}\n`);
  return file;
});

/** The same run() in a plain Python loop: per call, the same list handed over and its length counted. */
function plainLoop() {
  const script = `
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("noop", ${JSON.stringify(modulePath)})
task = importlib.util.module_from_spec(spec); spec.loader.exec_module(task); task.init()
paths = ${JSON.stringify(paths)}
samples = []
for i in range(200 + ${miniBatches}):
    started = time.perf_counter()
    result = task.run(list(paths))
    if not isinstance(result, (list, tuple)): raise SystemExit("bad result")
    rows = "".join(f"{x}\\n" for x in result)
    samples.append((time.perf_counter() - started) * 1000)
print(json.dumps(samples[200:]))
`;
  return sampleStats(
    JSON.parse(execFileSync(python, ['-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })),
  );
}

async function pooled() {
  const pool = new TaskPool({ modulePath, maxConcurrency: 1, python });
  const batch = { kind: 'paths', paths, names: paths.map((p) => path.basename(p)) };
  const samples = await sequentialAttempts(pool, (i) => poolAttempt(batch, i), miniBatches);
  await pool.destroy();
  return sampleStats(samples);
}

async function main() {
  const version = execFileSync(python, ['--version'], { encoding: 'utf8' }).trim();
  const base = plainLoop();
  const pool = await pooled();
  rmSync(folder, { recursive: true, force: true });
  const fmt = (x) => x.toFixed(3);
  console.log(
    `mini-batches: ${miniBatches}, items per mini-batch: ${itemsPerMiniBatch}, sequential, maxConcurrency 1, ${version}`,
  );
  console.log('                          mean ms   p50 ms   p99 ms');
  console.log(
    `plain Python loop       ${fmt(base.mean).padStart(8)} ${fmt(base.p50).padStart(8)} ${fmt(base.p99).padStart(8)}`,
  );
  console.log(
    `warm Python pool        ${fmt(pool.mean).padStart(8)} ${fmt(pool.p50).padStart(8)} ${fmt(pool.p99).padStart(8)}`,
  );
  const added = pool.mean - base.mean;
  console.log(
    `added per mini-batch    ${fmt(added).padStart(8)} ${fmt(pool.p50 - base.p50).padStart(8)} ${fmt(pool.p99 - base.p99).padStart(8)}`,
  );
  console.log(`target: added mean <= 2 ms -> ${added <= 2 ? 'met' : 'NOT met'}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
