import { InvocationContext } from '@azure/functions';
import { failureCodeProvider, withFaultsShown } from '../../../src/activities/faults';
import { InputNotFoundError, InternalError } from '../../../src/errors';
import { FAILURE_CODE_PROPERTY } from '../../../src/orchestration/failures';

function contextLogging(lines: unknown[][]): InvocationContext {
  return new InvocationContext({
    functionName: 'ParallelJob_Plan',
    logHandler: (_level, ...args) => lines.push(args),
  });
}

describe('activity faults', () => {
  it('passes a ParallelJobError on as it is, its code in the failure details', async () => {
    const error = new InputNotFoundError('inputs/x', 'nothing there');
    const handler = withFaultsShown('ParallelJob_Plan', () => Promise.reject(error));
    const lines: unknown[][] = [];
    await expect(handler({}, contextLogging(lines))).rejects.toBe(error);
    expect(lines).toEqual([]);
    expect(failureCodeProvider.getExceptionProperties(error)).toEqual({
      [FAILURE_CODE_PROPERTY]: 'INPUT_NOT_FOUND',
    });
  });

  it('logs any other error with its stack under an error id, and fails with that id only', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'plan')");
    const handler = withFaultsShown('ParallelJob_Plan', () => {
      throw bug;
    });
    const lines: unknown[][] = [];
    let thrown: unknown;
    try {
      await handler({}, contextLogging(lines));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InternalError);
    const { errorId, message, stack } = thrown as InternalError;
    expect(message).toBe(
      `an unexpected error in the app; its details are in the app's log under error id ${errorId}`,
    );
    expect(message).not.toContain('plan');
    expect(stack).not.toContain(bug.message);
    expect(lines).toEqual([
      [`Activity ParallelJob_Plan failed with an unexpected error (error id ${errorId}):`, bug],
    ]);
    expect(failureCodeProvider.getExceptionProperties(thrown)).toEqual({
      [FAILURE_CODE_PROPERTY]: 'INTERNAL',
    });
  });

  it('returns what the activity returns', async () => {
    const handler = withFaultsShown('ParallelJob_Select', () => Promise.resolve([1, 2]));
    await expect(handler({}, contextLogging([]))).resolves.toEqual([1, 2]);
  });
});
