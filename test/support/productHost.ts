import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChildLocalHost, type ChildLocalHost } from '@parallel-job/functions-host';
import { ParallelJobClient } from '../../src/client/client';
import { BlobStore } from '../../src/storage/blobStore';

const repoRoot = path.resolve(__dirname, '..', '..');

export interface ProductHost {
  /** The host, in a child process of its own. */
  host: ChildLocalHost;
  url: string;
  client: ParallelJobClient;
  /** The host's own storage (in-memory Azurite). */
  store: BlobStore;
  stop(): Promise<void>;
}

/**
 * This repository's built app (dist/, from `npm run build`) on the local host with in-memory Azurite on
 * free ports, task modules resolved under `tasksRoot`, in a child process. Extra app settings apply while
 * the host runs. PRODUCT_HOST_LOGS=1 lets the host's log lines through to the test output.
 */
export async function startProductHost(
  options: {
    tasksRoot?: string;
    settings?: Record<string, string>;
    pollIntervalMs?: number;
    /** Keys the host enforces; the returned client sends the function key. */
    keys?: { function: string; master: string };
  } = {},
): Promise<ProductHost> {
  const settings: Record<string, string> = {
    PARALLEL_JOB_TASKS_ROOT: options.tasksRoot ?? path.join(repoRoot, 'test', 'fixtures', 'tasks'),
    PARALLEL_JOB_RETRY_BASE_DELAY_MS: '20',
    ...options.settings,
  };
  const host = await startChildLocalHost({
    appDir: repoRoot,
    port: 0,
    dataDir: mkdtempSync(path.join(os.tmpdir(), 'product-host-')),
    storage: 'memory',
    quiet: process.env.PRODUCT_HOST_LOGS !== '1',
    pollIntervalMs: options.pollIntervalMs ?? 100,
    settings,
    ...(options.keys ? { keys: options.keys } : {}),
  });
  const store = BlobStore.fromConnectionString(host.connectionString);
  // What infra/ creates in Azure.
  for (const container of ['jobs', 'inputs', 'outputs', 'logs', 'schedules'])
    await store.ensureContainer(container);
  return {
    host,
    url: host.url,
    client: new ParallelJobClient({ endpoint: host.url, key: options.keys?.function }),
    store,
    stop: () => host.stop(),
  };
}
