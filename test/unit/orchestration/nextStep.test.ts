import { MAX_FIRST_ERRORS, keepFirstErrors } from '../../../src/orchestration/counters';
import { nextStep } from '../../../src/orchestration/attemptOutcome';
import { failed, receipt } from '../../support/jobs';

describe('nextStep after a failed attempt', () => {
  it('retries a retryable failure while retries remain, then records it failed', () => {
    expect(nextStep(failed(0, 1, { retryable: true }), 2)).toEqual({ kind: 'retry', attempt: 2 });
    expect(nextStep(failed(0, 3, { retryable: true }), 2)).toEqual({ kind: 'final', outcome: 'failed' });
  });

  it.each(['TABULAR_PARSE_FAILED', 'PARQUET_UNREADABLE', 'INPUT_CHANGED', 'OUTPUT_FILES_REFUSED'])(
    'fails a mini-batch with %s at once: no retry, and the job goes on',
    (code) => {
      const deterministic = failed(0, 1, { retryable: false, code, message: 'line 4' });
      expect(nextStep(deterministic, 5)).toEqual({ kind: 'final', outcome: 'failed' });
    },
  );

  it('still ends the job on any other failure that cannot be retried', () => {
    const broken = failed(0, 1, { retryable: false, code: 'TASK_BROKEN', message: 'init failed 3 times' });
    expect(nextStep(broken, 5)).toEqual({
      kind: 'fatal',
      code: 'TASK_BROKEN',
      message: 'init failed 3 times',
    });
  });

  it('records partial results without retry', () => {
    expect(nextStep(receipt(0, 1, { status: 'partial', failed: 2, succeeded: 8 }), 5)).toEqual({
      kind: 'final',
      outcome: 'failed',
    });
  });
});

describe('keepFirstErrors', () => {
  const error = (index: number, attempt: number) => ({
    index,
    attempt,
    code: 'TASK_RUN_FAILED',
    message: 'x',
  });

  it('keeps the first failures by position, whatever order they ended in', () => {
    const ended = [error(4, 2), error(2, 2), error(6, 1), error(2, 1)];
    const kept = keepFirstErrors([], ended);
    expect(kept.map((e) => [e.index, e.attempt])).toEqual([
      [2, 1],
      [2, 2],
      [4, 2],
      [6, 1],
    ]);
    expect(keepFirstErrors([error(9, 1)], [error(3, 1)]).map((e) => e.index)).toEqual([3, 9]);
  });

  it(`keeps at most ${MAX_FIRST_ERRORS}, the lowest mini-batches`, () => {
    const many = Array.from({ length: 25 }, (_, i) => error(24 - i, 1));
    const kept = keepFirstErrors([], many);
    expect(kept).toHaveLength(MAX_FIRST_ERRORS);
    expect(kept.map((e) => e.index)).toEqual(Array.from({ length: MAX_FIRST_ERRORS }, (_, i) => i));
  });
});
