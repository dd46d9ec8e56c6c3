'use strict';
// The job orchestrator (root + shards) against the naive fan-out, on the embedded local host (dist/ build:
// run `npm run build` first).
//
//   node bench/orchestrator.js                 naive and ours at 10,000, ours at 100,000, 100 x 5 end to end
//   node bench/orchestrator.js --quick         naive and ours at 1,000, 100 x 5 end to end
//   node bench/orchestrator.js ours 10000      one scenario in this process (prints one JSON line)
//
// Each scenario runs in a fresh child process with its own host and in-memory Azurite, so peak RSS is the
// scenario's own. Baseline, side by side: bench/naive-app, one orchestrator that schedules every no-op
// activity with Task.all (a single history that grows with the job). Ours: this repository's app running
// a file job over N tiny blobs with mini_batch_size 1 and the no-op task (test/fixtures/tasks/noop.js),
// at the same activity concurrency (16, host.json). Wall time is from the start request until a status
// poll (every 20 ms, over HTTP) sees the end.
const path = require('node:path');
const { captureBlobServer } = require('./azurite-seed');
const {
  child: runChild,
  historySummary,
  memorySampler,
  runJob: runJobToEnd,
  seedBlobs,
  sleep,
  startHost,
  startProduct,
} = require('./support');

const CONCURRENCY = 16;
const POLL_MS = 20;

async function runNaive(count, io) {
  const captured = captureBlobServer();
  const { host, stop } = await startHost(path.join(__dirname, 'naive-app'));
  const name = io ? 'NaiveFanOutIo' : 'NaiveFanOut';
  if (io) {
    const { BlobStore } = require('../dist/src/storage/blobStore');
    const store = BlobStore.fromConnectionString(host.connectionString);
    for (const container of ['inputs', 'logs']) await store.ensureContainer(container);
    await seedBlobs(store, captured, 'bench', count);
  }
  const memory = memorySampler();
  const before = host.stats();
  const started = performance.now();
  const reply = await fetch(`${host.url}/durabletask/orchestrators/${name}/naive`, {
    method: 'POST',
    body: JSON.stringify({ count, prefix: 'bench' }),
  });
  if (reply.status !== 202) throw new Error(`naive start failed: ${reply.status} ${await reply.text()}`);
  let status;
  for (;;) {
    status = await (await fetch(`${host.url}/durabletask/instances/naive`)).json();
    if (!['Running', 'Pending'].includes(status.runtimeStatus)) break;
    await sleep(POLL_MS);
  }
  const wallMs = performance.now() - started;
  const peakRssMiB = memory.stop();
  const after = host.stats();
  await stop();
  if (status.runtimeStatus !== 'Completed' || status.output !== count)
    throw new Error(`${name} ${count}: ${status.runtimeStatus} ${JSON.stringify(status.output)}`);
  return {
    scenario: io ? 'naive, storage work' : 'naive, no-op',
    miniBatches: count,
    wallMs: Math.round(wallMs),
    peakRssMiB,
    ...historySummary(before, after, count),
  };
}

function productSpec(prefix) {
  return {
    name: prefix,
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: `inputs/${prefix}` } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    max_concurrency_per_instance: CONCURRENCY,
    task: { type: 'run_function', code: '.', entry_script: 'noop.js' },
  };
}

/** Submits a job over inputs/<prefix> and polls it to the end (or until `limitMs`). */
function runJob(client, prefix, id, count, limitMs = Infinity) {
  return runJobToEnd(client, productSpec(prefix), id, count, { limitMs, pollMs: POLL_MS });
}

async function runOurs(count, limitMs) {
  const product = await startProduct();
  const seedStarted = performance.now();
  await seedBlobs(product.store, product.captured, 'bench', count);
  const seedMs = Math.round(performance.now() - seedStarted);
  const memory = memorySampler();
  const before = product.host.stats();
  const job = await runJob(product.client, 'bench', 'bench-job', count, limitMs);
  const peakRssMiB = memory.stop();
  const after = product.host.stats();
  // Stopped at the time limit: the job is still running, so per-mini-batch figures use the finished ones.
  await product.stop();
  return {
    scenario: 'ours',
    miniBatches: count,
    ...(job.stoppedAtLimit ? { stoppedAtLimit: true, succeededAtLimit: job.succeeded } : {}),
    wallMs: Math.round(job.wallMs),
    phases: job.phases,
    seedMs,
    peakRssMiB,
    ...historySummary(before, after, Math.max(1, job.succeeded)),
  };
}

/** Five 100-mini-batch jobs, one after another on one host (the first pays for warming up). */
async function runEndToEnd(count = 100, runs = 5) {
  const product = await startProduct();
  await seedBlobs(product.store, product.captured, 'small', count);
  const walls = [];
  const phases = [];
  for (let run = 0; run < runs; run += 1) {
    const job = await runJob(product.client, 'small', `small-${run}`, count);
    walls.push(Math.round(job.wallMs));
    phases.push(job.phases);
  }
  await product.stop();
  const sorted = [...walls].sort((a, b) => a - b);
  return {
    scenario: 'end-to-end',
    miniBatches: count,
    walls,
    phases,
    medianMs: sorted[Math.floor(runs / 2)],
  };
}

const child = (args) => runChild(__filename, args);

async function main() {
  const [mode, size] = process.argv.slice(2);
  if (mode === 'naive') return console.log(JSON.stringify(await runNaive(Number(size), false)));
  if (mode === 'naive-io') return console.log(JSON.stringify(await runNaive(Number(size), true)));
  if (mode === 'ours') {
    const limit = process.argv.indexOf('--limit-s');
    const limitMs = limit > 0 ? Number(process.argv[limit + 1]) * 1000 : Infinity;
    return console.log(JSON.stringify(await runOurs(Number(size), limitMs)));
  }
  if (mode === 'end-to-end') return console.log(JSON.stringify(await runEndToEnd(Number(size ?? 100))));

  const quick = process.argv.includes('--quick');
  const compareAt = quick ? 1_000 : 10_000;
  const rows = [child(['naive', compareAt]), child(['naive-io', compareAt]), child(['ours', compareAt])];
  if (!quick) rows.push(child(['ours', 100_000, '--limit-s', 1800]));
  const endToEnd = child(['end-to-end', 100]);

  console.log(
    '| orchestration | mini-batches | wall s | largest history | orchestrations | episodes | events replayed | replayed / mini-batch | peak RSS MiB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.stoppedAtLimit ? `${r.succeededAtLimit} of ${r.miniBatches} (stopped at the time limit)` : r.miniBatches} | ${(r.wallMs / 1000).toFixed(2)} | ${r.largestHistory} | ${r.orchestrations} | ${r.episodes} | ${r.eventsReplayed} | ${r.replayedPerMiniBatch} | ${r.peakRssMiB} |`,
    );
  }
  const [naive, naiveIo, ours] = rows;
  const ratio = (a, b) => (b === 0 ? '-' : (a / b).toFixed(2));
  console.log(
    `at ${compareAt}: ours / naive with storage work: wall ${ratio(ours.wallMs, naiveIo.wallMs)}x, largest history ${ratio(ours.largestHistory, naiveIo.largestHistory)}x, replayed ${ratio(ours.eventsReplayed, naiveIo.eventsReplayed)}x, peak RSS ${ratio(ours.peakRssMiB, naiveIo.peakRssMiB)}x`,
  );
  console.log(
    `at ${compareAt}: ours / naive no-op: wall ${ratio(ours.wallMs, naive.wallMs)}x, largest history ${ratio(ours.largestHistory, naive.largestHistory)}x, replayed ${ratio(ours.eventsReplayed, naive.eventsReplayed)}x, peak RSS ${ratio(ours.peakRssMiB, naive.peakRssMiB)}x`,
  );
  for (const r of rows.filter((row) => row.phases))
    console.log(`ours ${r.miniBatches} phases (ms from submit): ${JSON.stringify(r.phases)}`);
  console.log(
    `${endToEnd.miniBatches}-mini-batch job end to end: median ${endToEnd.medianMs} ms of ${JSON.stringify(endToEnd.walls)}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
