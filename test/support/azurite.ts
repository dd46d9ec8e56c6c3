import { startAzurite, type RunningAzurite } from '@parallel-job/functions-host';

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
