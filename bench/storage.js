'use strict';
// The local host's storage process, this build against a baseline build, side by side in one run (dist/
// builds: `npm run build` here and in the baseline checkout):
//
//   node bench/storage.js --baseline ../parallel-job-main   both builds, 100,000 blobs, 20,000 files
//   node bench/storage.js --blobs 1000000                    this build alone, a million blobs
//   node bench/storage.js --quick                            10,000 blobs, 2,000 files, 3 kills
//   node bench/storage.js --baseline ../main --only load --blobs 1000000 --pages 20
//                                     load a million blobs, list the first 20 pages (100,000 blobs)
//   node bench/storage.js --baseline ../main --only uploads --files 100000
//
// For each build, in turn:
// - kills: a fresh storage process (openStorage, as `host` and `run` start it), 16 writers uploading
//   small blobs as fast as it answers, SIGKILL of the storage process alone after 0.5-1.5 s, the storage
//   started again on the folder: how many of the uploads it had answered are gone.
// - load and list: N blobs cloned into a storage folder (bench/support.js seedFolder, in a child process
//   of that build), then the time until a storage process started on it serves, its RSS then, the time to
//   list the N blobs as planning does (BlobStore.listPages, pages of 5,000) and the storage's peak RSS.
// - uploads: `parallel-job plan` of that build on a folder of F files of a few bytes (test/.. none: made
//   here in os.tmpdir()): files/s until its "Uploaded" line (plan uploads, then lists).
// This build only: the cost of the fsync policy, uploads/s of small blobs (32 at a time) with each answer
// waiting for the metadata log's fdatasync (the default) and without (syncWrites: false).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const os = require('node:os');
const path = require('node:path');
const { MiB, rssOf, sleep } = require('./support');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : fallback;
};
const quick = args.includes('--quick');
const baselineRoot = option('--baseline', undefined);
const BLOBS = Number(option('--blobs', quick ? 10_000 : 100_000));
const FILES = Number(option('--files', quick ? 2_000 : 20_000));
const KILLS = Number(option('--kills', quick ? 3 : 5));
/** List only this many pages of 5,000 (all when not given). */
const PAGES = Number(option('--pages', Infinity));
/** `load` or `uploads`: only that measurement. */
const ONLY = option('--only', undefined);
const FREE = { blob: 0, queue: 0, table: 0 };
const thisRoot = path.join(__dirname, '..');

const build = (root) => ({
  root,
  storage: hostOf(root),
  BlobStore: require(path.join(root, 'dist', 'src', 'storage', 'blobStore')).BlobStore,
});

/** A build's local host: its @parallel-job/functions-host, or dist/src/local in builds made before it. */
function hostOf(root) {
  try {
    return createRequire(path.join(root, 'package.json'))('@parallel-job/functions-host');
  } catch (error) {
    if (error.code !== 'MODULE_NOT_FOUND') throw error;
    return require(path.join(root, 'dist', 'src', 'local', 'storage'));
  }
}

const temporary = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
const hwmOf = (pid) => {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};
const isAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Uploads answered before a SIGKILL of the storage process, and how many of them it still has. */
async function killTrial(b, trial) {
  const folder = temporary('bench-storage-kill-');
  const storage = await b.storage.openStorage({ folder, ports: FREE });
  const { BlobServiceClient } = require('@azure/storage-blob');
  const container = BlobServiceClient.fromConnectionString(storage.connectionString, {
    retryOptions: { maxTries: 1 },
  }).getContainerClient('kill');
  await container.create();
  const answered = [];
  let stopped = false;
  const writer = async (id) => {
    for (let n = 0; !stopped; n += 1) {
      const name = `w${id}/b-${n}.txt`;
      try {
        await container.getBlockBlobClient(name).upload(name, name.length);
        answered.push(name);
      } catch {
        stopped = true;
      }
    }
  };
  const writing = Promise.all(Array.from({ length: 16 }, (_, id) => writer(id)));
  await sleep(500 + ((trial * 389) % 1000));
  process.kill(storage.pid, 'SIGKILL');
  while (isAlive(storage.pid)) await sleep(5);
  await writing;
  const again = await b.storage.openStorage({ folder, ports: storage.ports });
  const kept = new Set();
  const reopened = BlobServiceClient.fromConnectionString(again.connectionString).getContainerClient('kill');
  try {
    for await (const item of reopened.listBlobsFlat()) kept.add(item.name);
  } catch {
    // The container itself may be gone.
  }
  await again.stop();
  fs.rmSync(folder, { recursive: true, force: true });
  return { answered: answered.length, lost: answered.filter((name) => !kept.has(name)).length };
}

/** Seeds N blobs (a child process of the build), then starts storage on them and lists them. */
async function loadAndList(b, count) {
  const dataDir = temporary('bench-storage-load-');
  const seeded = spawnSync(
    process.execPath,
    [path.join(b.root, 'bench', 'support.js'), 'seed-folder', dataDir, 'bench', String(count)],
    { stdio: 'inherit' },
  );
  if (seeded.status !== 0) throw new Error(`seeding ${count} blobs failed`);
  const started = performance.now();
  const storage = await b.storage.openStorage({
    folder: path.join(dataDir, 'azurite'),
    ports: FREE,
    startTimeoutMs: 3_600_000,
  });
  const loadS = (performance.now() - started) / 1000;
  const loadedMiB = Math.round(rssOf(storage.pid) / MiB);
  const store = b.BlobStore.fromConnectionString(storage.connectionString);
  const listStarted = performance.now();
  let listed = 0;
  let pages = 0;
  for await (const page of store.listPages('inputs', 'bench/')) {
    listed += page.length;
    pages += 1;
    if (pages >= PAGES) break;
  }
  const listS = (performance.now() - listStarted) / 1000;
  const peakMiB = Math.round(hwmOf(storage.pid) / MiB);
  await storage.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (listed !== Math.min(count, PAGES * 5000)) throw new Error(`listed ${listed} of ${count}`);
  return { loadS, loadedMiB, listS, listed, peakMiB };
}

/** Files/s of `parallel-job plan` of the build until it prints that the folder is uploaded. */
function uploads(b, folder) {
  const work = temporary('bench-storage-upload-');
  const example = path.join(thisRoot, 'examples', 'score-files');
  fs.cpSync(path.join(example, 'src'), path.join(work, 'src'), { recursive: true });
  const spec = fs
    .readFileSync(path.join(example, 'job.yml'), 'utf8')
    .replace('path: ./data', `path: ${folder}`);
  fs.writeFileSync(path.join(work, 'job.yml'), spec);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const cli = spawn(process.execPath, [path.join(b.root, 'bin', 'parallel-job.js'), 'plan', 'job.yml'], {
      cwd: work,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let output = '';
    let uploadedS;
    cli.stderr.on('data', (chunk) => {
      output += chunk.toString();
      if (uploadedS === undefined && /^Uploaded /m.test(output))
        uploadedS = (performance.now() - started) / 1000;
    });
    cli.on('exit', (code) => {
      fs.rmSync(work, { recursive: true, force: true });
      if (code !== 0 || uploadedS === undefined) reject(new Error(`plan failed (${code}): ${output}`));
      else resolve({ uploadS: uploadedS, filesPerS: Math.round(FILES / uploadedS) });
    });
  });
}

/** Uploads/s of small blobs against this build's storage in a child process, syncWrites on or off. */
async function syncCost(syncWrites, count) {
  const dataDir = temporary('bench-storage-sync-');
  const server = spawn(
    process.execPath,
    [
      '--heap-growing-percent=20',
      '--max-semi-space-size=32',
      __filename,
      'serve',
      dataDir,
      String(syncWrites),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const connectionString = await new Promise((resolve) =>
    server.stdout.once('data', (chunk) => resolve(chunk.toString().trim())),
  );
  const store = build(thisRoot).BlobStore.fromConnectionString(connectionString);
  await store.ensureContainer('sync');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const n = next++;
        await store.write('sync', `b-${n}.txt`, `blob ${n}`);
      }
    }),
  );
  const perS = Math.round(count / ((performance.now() - started) / 1000));
  server.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
  return perS;
}

async function serve(dataDir, syncWrites) {
  const { startAzurite } = require('@parallel-job/functions-host');
  const azurite = await startAzurite({ dataDir, syncWrites: syncWrites === 'true' });
  console.log(azurite.connectionString);
}

function filesFolder(count) {
  const folder = temporary('bench-storage-files-');
  for (let d = 0; d < Math.ceil(count / 1000); d += 1) {
    fs.mkdirSync(path.join(folder, `d${d}`));
    for (let i = d * 1000; i < Math.min(count, (d + 1) * 1000); i += 1)
      fs.writeFileSync(path.join(folder, `d${d}`, `f-${i}.txt`), `line ${i}\n`);
  }
  return folder;
}

async function main() {
  if (args[0] === 'serve') return serve(args[1], args[2]);
  const builds = [['this build', build(thisRoot)]];
  if (baselineRoot) builds.push(['baseline', build(path.resolve(baselineRoot))]);
  const results = new Map(builds.map(([label]) => [label, { kills: [] }]));

  const n = (value) => value.toLocaleString('en-US');
  if (ONLY === 'uploads') {
    const folder = filesFolder(FILES);
    // Twice each, alternating.
    for (const round of [0, 1])
      for (const [label, b] of builds) results.get(label)[`upload${round}`] = await uploads(b, folder);
    fs.rmSync(folder, { recursive: true, force: true });
    console.log(`\n| build | upload ${n(FILES)} files (parallel-job plan): files/s, two runs |`);
    console.log('|---|---|');
    for (const [label] of builds) {
      const r = results.get(label);
      console.log(`| ${label} | ${n(r.upload0.filesPerS)}, ${n(r.upload1.filesPerS)} |`);
    }
    return;
  }
  for (const [label, b] of builds) Object.assign(results.get(label), await loadAndList(b, BLOBS));
  if (ONLY === 'load') {
    console.log(
      `\n| build | load ${n(BLOBS)} blobs s | RSS loaded MiB | list first blobs | s | storage peak MiB |`,
    );
    console.log('|---|---|---|---|---|---|');
    for (const [label] of builds) {
      const r = results.get(label);
      console.log(
        `| ${label} | ${r.loadS.toFixed(1)} | ${r.loadedMiB} | ${n(r.listed)} | ${r.listS.toFixed(1)} | ${r.peakMiB} |`,
      );
    }
    return;
  }
  // Alternating builds, so that neither gets the machine's quieter moments.
  for (let trial = 0; trial < KILLS; trial += 1)
    for (const [label, b] of builds) results.get(label).kills.push(await killTrial(b, trial));
  const folder = filesFolder(FILES);
  for (const [label, b] of builds) Object.assign(results.get(label), await uploads(b, folder));
  fs.rmSync(folder, { recursive: true, force: true });
  const synced = await syncCost(true, 5000);
  const unsynced = await syncCost(false, 5000);
  const again = await syncCost(true, 5000);

  console.log(
    `\n| build | SIGKILLs: answered uploads lost (trials intact) | load ${n(BLOBS)} blobs s | RSS loaded MiB | list ${n(BLOBS)} s | storage peak MiB | upload ${n(FILES)} files: files/s |`,
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const [label] of builds) {
    const r = results.get(label);
    const lost = r.kills.reduce((sum, k) => sum + k.lost, 0);
    const answered = r.kills.reduce((sum, k) => sum + k.answered, 0);
    const intact = r.kills.filter((k) => k.lost === 0).length;
    console.log(
      `| ${label} | ${n(lost)} of ${n(answered)} (${intact} of ${r.kills.length}) | ${r.loadS.toFixed(1)} | ${r.loadedMiB} | ${r.listS.toFixed(1)} | ${r.peakMiB} | ${n(r.filesPerS)} |`,
    );
  }
  if (baselineRoot) {
    const [ours, base] = [results.get('this build'), results.get('baseline')];
    console.log(
      `this build / baseline: load ${(ours.loadS / base.loadS).toFixed(2)}x, list ${(ours.listS / base.listS).toFixed(2)}x, ` +
        `uploads ${(ours.filesPerS / base.filesPerS).toFixed(2)}x`,
    );
  }
  console.log(
    `fsync policy: ${n(synced)} and ${n(again)} uploads/s answering after the log's fdatasync, ${n(unsynced)}/s without ` +
      `(${(unsynced / ((synced + again) / 2)).toFixed(2)}x)`,
  );
  console.log(JSON.stringify(Object.fromEntries(results)));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
