import { startAzurite, type RunningAzurite } from '@parallel-job/functions-host';
import { BlobStore } from '../../src/storage/blobStore';

/**
 * A real in-memory Azurite for one test file, on free ports. Call in `beforeAll`; `stop()` in `afterAll`.
 */
export async function useAzurite(): Promise<RunningAzurite> {
  return startAzurite();
}

let counter = 0;
/** A container name that is unique within this test run and valid for Azure (3-63 lowercase chars). */
export function uniqueContainer(prefix = 'test'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`.toLowerCase();
}

/**
 * A real in-memory Azurite for the test file, started before its tests and stopped after them, with a
 * BlobStore on it: read `azurite` and `store` inside the tests.
 */
export function useAzuriteStore(): { readonly azurite: RunningAzurite; readonly store: BlobStore } {
  const started: { azurite?: RunningAzurite; store?: BlobStore } = {};
  beforeAll(async () => {
    started.azurite = await useAzurite();
    started.store = BlobStore.fromConnectionString(started.azurite.connectionString);
  });
  afterAll(async () => {
    await started.azurite?.stop();
  });
  return {
    get azurite() {
      return started.azurite!;
    },
    get store() {
      return started.store!;
    },
  };
}
