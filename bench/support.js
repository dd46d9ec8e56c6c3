'use strict';
// Helpers shared by the benchmarks that run this app on the embedded local host (dist/ build: run
// `npm run build` first): seeding input blobs, sampling peak RSS, summarizing durable histories, starting a
// host with in-memory storage, running a job to its end, and running a scenario in a fresh child process.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { captureBlobServer, cloneBlobRecords } = require('./azurite-seed');

const repoRoot = path.join(__dirname, '..');
const tasksRoot = path.join(repoRoot, 'test', 'fixtures', 'tasks');
const PRODUCT_CONTAINERS = ['jobs', 'inputs', 'outputs', 'logs', 'schedules'];
const MiB = 2 ** 20;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The name of input blob `i` under `prefix`. */
const inputName = (prefix, i) => `${prefix}/f-${String(i).padStart(7, '0')}.txt`;

/**
 * N blobs of a few bytes under inputs/<prefix>/. Up to 2,000 are uploaded over HTTP in parallel batches;
 * beyond that their records are cloned inside Azurite (bench/azurite-seed.js).
 */
async function seedBlobs(store, captured, prefix, count) {
  const name = (i) => inputName(prefix, i);
  if (count <= 2000) {
    for (let i = 0; i < count; i += 200) {
      const batch = [];
      for (let j = i; j < Math.min(count, i + 200); j += 1)
        batch.push(store.write('inputs', name(j), `item ${j}`));
      await Promise.all(batch);
    }
    return;
  }
  await store.write('inputs', name(0), 'item');
  cloneBlobRecords(captured, 'inputs', name, count);
}

/** Samples this process's RSS every `intervalMs`; stop() returns the peak in MiB. */
function memorySampler(intervalMs = 25) {
  let peakRss = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Math.round(peakRss / MiB);
    },
  };
}

/** Durable figures between two `host.stats()` snapshots (src/local/durable/engine.ts EngineStats). */
function historySummary(before, after, miniBatches) {
  let largest = { id: '', length: 0 };
  let orchestrations = 0;
  for (const [id, entry] of Object.entries(after.histories)) {
    if ((before.histories[id]?.episodes ?? 0) === entry.episodes) continue;
    orchestrations += 1;
    if (entry.maxHistoryLength > largest.length) largest = { id, length: entry.maxHistoryLength };
  }
  const replayed = after.eventsReplayed - before.eventsReplayed;
  return {
    largestHistory: largest.length,
    largestHistoryId: largest.id,
    orchestrations,
    episodes: after.episodes - before.episodes,
    eventsReplayed: replayed,
    replayedPerMiniBatch: Math.round((replayed / miniBatches) * 100) / 100,
  };
}

/** The embedded local host with storage in memory (Azurite in this process), on a temporary data folder. */
async function startHost(appDir, settings) {
  const { startLocalHost } = require('../dist/src/local');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-'));
  const host = await startLocalHost({
    appDir,
    port: 0,
    dataDir,
    storage: 'memory',
    quiet: true,
    pollIntervalMs: 600_000,
    settings,
  });
  return {
    host,
    async stop() {
      await host.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * This app on the local host (storage in memory, tasks from test/fixtures/tasks), its containers created;
 * with a BlobStore on its storage, a ParallelJobClient, and Azurite's captured blob server for seeding.
 */
async function startProduct() {
  const captured = captureBlobServer();
  const { host, stop } = await startHost(repoRoot, { PARALLEL_JOB_TASKS_ROOT: tasksRoot });
  const { BlobStore } = require('../dist/src/storage/blobStore');
  const { ParallelJobClient } = require('../dist/src/client/client');
  const store = BlobStore.fromConnectionString(host.connectionString);
  for (const container of PRODUCT_CONTAINERS) await store.ensureContainer(container);
  return { host, stop, store, captured, client: new ParallelJobClient({ endpoint: host.url }) };
}

/**
 * Submits a job and polls it (every `pollMs`) to the end, or until `limitMs`; returns wall time, when each
 * phase was first seen, and how many mini-batches had succeeded. A job that does not complete with all
 * `count` mini-batches succeeded throws.
 */
async function runJob(client, spec, id, count, { limitMs = Infinity, pollMs = 20 } = {}) {
  const started = performance.now();
  await client.submit(spec, { id });
  const phases = {};
  let view;
  let lastReport = started;
  for (;;) {
    view = await client.get(id);
    const phase = view.status;
    if (!(phase in phases)) phases[phase] = Math.round(performance.now() - started);
    if (['Completed', 'Failed', 'Canceled'].includes(phase)) break;
    if (performance.now() - started > limitMs) {
      const done = view.counters?.succeeded ?? 0;
      return { wallMs: performance.now() - started, phases, succeeded: done, stoppedAtLimit: true };
    }
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const c = view.counters ?? {};
      console.error(`  ${id} ${Math.round(lastReport - started)} ms: ${phase} ${c.succeeded}/${count}`);
    }
    await sleep(pollMs);
  }
  const wallMs = performance.now() - started;
  if (view.status !== 'Completed' || view.counters?.succeeded !== count) {
    throw new Error(`job ${id}: ${view.status} ${JSON.stringify(view).slice(0, 800)}`);
  }
  return { wallMs, phases, succeeded: count };
}

/**
 * Runs `node <file> ...args` in a fresh process (stderr passed through) and returns its last stdout line
 * parsed as JSON: one scenario's result.
 */
function child(file, args) {
  const result = spawnSync(process.execPath, [file, ...args.map(String)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = result.stdout.trim().split('\n').pop();
  if (result.status !== 0 || !line) throw new Error(`${args.join(' ')} failed (exit ${result.status})`);
  console.error(`  ${args.join(' ')}: ${line}`);
  return JSON.parse(line);
}

module.exports = {
  MiB,
  PRODUCT_CONTAINERS,
  child,
  historySummary,
  inputName,
  memorySampler,
  repoRoot,
  runJob,
  seedBlobs,
  sleep,
  startHost,
  startProduct,
  tasksRoot,
};
