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

/**
 * Samples this process's RSS every `intervalMs`, and a storage process's when given; stop() returns the
 * peak in MiB (of this process plus the storage's, sampled together).
 */
function memorySampler(intervalMs = 25, storagePid = undefined) {
  let peakRss = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss + (storagePid ? rssOf(storagePid) : 0));
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

/** A task pool's view of a job with no inputs, outputs or arguments. */
const benchJob = {
  jobId: 'bench',
  argv: [],
  inputs: {},
  outputs: {},
  localInputs: {},
  folderOutputs: [],
  environmentVariables: {},
  loggingLevel: 'INFO',
};

/** What a task pool attempt of this batch asks for, for that job. */
function poolAttempt(batch, miniBatchIndex, { timeoutSeconds = 60, appendRows = true } = {}) {
  return { job: benchJob, batch, miniBatchIndex, attempt: 1, timeoutSeconds, appendRows };
}

/** What a task pool attempt of these records asks for. */
function recordsAttempt(records, miniBatchIndex, timeoutSeconds = 60) {
  return poolAttempt({ kind: 'records', records }, miniBatchIndex, { timeoutSeconds });
}

/**
 * Runs `count` attempts one after another through a warm pool (after `warmup` that are not measured) and
 * returns each one's milliseconds; an attempt that does not succeed stops the benchmark.
 */
async function sequentialAttempts(pool, request, count, warmup = 200) {
  for (let i = 0; i < warmup; i += 1) await pool.runAttempt(request(i));
  const samples = [];
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    const outcome = await pool.runAttempt(request(i));
    if (outcome.status !== 'succeeded') throw new Error(`attempt failed: ${outcome.code} ${outcome.message}`);
    samples.push(performance.now() - started);
  }
  return samples;
}

/** Mean, median and 99th percentile of samples. */
function sampleStats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  return { mean, p50: at(0.5), p99: at(0.99) };
}

/** Durable figures between two `host.stats()` snapshots (LocalHostStats of @parallel-job/functions-host). */
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
/**
 * The local host on `appDir`. Storage 'memory': Azurite in this process, in memory (what the e2e tests
 * use). Storage 'disk': what `host`, `npm start` and `run` use by default, Azurite in a process of its
 * own with its data in the folder (`dataDir`, which may hold blobs seeded by seedFolder()).
 */
async function startHost(appDir, settings, { storage = 'memory', dataDir } = {}) {
  const { startLocalHost } = require('@parallel-job/functions-host');
  const folder = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-'));
  const host = await startLocalHost({
    appDir,
    port: 0,
    dataDir: folder,
    ...(storage === 'disk'
      ? { storage: 'persist', storagePorts: { blob: 0, queue: 0, table: 0 } }
      : { storage: 'memory' }),
    quiet: true,
    logger: () => undefined,
    pollIntervalMs: 600_000,
    settings,
  });
  return {
    host,
    async stop() {
      await host.stop();
      fs.rmSync(folder, { recursive: true, force: true });
    },
  };
}

/**
 * This app on the local host (tasks from test/fixtures/tasks), its containers created; with a BlobStore
 * on its storage and a ParallelJobClient. `seed`: N input blobs under inputs/<prefix>/, cloned inside
 * Azurite (in memory: after the host starts; on disk: into the folder before it starts, in a process of
 * its own, so that the storage process starts with them as it would with a user's data).
 */
async function startProduct({ storage = 'memory', seed } = {}) {
  const captured = storage === 'memory' ? captureBlobServer() : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-'));
  if (storage === 'disk' && seed) seedFolderInChild(dataDir, seed.prefix, seed.count);
  const { host, stop } = await startHost(
    repoRoot,
    { PARALLEL_JOB_TASKS_ROOT: tasksRoot },
    { storage, dataDir },
  );
  const { BlobStore } = require('../dist/src/storage/blobStore');
  const { ParallelJobClient } = require('../dist/src/client/client');
  const store = BlobStore.fromConnectionString(host.connectionString);
  for (const container of PRODUCT_CONTAINERS) await store.ensureContainer(container);
  if (storage === 'memory' && seed) await seedBlobs(store, captured, seed.prefix, seed.count);
  return {
    host,
    stop,
    store,
    captured,
    storagePid: host.storage?.pid,
    client: new ParallelJobClient({ endpoint: host.url }),
  };
}

/** Seeds the data folder's storage with N input blobs (seedFolder) in a child process. */
function seedFolderInChild(dataDir, prefix, count) {
  const seeded = spawnSync(process.execPath, [__filename, 'seed-folder', dataDir, prefix, String(count)], {
    stdio: 'inherit',
  });
  if (seeded.status !== 0) throw new Error(`seeding ${dataDir} failed (exit ${seeded.status})`);
}

/** Starts Azurite on `dataDir`'s storage folder, clones N input blobs into it and saves it. */
async function seedFolder(dataDir, prefix, count) {
  const { startAzurite } = require('@parallel-job/functions-host');
  const { BlobStore } = require('../dist/src/storage/blobStore');
  const captured = captureBlobServer();
  const azurite = await startAzurite({ dataDir: path.join(dataDir, 'azurite') });
  const store = BlobStore.fromConnectionString(azurite.connectionString);
  for (const container of PRODUCT_CONTAINERS) await store.ensureContainer(container);
  await store.write('inputs', inputName(prefix, 0), 'item');
  cloneBlobRecords(captured, 'inputs', (i) => inputName(prefix, i), count);
  await azurite.stop(); // saves the metadata
}

/** RSS of another process (0 once it has gone). */
function rssOf(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
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
  benchJob,
  poolAttempt,
  sampleStats,
  sequentialAttempts,
  child,
  historySummary,
  inputName,
  memorySampler,
  recordsAttempt,
  repoRoot,
  rssOf,
  runJob,
  seedBlobs,
  seedFolder,
  sleep,
  startHost,
  startProduct,
  tasksRoot,
};

if (require.main === module && process.argv[2] === 'seed-folder') {
  const [dataDir, prefix, count] = process.argv.slice(3);
  seedFolder(dataDir, prefix, Number(count)).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
