'use strict';
// Benchmark of the host's durable engine (dist/ build: `npm run build` first; the repository's `npm run
// bench` builds and runs it).
//   node bench/local-host.js            all scenarios, each in a fresh child process
//   node bench/local-host.js fan-1000   one scenario in this process (prints one JSON line)
// Baseline, side by side: the same activity handler called directly in a loop (no engine, no history),
// so the ratio shows what orchestration (history, replay, journal) costs per activity.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const appDir = path.join(__dirname, '..', 'test', 'fixtures', 'conformance-app');
const scenarios = {
  'fan-1000': { name: 'FanOut', input: { count: 1000 }, activities: 1000 },
  'fan-5000': { name: 'FanOut', input: { count: 5000 }, activities: 5000 },
  'fan-10000': { name: 'FanOut', input: { count: 10000 }, activities: 10000 },
  'sub-100x100': {
    name: 'SubFanOut',
    input: { children: 100, perChild: 100, explicitIds: true },
    activities: 10000,
  },
  // Activities that take 20 ms (32 at a time, host.json): completions trickle in and are batched.
  'fan-2000-async20ms': { name: 'FanOut', input: { count: 2000, activity: 'SlowDouble' }, activities: 2000 },
};

/** The host on the conformance app, storage in memory (Azurite in this process), on a temporary folder. */
async function startHost() {
  const { startLocalHost } = require('../dist');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-'));
  const options = { appDir, port: 0, dataDir, storage: 'memory', quiet: true, pollIntervalMs: 600_000 };
  const host = await startLocalHost({ ...options, logger: () => undefined });
  return {
    host,
    async stop() {
      await host.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function runScenario(key) {
  const scenario = scenarios[key];
  const { host, stop } = await startHost();
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const usage = process.memoryUsage();
    peakRss = Math.max(peakRss, usage.rss);
    peakHeap = Math.max(peakHeap, usage.heapUsed);
  };
  const sampler = setInterval(sample, 25);
  const before = host.stats();
  const started = process.hrtime.bigint();
  const reply = await fetch(`${host.url}/durabletask/orchestrators/${scenario.name}/bench`, {
    method: 'POST',
    body: JSON.stringify(scenario.input),
  });
  if (reply.status !== 202) throw new Error(`start failed: ${reply.status} ${await reply.text()}`);
  let status;
  for (;;) {
    status = await (await fetch(`${host.url}/durabletask/instances/bench`)).json();
    if (!['Running', 'Pending'].includes(status.runtimeStatus)) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(sampler);
  sample();
  const after = host.stats();
  await stop();
  if (status.runtimeStatus !== 'Completed')
    throw new Error(`${key}: ${status.runtimeStatus} ${JSON.stringify(status.output)}`);

  // Baseline: the same handler through the same @azure/functions InvocationContext, no engine.
  const { InvocationContext } = require('@azure/functions');
  const handler = (n) => n * 2;
  const baselineStart = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < scenario.activities; i += 1) {
    const context = new InvocationContext({ functionName: 'Double', invocationId: String(i) });
    sum += await Promise.resolve(handler(i, context));
  }
  const baselineMs = Number(process.hrtime.bigint() - baselineStart) / 1e6;
  return {
    scenario: key,
    activities: scenario.activities,
    wallMs: Math.round(wallMs),
    activitiesPerSecond: Math.round((scenario.activities / wallMs) * 1000),
    maxHistoryLength: after.maxHistoryLength,
    episodes: after.episodes - before.episodes,
    eventsReplayed: after.eventsReplayed - before.eventsReplayed,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    peakHeapMiB: Math.round(peakHeap / 2 ** 20),
    baselineMs: Math.round(baselineMs * 10) / 10,
    ratio: Math.round((wallMs / Math.max(baselineMs, 0.1)) * 10) / 10,
    check: sum > 0,
  };
}

async function main() {
  const only = process.argv[2];
  if (only) {
    console.log(JSON.stringify(await runScenario(only)));
    return;
  }
  const rows = [];
  for (const key of Object.keys(scenarios)) {
    const child = spawnSync(process.execPath, [__filename, key], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = child.stdout.trim().split('\n').pop();
    if (child.status !== 0 || !line) throw new Error(`${key} failed: ${child.stderr}`);
    rows.push(JSON.parse(line));
  }
  const header =
    '| scenario | activities | wall ms | activities/s | max history | episodes | events replayed | peak RSS MiB | peak heap MiB | baseline ms (direct calls) | host / baseline |';
  console.log(header);
  console.log(header.replace(/[^|]/g, '-').replace(/-+/g, '---'));
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.activities} | ${r.wallMs} | ${r.activitiesPerSecond} | ${r.maxHistoryLength} | ${r.episodes} | ${r.eventsReplayed} | ${r.peakRssMiB} | ${r.peakHeapMiB} | ${r.baselineMs} | ${r.ratio}x |`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
