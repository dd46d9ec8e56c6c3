'use strict';
// What dispatching mini-batches costs: a job of N no-op mini-batches through this app against the storage
// work such a job cannot avoid, done directly, side by side in one run, on the embedded local host (dist/
// build: run `npm run build` first).
//
//   node bench/dispatch.js                  N = 2,000 and 10,000
//   node bench/dispatch.js --quick          N = 500
//   node bench/dispatch.js 3000             N = 3,000
//   node bench/dispatch.js --quick --sleep  and the 1 s task scenario (320 mini-batches): lane utilisation
//   node bench/dispatch.js ours 2000        one scenario in this process (ours, bare or sleep; one JSON line)
//   node bench/dispatch.js --storage disk 10000 100000   storage as `host` and `run` keep it by default
//
// Every scenario runs in a fresh child process with its own local host. Storage: `--storage disk` is what
// `host`, `npm start` and `run` use by default (Azurite in a process of its own, data in a folder; inputs
// cloned into the folder before the host starts); without it, Azurite runs in memory in the host's
// process (as the e2e tests and bench/orchestrator.js). Inputs: N blobs of a few bytes under
// inputs/bench/ (in memory: uploaded over HTTP up to 2,000, records cloned inside Azurite beyond).
// Concurrency 16 on both sides. Peak RSS: the process, plus the storage process with --storage disk.
//
// - ours: a file job, mini_batch_size 1, max_concurrency_per_instance 16, instance_count 1,
//   test/fixtures/tasks/noop-rows.js (one row per file, reads nothing), append_row to a uri_folder output,
//   so every mini-batch stages one block of the output blob and finalize commits them in order. Wall time
//   from submit until a status poll (every 20 ms) sees Completed. Durable figures from host.stats() over
//   the job: activity executions, orchestrator episodes, work items per mini-batch = (activities +
//   episodes) / N, the largest single history. Peak RSS of the process (host, Azurite, workers' heaps).
// - bare: against the same kind of host and storage in a fresh process, with the same store class
//   (src/storage/blobStore.ts), 16 at a time: list inputs/bench/, read each input blob, stage one block per
//   mini-batch (the row the task returns) on one output blob, then commit the block list in order.
//
// For each N the order is bare, ours, bare; "bare" is the mean of the two, so neither side gets the
// machine's quieter moment. Prints one JSON line per scenario and a markdown table.
//
// --sleep: 320 mini-batches of one file whose task (test/fixtures/tasks/sleep1s.js) sleeps 1 s, instance_count
// 1, max_concurrency_per_instance 16 (ideal: 20 s). Utilisation = sum of attempt durations (the attempt
// records' timings.totalMs) / (16 x (last attempt end - first attempt start)).
const { child: runChild, historySummary, memorySampler, runJob, startProduct } = require('./support');

const CONCURRENCY = 16;
const SLEEP_MINI_BATCHES = 320;
const PREFIX = 'bench';
const ROW_FILE = 'parallel_run_step.txt';

function jobSpec(id, entryScript) {
  return {
    name: id,
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: `inputs/${PREFIX}` } },
    outputs: { result: { type: 'uri_folder' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    max_concurrency_per_instance: CONCURRENCY,
    resources: { instance_count: 1 },
    task: {
      type: 'run_function',
      code: '.',
      entry_script: entryScript,
      append_row_to: '${{outputs.result}}',
    },
  };
}

/** Runs `work(item)` over `items`, `concurrency` at a time. */
async function eachLimited(items, concurrency, work) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}

/** The job's append_row blob has one row per mini-batch (a check that the output was written). */
async function checkRows(store, blob, count) {
  const text = await store.readText('outputs', blob);
  const rows = text.split('\n').filter(Boolean).length;
  if (rows !== count) throw new Error(`outputs/${blob}: ${rows} rows, expected ${count}`);
}

async function runOurs(count, storage) {
  const seedStarted = performance.now();
  const product = await startProduct({ storage, seed: { prefix: PREFIX, count } });
  const seedMs = Math.round(performance.now() - seedStarted);
  const id = 'dispatch-job';
  const memory = memorySampler(25, product.storagePid);
  const before = product.host.stats();
  const job = await runJob(product.client, jobSpec(id, 'noop-rows.js'), id, count);
  const peakRssMiB = memory.stop();
  const after = product.host.stats();
  await checkRows(product.store, `${id}/result/${ROW_FILE}`, count);
  await product.stop();
  const activities = after.activitiesExecuted - before.activitiesExecuted;
  const summary = historySummary(before, after, count);
  const perMiniBatch = (n) => Math.round((n / count) * 1000) / 1000;
  return {
    scenario: 'ours',
    storage,
    miniBatches: count,
    wallMs: Math.round(job.wallMs),
    phases: job.phases,
    seedMs,
    peakRssMiB,
    activitiesExecuted: activities,
    activitiesPerMiniBatch: perMiniBatch(activities),
    episodesPerMiniBatch: perMiniBatch(summary.episodes),
    workItemsPerMiniBatch: perMiniBatch(activities + summary.episodes),
    ...summary,
  };
}

async function runBare(count, storage) {
  // The same host as ours (idle), so the process, its Azurite and its store are set up alike.
  const seedStarted = performance.now();
  const product = await startProduct({ storage, seed: { prefix: PREFIX, count } });
  const seedMs = Math.round(performance.now() - seedStarted);
  const { store } = product;
  const { outputBlockId } = require('../dist/src/storage/layout');
  const blob = `bare/result/${ROW_FILE}`;
  const memory = memorySampler(25, product.storagePid);
  const started = performance.now();
  const names = [];
  for await (const info of store.list('inputs', `${PREFIX}/`)) names.push(info.name);
  if (names.length !== count) throw new Error(`listed ${names.length} inputs, expected ${count}`);
  const listed = performance.now();
  const blockIds = names.map((_, index) => outputBlockId(1, index, 1));
  await eachLimited(
    names.map((name, index) => ({ name, index })),
    CONCURRENCY,
    async ({ name, index }) => {
      await store.read('inputs', name);
      const row = `${name.split('/').pop()}\n`;
      await store.stageBlock('outputs', blob, blockIds[index], Buffer.from(row, 'utf8'));
    },
  );
  const staged = performance.now();
  await store.commitBlocks('outputs', blob, blockIds, { contentType: 'text/plain; charset=utf-8' });
  const wallMs = performance.now() - started;
  const phases = {
    listMs: Math.round(listed - started),
    readAndStageMs: Math.round(staged - listed),
    commitMs: Math.round(performance.now() - staged),
  };
  const peakRssMiB = memory.stop();
  await checkRows(store, blob, count);
  await product.stop();
  return {
    scenario: 'bare',
    storage,
    miniBatches: count,
    wallMs: Math.round(wallMs),
    phases,
    seedMs,
    peakRssMiB,
  };
}

/** Lane utilisation of a job of 1 s mini-batches, from its attempt records. */
async function runSleep(count, storage) {
  const product = await startProduct({ storage, seed: { prefix: PREFIX, count } });
  const { store } = product;
  const id = 'sleep-job';
  const before = product.host.stats();
  const job = await runJob(product.client, jobSpec(id, 'sleep1s.js'), id, count);
  const after = product.host.stats();
  const { listAttemptRecordPages } = require('../dist/src/activities/attemptRecord');
  const attempts = [];
  for await (const page of listAttemptRecordPages(store, 'logs', id)) {
    for (const record of page) {
      const start = Date.parse(record.startedAt);
      attempts.push({ start, end: start + record.timings.totalMs, ...record.timings });
    }
  }
  await product.stop();
  const first = Math.min(...attempts.map((a) => a.start));
  const last = Math.max(...attempts.map((a) => a.end));
  const spanMs = last - first;
  const sum = (key) => attempts.reduce((total, a) => total + a[key], 0);
  // The most attempts running at once (sweep over starts and ends; an end before a start at the same ms).
  const events = attempts.flatMap((a) => [
    [a.start, 1],
    [a.end, -1],
  ]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let running = 0;
  let mostAtOnce = 0;
  for (const [, change] of events) mostAtOnce = Math.max(mostAtOnce, (running += change));
  const activities = after.activitiesExecuted - before.activitiesExecuted;
  const round3 = (x) => Math.round(x * 1000) / 1000;
  return {
    scenario: 'sleep 1 s',
    storage,
    miniBatches: count,
    attempts: attempts.length,
    wallMs: Math.round(job.wallMs),
    idealMs: Math.ceil(count / CONCURRENCY) * 1000,
    spanMs: Math.round(spanMs),
    utilisation: round3(sum('totalMs') / (CONCURRENCY * spanMs)),
    taskRunUtilisation: round3(sum('runMs') / (CONCURRENCY * spanMs)),
    meanAttemptMs: Math.round(sum('totalMs') / attempts.length),
    mostAtOnce,
    activitiesExecuted: activities,
    episodes: after.episodes - before.episodes,
  };
}

const fixed = (ms) => (ms / 1000).toFixed(2);
const thousands = (n) => n.toLocaleString('en-US');

async function main() {
  const args = process.argv.slice(2);
  const [mode, size] = args;
  const storage = args.includes('--storage') ? args[args.indexOf('--storage') + 1] : 'memory';
  if (!['memory', 'disk'].includes(storage)) throw new Error('--storage memory|disk');
  const scenarios = { ours: runOurs, bare: runBare, sleep: runSleep };
  if (mode in scenarios) {
    const count = Number(size ?? (mode === 'sleep' ? SLEEP_MINI_BATCHES : 500));
    return console.log(JSON.stringify(await scenarios[mode](count, storage)));
  }
  const positional = args.filter((arg) => /^\d+$/.test(arg)).map(Number);
  const child = (scenario) => runChild(__filename, [...scenario, '--storage', storage]);
  const sizes = positional.length > 0 ? positional : args.includes('--quick') ? [500] : [2_000, 10_000];

  const rows = [];
  for (const count of sizes) {
    const bareFirst = child(['bare', count]);
    const ours = child(['ours', count]);
    const bareAgain = child(['bare', count]);
    rows.push({
      count,
      ours,
      bareMs: (bareFirst.wallMs + bareAgain.wallMs) / 2,
      bares: [bareFirst, bareAgain],
    });
  }
  const sleepRow = args.includes('--sleep') ? child(['sleep', SLEEP_MINI_BATCHES]) : undefined;

  for (const { ours, bares } of rows) {
    for (const row of [bares[0], ours, bares[1]]) console.log(JSON.stringify(row));
  }
  if (sleepRow) console.log(JSON.stringify(sleepRow));
  console.log(
    '| mini-batches | ours s | bare s | ours / bare | mini-batches/s (ours) | activity executions / mini-batch | episodes / mini-batch | work items / mini-batch | largest history | peak RSS MiB (ours) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const { count, ours, bareMs, bares } of rows) {
    console.log(
      `| ${thousands(count)} | ${fixed(ours.wallMs)} | ${fixed(bareMs)} (${fixed(bares[0].wallMs)}, ${fixed(bares[1].wallMs)}) | ${(ours.wallMs / bareMs).toFixed(2)} | ${Math.round(count / (ours.wallMs / 1000))} | ${ours.activitiesPerMiniBatch} | ${ours.episodesPerMiniBatch} | ${ours.workItemsPerMiniBatch} | ${thousands(ours.largestHistory)} | ${ours.peakRssMiB} |`,
    );
  }
  if (sleepRow) {
    console.log(
      `sleep 1 s x ${sleepRow.miniBatches} at ${CONCURRENCY} lanes: wall ${fixed(sleepRow.wallMs)} s (ideal ${fixed(sleepRow.idealMs)} s), attempts from first start to last end ${fixed(sleepRow.spanMs)} s, lane utilisation ${sleepRow.utilisation} (task run time alone ${sleepRow.taskRunUtilisation}), mean attempt ${sleepRow.meanAttemptMs} ms, at most ${sleepRow.mostAtOnce} at once`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
