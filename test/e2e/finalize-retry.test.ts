import { BlobServiceClient } from '@azure/storage-blob';
import { manifestSchema } from '../../src/activities/manifest';
import { startProductHost, type ProductHost } from '../support/productHost';

/**
 * A storage fault in finalize does not fail the job: the root retries the failed step. The fault is a real
 * Azurite condition: an infinite lease on the job's manifest.json refuses finalize's writes until the test
 * sees the step fail in the job's history and breaks the lease.
 */

let product: ProductHost;

beforeAll(async () => {
  // A longer retry delay than the other suites: finalize's retries then span seconds (0.5 + 1 + 2 + 4 s),
  // time enough for the test to see the first failure and lift the fault.
  product = await startProductHost({ settings: { PARALLEL_JOB_RETRY_BASE_DELAY_MS: '500' } });
}, 60_000);
afterAll(async () => {
  await product?.stop();
});

interface HistoryEvent {
  EventType: string;
  FunctionName?: string;
}

async function history(id: string): Promise<HistoryEvent[]> {
  const response = await fetch(
    `${product.url}/runtime/webhooks/durabletask/instances/${id}?showHistory=true`,
  );
  if (response.status === 404) return [];
  const body = (await response.json()) as { historyEvents?: HistoryEvent[] };
  return body.historyEvents ?? [];
}

const finalizeFailures = (events: HistoryEvent[]): number =>
  events.filter((e) => e.EventType === 'TaskFailed' && e.FunctionName === 'ParallelJob_Finalize').length;

test('a finalize step that hits a storage fault is retried, and the job completes with its logs', async () => {
  const id = 'finalize-fault-1';
  for (const name of ['a.txt', 'b.txt', 'c.txt']) await product.store.write('inputs', `ff/${name}`, name);
  const manifest = BlobServiceClient.fromConnectionString(product.host.connectionString)
    .getContainerClient('logs')
    .getBlobClient(`${id}/manifest.json`);
  await product.store.write('logs', `${id}/manifest.json`, '{}');
  const lease = manifest.getBlobLeaseClient();
  await lease.acquireLease(-1);

  await product.client.submit(
    {
      name: 'finalize-fault',
      type: 'parallel',
      inputs: { data: { type: 'uri_folder', path: 'inputs/ff' } },
      outputs: { rows: { type: 'uri_folder' } },
      input_data: '${{inputs.data}}',
      mini_batch_size: '1',
      task: { type: 'run_function', code: '.', entry_script: 'noop.js', append_row_to: '${{outputs.rows}}' },
    },
    { id },
  );
  // Poll until the reports step has failed once, then lift the fault.
  let failures = 0;
  for (let polls = 0; failures === 0 && polls < 1200; polls += 1) {
    failures = finalizeFailures(await history(id));
    if (failures === 0) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(failures).toBeGreaterThanOrEqual(1);
  await lease.breakLease(0);

  const ended = await product.client.wait(id, { intervalMs: 100 });
  expect(ended.status).toBe('Completed');
  expect(finalizeFailures(await history(id))).toBeLessThan(5);
  const written = manifestSchema.parse(
    JSON.parse(await product.store.readText('logs', `${id}/manifest.json`)),
  );
  expect(written.miniBatches.map((entry) => entry.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  const result = JSON.parse(await product.store.readText('logs', `${id}/job_result.json`)) as {
    status: string;
  };
  expect(result.status).toBe('Completed');
}, 120_000);
