import { effectiveJobSchema, type EffectiveJob, type EffectiveSettings } from '../../src/job/effective';
import type { MiniBatchReceipt } from '../../src/activities/contracts';

/** A valid resolved job for orchestrator tests; override what the test is about. */
export function effectiveJob(
  settings: Partial<EffectiveSettings> = {},
  overrides: Partial<EffectiveJob> = {},
): EffectiveJob {
  return effectiveJobSchema.parse({
    name: 'score',
    tags: {},
    inputData: { name: 'data', type: 'uri_folder', path: 'inputs/data', mode: 'ro_mount' },
    inputs: { data: { type: 'uri_folder', path: 'inputs/data', mode: 'ro_mount' } },
    outputs: { scores: { type: 'uri_folder', path: 'outputs/job-1/scores' } },
    appendRowTo: {
      output: 'scores',
      type: 'uri_folder',
      path: 'outputs/job-1/scores',
      fileName: 'parallel_run_step.txt',
    },
    miniBatchSize: 10,
    miniBatchSizeUnit: 'files',
    task: { code: '.', entryScript: 'score.js', programArguments: '', argv: [] },
    environmentVariables: {},
    loggingLevel: 'INFO',
    settings: {
      maxRetries: 2,
      timeoutSeconds: 60,
      maxConcurrencyPerInstance: 1,
      instanceCount: 1,
      errorThreshold: -1,
      miniBatchErrorThreshold: -1,
      allowedFailedPercent: 100,
      taskOverheadTimeoutSeconds: 30,
      progressUpdateTimeoutSeconds: 270,
      firstTaskCreationTimeoutSeconds: 600,
      copyLogsToParent: false,
      ...settings,
    },
    warnings: [],
    ...overrides,
  });
}

export function receipt(
  index: number,
  attempt: number,
  fields: Partial<MiniBatchReceipt> = {},
): MiniBatchReceipt {
  return {
    index,
    attempt,
    status: 'succeeded',
    items: 10,
    succeeded: 10,
    failed: 0,
    rows: 10,
    retryable: true,
    durationMs: 5,
    ...fields,
  };
}

/** A receipt of two items whose counts follow its status (partial: one of each). */
export function receiptOfStatus(
  index: number,
  attempt: number,
  status: MiniBatchReceipt['status'],
  fields: Partial<MiniBatchReceipt> = {},
): MiniBatchReceipt {
  return receipt(index, attempt, {
    status,
    items: 2,
    succeeded: status === 'succeeded' ? 2 : status === 'partial' ? 1 : 0,
    failed: status === 'succeeded' ? 0 : status === 'partial' ? 1 : 2,
    rows: 0,
    ...fields,
  });
}

export function failed(
  index: number,
  attempt: number,
  fields: Partial<MiniBatchReceipt> = {},
): MiniBatchReceipt {
  return receipt(index, attempt, {
    status: 'failed',
    succeeded: 0,
    failed: 10,
    rows: 0,
    code: 'TASK_RUN_FAILED',
    message: `boom ${index}/${attempt}`,
    ...fields,
  });
}
