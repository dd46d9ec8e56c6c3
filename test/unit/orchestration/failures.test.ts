import { FAILURE_CODE_PROPERTY, failureOf, failureText } from '../../../src/orchestration/failures';

describe('failureOf', () => {
  it('reads the code and message of failure details, leaving the stack and the function name out', () => {
    const result = Object.assign(new Error('TaskFailedError'), {
      failureDetails: {
        errorType: 'InputLayoutError',
        errorMessage:
          "The input 'inputs/mixed' cannot be split as declared: a.csv is CSV and b.jsonl is JSON Lines",
        stackTrace: 'InputLayoutError: ...\n    at FormatTracker.accept (dist/src/plan/cut.js:54:19)',
        properties: { [FAILURE_CODE_PROPERTY]: 'INPUT_LAYOUT_INVALID' },
      },
    });
    const failure = failureOf(result);
    expect(failure).toEqual({
      code: 'INPUT_LAYOUT_INVALID',
      message: "The input 'inputs/mixed' cannot be split as declared: a.csv is CSV and b.jsonl is JSON Lines",
    });
    expect(failureText(failure)).toBe(
      "INPUT_LAYOUT_INVALID: The input 'inputs/mixed' cannot be split as declared: a.csv is CSV and b.jsonl is JSON Lines",
    );
  });

  it("keeps the reason's message alone when a failure has no details: no function name, no details", () => {
    const result = new Error(
      `Activity function 'ParallelJob_RunGroup' failed: storage unreachable \n {"message":"storage unreachable","stack":"Error: storage unreachable\\n    at x.js:1:1"}`,
    );
    expect(failureOf(result)).toEqual({ code: 'ACTIVITY_FAILED', message: 'storage unreachable' });
    expect(failureText(failureOf(result))).toBe('storage unreachable');
    expect(failureOf('a plain string')).toEqual({ code: 'ACTIVITY_FAILED', message: 'a plain string' });
  });
});
