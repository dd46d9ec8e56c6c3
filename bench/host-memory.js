'use strict';
// Peak memory of the local host and its storage over a no-op job, storage on disk in its own process
// (the default of `host`, `npm start` and `run`) against storage in memory in the host process (what
// `host` and `run` did before). Needs the dist/ build (`npm run build`).
//
//   node bench/host-memory.js                  memory and disk at 10,000, disk at 100,000
//   node bench/host-memory.js --quick          memory and disk at 1,000
//   node bench/host-memory.js one disk 10000   one scenario in this process (prints one JSON line)
//   node bench/host-memory.js one disk 1000000 a million mini-batches (seeding and planning take a while)
//
// The job: this app, a file job over N tiny blobs, mini_batch_size 1, max_concurrency_per_instance 16,
// test/fixtures/tasks/noop.js (as bench/orchestrator.js). Every scenario runs in a fresh child process.
// RSS is sampled every 100 ms from the host (this process) and from the storage process
// (/proc/<pid>/status), from submit to the end of the job; "together" is the peak of their sum.
// Seeding: one blob is uploaded and its record cloned inside Azurite (bench/azurite-seed.js); for disk,
// that happens in a separate process on the data folder, saved, before the host starts its storage on it.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { captureBlobServer, cloneBlobRecords } = require('./azurite-seed');
const {
  MiB,
  PRODUCT_CONTAINERS: CONTAINERS,
  child: runChild,
  historySummary,
  inputName,
  repoRoot,
  rssOf,
  seedFolder,
  sleep,
  tasksRoot,
} = require('./support');

const CONCURRENCY = 16;
const name = (i) => inputName('bench', i);

function sampler(storagePid) {
  const peak = { host: 0, storage: 0, together: 0 };
  const sample = () => {
    const host = process.memoryUsage().rss;
    const storage = storagePid ? rssOf(storagePid) : 0;
    peak.host = Math.max(peak.host, host);
    peak.storage = Math.max(peak.storage, storage);
    peak.together = Math.max(peak.together, host + storage);
  };
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return {
        hostMiB: Math.round(peak.host / MiB),
        storageMiB: Math.round(peak.storage / MiB),
        togetherMiB: Math.round(peak.together / MiB),
      };
    },
  };
}

async function runOne(storage, count) {
  const { startLocalHost } = require('@parallel-job/functions-host');
  const { BlobStore } = require('../dist/src/storage/blobStore');
  const { ParallelJobClient } = require('../dist/src/client/client');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-memory-'));
  const captured = storage === 'memory' ? captureBlobServer() : undefined;
  const seedStarted = performance.now();
  if (storage === 'disk') {
    const seeded = spawnSync(process.execPath, [__filename, 'seed', dataDir, String(count)], {
      stdio: 'inherit',
    });
    if (seeded.status !== 0) throw new Error(`seeding failed (exit ${seeded.status})`);
  }
  const hostStarted = performance.now();
  const host = await startLocalHost({
    appDir: repoRoot,
    port: 0,
    dataDir,
    storage: storage === 'memory' ? 'memory' : 'persist',
    storagePorts: { blob: 0, queue: 0, table: 0 },
    quiet: true,
    logger: () => undefined,
    pollIntervalMs: 600_000,
    settings: { PARALLEL_JOB_TASKS_ROOT: tasksRoot },
  });
  // With storage on disk: the storage process loads the seeded metadata before it serves.
  const hostStartMs = Math.round(performance.now() - hostStarted);
  const store = BlobStore.fromConnectionString(host.connectionString);
  if (captured) {
    for (const container of CONTAINERS) await store.ensureContainer(container);
    await store.write('inputs', name(0), 'item');
    cloneBlobRecords(captured, 'inputs', name, count);
  }
  const seedMs = Math.round(performance.now() - seedStarted);
  const client = new ParallelJobClient({ endpoint: host.url });
  const memory = sampler(host.storage?.pid);
  const statsBefore = host.stats();
  const started = performance.now();
  await client.submit(
    {
      name: 'bench',
      type: 'parallel',
      inputs: { data: { type: 'uri_folder', path: 'inputs/bench' } },
      input_data: '${{inputs.data}}',
      mini_batch_size: '1',
      max_concurrency_per_instance: CONCURRENCY,
      task: {
        type: 'run_function',
        code: '.',
        entry_script: 'noop.js',
      },
    },
    { id: 'bench-job' },
  );
  let view;
  let lastReport = started;
  const phases = {};
  for (;;) {
    view = await client.get('bench-job');
    phases[view.status] ??= Math.round(performance.now() - started);
    if (['Completed', 'Failed', 'Canceled'].includes(view.status)) break;
    if (performance.now() - lastReport > 30_000) {
      lastReport = performance.now();
      console.error(
        `  ${storage} ${count}: ${Math.round((lastReport - started) / 1000)} s ${view.status} ${view.counters.succeeded}/${count}`,
      );
    }
    await sleep(100);
  }
  const wallMs = Math.round(performance.now() - started);
  const peaks = memory.stop();
  const { largestHistory, episodes } = historySummary(statsBefore, host.stats(), count);
  const durable = { largestHistory, episodes, phases, finalizeMs: wallMs - (phases.Finalizing ?? wallMs) };
  if (process.env.HOST_MEMORY_DIAG === '1') {
    const stats = host.stats();
    const before = process.memoryUsage();
    global.gc?.();
    const after = process.memoryUsage();
    console.error(
      JSON.stringify({
        instances: stats.instances,
        rssMiB: Math.round(before.rss / MiB),
        heapUsedMiB: Math.round(before.heapUsed / MiB),
        heapUsedAfterGcMiB: Math.round(after.heapUsed / MiB),
        rssAfterGcMiB: Math.round(after.rss / MiB),
        externalMiB: Math.round(after.external / MiB),
        arrayBuffersMiB: Math.round(after.arrayBuffers / MiB),
      }),
    );
  }
  await host.stop();
  const diskMiB = storage === 'disk' ? Math.round(folderBytes(path.join(dataDir, 'azurite')) / MiB) : 0;
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (view.status !== 'Completed' || view.counters.succeeded !== count)
    throw new Error(
      `job: ${view.status} ${JSON.stringify({ reasons: view.reasons, counters: view.counters })}`,
    );
  return { storage, miniBatches: count, wallMs, seedMs, hostStartMs, ...peaks, diskMiB, ...durable };
}

function folderBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(full) : fs.statSync(full).size;
  }
  return total;
}

const child = (args) => runChild(__filename, args);

async function main() {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'seed') return seedFolder(a, 'bench', Number(b));
  if (mode === 'one') return console.log(JSON.stringify(await runOne(a, Number(b))));
  const quick = process.argv.includes('--quick');
  const at = quick ? 1_000 : 10_000;
  const rows = [child(['one', 'memory', at]), child(['one', 'disk', at])];
  if (!quick && !process.argv.includes('--no-100k')) rows.push(child(['one', 'disk', 100_000]));
  console.log(
    '| storage | mini-batches | wall s | host peak RSS MiB | storage peak RSS MiB | together (peak of the sum) MiB | storage on disk MiB |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.storage === 'memory' ? 'in memory, in the host process' : 'on disk, own process'} | ${r.miniBatches.toLocaleString('en-US')} | ${(r.wallMs / 1000).toFixed(1)} | ${r.hostMiB} | ${r.storage === 'memory' ? '(in host)' : r.storageMiB} | ${r.togetherMiB} | ${r.storage === 'memory' ? '-' : r.diskMiB} |`,
    );
  }
  const [memory, disk] = rows;
  console.log(
    `at ${at}: disk / memory: together ${(disk.togetherMiB / memory.togetherMiB).toFixed(2)}x, wall ${(disk.wallMs / memory.wallMs).toFixed(2)}x`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
