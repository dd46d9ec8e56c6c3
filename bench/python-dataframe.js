// Building a pandas DataFrame for a Python task from 100,000 CSV records, against pandas.read_csv of the
// same bytes in one Python process. Ours is the whole path of a table mini-batch after its bytes are read:
// records aligned and checked one by one (bad ones isolated), the good ones written for pandas, handed to
// the warm Python process, read there with read_csv and given to run(). The baseline is read_csv alone.
// Usage: npm run build && node bench/python-dataframe.js [records] [python]
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { scanRecordsInRange } = require('../dist/src/plan/tabular');
const { pythonBatch } = require('../dist/src/activities/pythonBatch');
const { TaskPool } = require('../dist/src/task/pool');
const { poolAttempt } = require('./support');

const records = Number(process.argv[2] ?? 100_000);
const python = process.argv[3] ?? process.env.PARALLEL_JOB_PYTHON ?? '/usr/bin/python3';
const rounds = 7;
const folder = mkdtempSync(path.join(os.tmpdir(), 'bench-python-dataframe-'));

/** A table of mixed columns: integers, quoted strings with commas and quotes, floats, missing values, dates. */
function table() {
  const lines = ['id,name,city,price,quantity,note,day'];
  let seed = 3;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < records; i += 1) {
    const price = next() < 0.05 ? '' : (next() * 1000).toFixed(2);
    const note = next() < 0.3 ? '' : next() < 0.5 ? `"said ""ok"", then left"` : 'plain note';
    lines.push(
      `${i},"Customer ${i}, Ltd",City ${Math.floor(next() * 500)},${price},${Math.floor(next() * 20)},${note},2026-11-${String(1 + (i % 28)).padStart(2, '0')}`,
    );
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

const median = (samples) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)];

function baseline(file) {
  const script = `
import json, sys, time
import pandas as pd
samples = []
for _ in range(${rounds} + 1):
    started = time.perf_counter()
    frame = pd.read_csv(${JSON.stringify(file)})
    samples.append((time.perf_counter() - started) * 1000)
    assert len(frame) == ${records}
print(json.dumps(samples[1:]))
`;
  return JSON.parse(execFileSync(python, ['-c', script], { encoding: 'utf8' }));
}

async function ours(bytes) {
  const pool = new TaskPool({
    modulePath: path.resolve(__dirname, 'tasks/frame.py'),
    maxConcurrency: 1,
    python,
  });
  const read = (start, end) => Promise.resolve(bytes.subarray(start, end));
  const samples = [];
  for (let round = 0; round < rounds + 1; round += 1) {
    const attemptDir = path.join(folder, `attempt-${round}`);
    const started = performance.now();
    const scanned = await scanRecordsInRange(read, bytes.length, 'csv', 0, bytes.length, 'bench.csv', {
      keepText: true,
      chunkBytes: bytes.length,
    });
    const scannedAt = performance.now();
    const batch = await pythonBatch(
      undefined,
      { accountUrl: '', container: '', prefix: '' },
      { kind: 'records', records: scanned.records },
      { format: 'csv', parts: [scanned.text] },
      attemptDir,
    );
    const writtenAt = performance.now();
    const outcome = await pool.runAttempt(
      poolAttempt(batch, round, { timeoutSeconds: 600, appendRows: false }),
    );
    const elapsed = performance.now() - started;
    if (outcome.status !== 'succeeded' || outcome.succeeded !== records)
      throw new Error(`attempt: ${outcome.status} ${outcome.code ?? ''} ${outcome.message ?? ''}`);
    // The first round starts the process and imports pandas (init), which the baseline's does too.
    if (round > 0)
      samples.push({
        total: elapsed,
        scan: scannedAt - started,
        write: writtenAt - scannedAt,
        worker: performance.now() - writtenAt,
        run: outcome.timings.runMs,
      });
    rmSync(attemptDir, { recursive: true, force: true });
  }
  await pool.destroy();
  return samples;
}

async function main() {
  const bytes = table();
  const file = path.join(folder, 'table.csv');
  writeFileSync(file, bytes);
  const version = execFileSync(
    python,
    ['-c', 'import sys, pandas; print(sys.version.split()[0], pandas.__version__)'],
    {
      encoding: 'utf8',
    },
  ).trim();
  const base = median(baseline(file));
  const ourSamples = await ours(bytes);
  const total = median(ourSamples.map((s) => s.total));
  rmSync(folder, { recursive: true, force: true });
  console.log(
    `records: ${records.toLocaleString('en-US')} (${(bytes.length / 1024 / 1024).toFixed(1)} MiB of CSV), ${rounds} rounds, medians; Python ${version.replace(' ', ', pandas ')}`,
  );
  console.log(`pandas.read_csv in one process        ${base.toFixed(1).padStart(8)} ms`);
  console.log(`ours, bytes to DataFrame in run()      ${total.toFixed(1).padStart(8)} ms`);
  const part = (key) => median(ourSamples.map((s) => s[key])).toFixed(1);
  console.log(`  records checked and aligned          ${part('scan').padStart(8)} ms`);
  console.log(`  good records written for pandas      ${part('write').padStart(8)} ms`);
  console.log(`  the Python attempt (read_csv, run)   ${part('worker').padStart(8)} ms`);
  console.log(
    `ratio                                  ${(total / base).toFixed(2)}x  (target <= 1.3x: ${total / base <= 1.3 ? 'met' : 'NOT met'})`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
