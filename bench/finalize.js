// Finalize benchmark: the log files of a job of 10,000 and 100,000 mini-batches (one attempt each, 1 in 100
// partial with a failed item), written by today's streaming finalize and, side by side in the same run,
// by the in-memory finalize it replaced (bench/finalize-in-memory.js).
//
//   node bench/finalize.js            (or: node bench/finalize.js --quick for 2,000 / 20,000;
//                                      --million for 1,000,000, without the in-memory baseline)
//
// Azurite runs in a child process, seeded with the attempt records such a job leaves: one file per group
// call (GROUP attempts) in a folder per shard (SHARD mini-batches); each measurement runs in a fresh
// process of its own, so the peak RSS reported is that finalize's alone.
// Modes: `in-memory` (manifest, CSV and failed items built in memory), `streamed` (the same files, the
// `reports` step), `finalize` (all four steps: job_result first, reports, output commit, job_result last).
'use strict';
require('tsx/cjs'); // load src/*.ts directly, so the benchmark does not depend on this app's build
const { fork } = require('node:child_process');
const os = require('node:os');

const quick = process.argv.includes('--quick');
// `--million`: 1,000,000 mini-batches, streamed and full finalize only (the in-memory baseline would hold
// a million records).
const million = process.argv.includes('--million');
const SIZES = million ? [1_000_000] : quick ? [2_000, 20_000] : [10_000, 100_000];
const LOGS = 'logs';
const OUTPUTS = 'outputs';
const MODES = ['in-memory', 'streamed', 'finalize'];
const SHARD = 2048;
const GROUP = 512;

function record(jobId, miniBatches, accountUrl) {
  const { effectiveJobSchema } = require('../src/job/effective');
  const { resolveJob } = require('../src/job/resolve');
  const { parseJobValue } = require('../src/job/load');
  const loaded = parseJobValue({
    type: 'parallel',
    name: 'finalize-bench',
    inputs: { data: { type: 'uri_folder', path: 'inputs/in/' } },
    outputs: { scores: { type: 'uri_folder' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    task: {
      type: 'run_function',
      code: './src',
      entry_script: 'noop.js',
      append_row_to: '${{outputs.scores}}',
    },
  });
  const job = effectiveJobSchema.parse(
    resolveJob(loaded.spec, { jobId, outputRoot: `${OUTPUTS}/${jobId}`, warnings: loaded.warnings }),
  );
  const perBlob = 50_000;
  return {
    jobId,
    generation: 0,
    job,
    plan: {
      kind: 'files',
      input: { accountUrl, container: 'inputs', prefix: 'in/' },
      miniBatches,
      bytes: 0,
      pageSize: 1000,
      pages: Math.ceil(miniBatches / 1000),
    },
    tasksRoot: '/app/tasks',
    appendRow: {
      container: OUTPUTS,
      blobs: Array.from(
        { length: Math.ceil(miniBatches / perBlob) },
        (_, i) => `${jobId}/parallel_run_step_${String(i).padStart(5, '0')}.txt`,
      ),
      miniBatchesPerBlob: perBlob,
    },
    createdAt: new Date().toISOString(),
    outputOwner: jobId,
  };
}

// ---------------------------------------------------------------------------------------------------
// Child: Azurite in memory; per size, a job record and one attempt record cloned N times with its
// receipt metadata rewritten (listing reads the metadata; a partial attempt's body names its failed item).
if (process.argv[2] === '--serve') {
  (async () => {
    const { startAzurite } = require('@parallel-job/functions-host');
    const { BlobStore } = require('../src/storage/blobStore');
    const { writeGroupRecords } = require('../src/activities/attemptRecord');
    const { jobFolder } = require('../src/storage/layout');
    const azurite = await startAzurite();
    const store = BlobStore.fromConnectionString(azurite.connectionString);
    await store.ensureContainer(LOGS);
    await store.ensureContainer(OUTPUTS);
    for (const size of SIZES) {
      const jobId = `fin-${size}`;
      await store.writeJson(LOGS, jobFolder(jobId).jobRecord, record(jobId, size, store.accountUrl));
      const attempt = (index) => {
        const partial = index % 100 === 50;
        return {
          receipt: {
            index,
            attempt: 1,
            status: partial ? 'partial' : 'succeeded',
            items: 1,
            succeeded: partial ? 0 : 1,
            failed: partial ? 1 : 0,
            rows: 0,
            retryable: true,
            durationMs: 3,
          },
          failedItems: partial ? [{ item: 'in/file.txt', error: 'Error: bad record' }] : [],
          warnings: [],
          startedAt: new Date().toISOString(),
        };
      };
      // As the job would leave them: shards of SHARD mini-batches, group calls of GROUP attempts each.
      const files = [];
      for (let start = 0; start < size; start += GROUP) files.push(start);
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let start = files.shift(); start !== undefined; start = files.shift()) {
            const records = [];
            for (let i = start; i < Math.min(size, start + GROUP); i += 1) records.push(attempt(i));
            const where = { shard: Math.floor(start / SHARD), group: (start % SHARD) / GROUP };
            await writeGroupRecords(store, LOGS, jobId, where, records);
          }
        }),
      );
    }
    process.send({ connectionString: azurite.connectionString });
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
  return;
}

// ---------------------------------------------------------------------------------------------------
// Child: one measurement.
if (process.argv[2] === '--measure') {
  (async () => {
    const [, , , mode, size, connectionString] = process.argv;
    const { BlobStore } = require('../src/storage/blobStore');
    const { AccessPolicy } = require('../src/storage/access');
    const { finalizeActivity } = require('../src/activities/finalize');
    const { readJobRecord } = require('../src/storage/jobRecord');
    const { emptyCounters } = require('../src/orchestration/counters');
    const attemptRecord = require('../src/activities/attemptRecord');
    const manifest = require('../src/activities/manifest');
    const { planPageSchema } = require('../src/plan/descriptor');
    const { jobFolder } = require('../src/storage/layout');
    const { finalizeReportsInMemory } = require('./finalize-in-memory');
    const store = BlobStore.fromConnectionString(connectionString);
    const access = new AccessPolicy({
      appAccountUrl: store.accountUrl,
      readable: [],
      writable: [OUTPUTS],
      reserved: { [LOGS]: 'the job logs container' },
      reservedPrefixes: {},
    });
    const deps = { store, logsContainer: LOGS, access };
    const jobId = `fin-${size}`;
    const end = {
      jobId,
      planned: true,
      status: 'Completed',
      reasons: [],
      counters: emptyCounters(Number(size)),
      errors: [],
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
    };
    const started = process.hrtime.bigint();
    if (mode === 'in-memory') {
      const modules = { ...attemptRecord, ...manifest, planPageSchema, jobFolder };
      await finalizeReportsInMemory(
        modules,
        store,
        LOGS,
        await readJobRecord(store, LOGS, jobId),
        'Completed',
      );
    } else {
      await finalizeActivity(deps, mode === 'streamed' ? { ...end, step: 'reports' } : end);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Taken before the checks below, which read the files back.
    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    let entries = 0;
    for await (const _ of manifest.manifestEntries(store, LOGS, jobId)) entries += 1;
    const failedLines = (await store.readText(LOGS, jobFolder(jobId).failedItems)).split('\n').length - 1;
    process.send({
      seconds,
      maxRssMiB,
      entries,
      failedLines,
    });
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
  return;
}

// ---------------------------------------------------------------------------------------------------
// Parent.
// `--heap <MiB>`: each measurement runs with --max-old-space-size, to show which finalize fits in it.
const heapAt = process.argv.indexOf('--heap');
const HEAP_MIB = heapAt > 0 ? Number(process.argv[heapAt + 1]) : undefined;

function run(args) {
  const execArgv = args[0] === '--measure' && HEAP_MIB ? [`--max-old-space-size=${HEAP_MIB}`] : [];
  const child = fork(__filename, args, {
    stdio: args[0] === '--measure' && HEAP_MIB ? 'ignore' : 'inherit',
    execArgv,
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, message }));
    child.once('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code}`)));
  });
}

async function main() {
  const seedStarted = Date.now();
  const { child: azurite, message: ready } = await run([
    '--serve',
    ...(quick ? ['--quick'] : []),
    ...(million ? ['--million'] : []),
  ]);
  console.log(
    `seeded ${SIZES.join(' and ')} attempt records in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`,
  );
  const rows = [];
  try {
    for (const size of SIZES) {
      const results = {};
      for (const mode of MODES) {
        if (million && mode === 'in-memory') {
          results[mode] = { failed: true };
          continue;
        }
        const measured = await run(['--measure', mode, String(size), ready.connectionString]).catch(
          (error) => {
            if (!HEAP_MIB) throw error;
            return undefined; // out of memory under --heap
          },
        );
        if (!measured) {
          results[mode] = { failed: true };
          continue;
        }
        const { child, message } = measured;
        child.removeAllListeners('exit');
        await new Promise((resolve) => child.once('exit', resolve));
        results[mode] = message;
        if (message.entries !== size) throw new Error(`${mode}: manifest has ${message.entries} entries`);
        if (message.failedLines !== size / 100)
          throw new Error(`${mode}: ${message.failedLines} failed items`);
      }
      rows.push({ size, ...results });
    }
  } finally {
    azurite.kill();
  }
  const date = new Date().toISOString().slice(0, 10);
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
  const ratio = (row) =>
    row.streamed.failed || row['in-memory'].failed
      ? '-'
      : (row.streamed.seconds / row['in-memory'].seconds).toFixed(2);
  console.log(
    `\nfinalize (${date}, ${machine}); peak RSS of the measuring process${HEAP_MIB ? `; --max-old-space-size=${HEAP_MIB}` : ''}`,
  );
  console.log(
    '| mini-batches | in-memory: s / peak RSS | streamed: s / peak RSS | ratio s | full finalize (4 steps): s / peak RSS |',
  );
  console.log('|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const cell = (m) =>
      m.failed
        ? HEAP_MIB
          ? `out of memory (${HEAP_MIB} MiB heap)`
          : 'not run'
        : `${m.seconds.toFixed(2)} s / ${m.maxRssMiB.toFixed(0)} MiB`;
    console.log(
      `| ${row.size.toLocaleString('en-US')} | ${cell(row['in-memory'])} | ${cell(row.streamed)} | ${ratio(row)} | ${cell(row.finalize)} |`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
