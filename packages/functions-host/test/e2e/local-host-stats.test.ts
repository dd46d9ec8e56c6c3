import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChildLocalHost, type ChildLocalHost } from '../../src/hostChild';

// The engine's history counters, which bench/orchestrator.js reads: per instance id, the longest history
// of one execution and the events replayed over all episodes. Checked against what each orchestrator's
// shape fixes, whatever way completions happen to be batched into episodes.
const appDir = path.join(__dirname, '..', 'fixtures', 'conformance-app');

let host: ChildLocalHost;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-host-stats-'));
  host = await startChildLocalHost({
    appDir,
    port: 0,
    dataDir,
    storage: 'memory',
    quiet: true,
    pollIntervalMs: 60_000,
  });
});

afterAll(async () => {
  await host?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function runToEnd(name: string, instanceId: string, input: unknown): Promise<string> {
  const started = await fetch(`${host.url}/durabletask/orchestrators/${name}/${instanceId}`, {
    method: 'POST',
    body: JSON.stringify(input),
  });
  expect(started.status).toBe(202);
  for (;;) {
    const status = (await (await fetch(`${host.url}/durabletask/instances/${instanceId}`)).json()) as {
      runtimeStatus: string;
    };
    // ContinuedAsNew is the moment between two executions of one instance, not an end.
    if (!['Running', 'Pending', 'ContinuedAsNew'].includes(status.runtimeStatus)) return status.runtimeStatus;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('engine history counters', () => {
  it('counts the longest history and the events replayed per instance', async () => {
    const before = await host.stats();
    const count = 300;
    expect(await runToEnd('FanOut', 'stats-fan', { count })).toBe('Completed');
    expect(await runToEnd('Monitor', 'stats-monitor', { iteration: 0, stopAt: 3 })).toBe('Completed');
    const after = await host.stats();

    const fan = after.histories['stats-fan']!;
    // ExecutionStarted, count scheduled, count completed, ExecutionCompleted, and two markers an episode.
    expect(fan.maxHistoryLength).toBe(2 * count + 2 + 2 * fan.episodes);
    expect(fan.episodes).toBeGreaterThanOrEqual(2);
    // Every episode after the first replays at least the first one's count + 3 events.
    expect(fan.eventsReplayed).toBeGreaterThanOrEqual((fan.episodes - 1) * (count + 3));
    expect(fan.eventsReplayed).toBeLessThan(fan.episodes * fan.maxHistoryLength);

    // Three executions that arm a timer then continue as new (4 events, then 8), and a last one of 4.
    expect(after.histories['stats-monitor']).toEqual({
      episodes: 7,
      eventsReplayed: 12,
      maxHistoryLength: 8,
    });

    const replayedHere = Object.entries(after.histories).reduce(
      (sum, [id, entry]) => sum + entry.eventsReplayed - (before.histories[id]?.eventsReplayed ?? 0),
      0,
    );
    expect(replayedHere).toBe(after.eventsReplayed - before.eventsReplayed);
    expect(after.episodes - before.episodes).toBe(fan.episodes + 7);
    expect(after.maxHistoryLength).toBe(
      Math.max(...Object.values(after.histories).map((entry) => entry.maxHistoryLength)),
    );
  });
});
