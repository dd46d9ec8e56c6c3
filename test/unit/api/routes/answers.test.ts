import { InvocationContext } from '@azure/functions';
import {
  ConfigError,
  DownloadLinkError,
  JobFileNotFoundError,
  JobNotFoundError,
  JobStateError,
  ParallelJobError,
  RequestTooLargeError,
  SpecValidationError,
  StorageNotFoundError,
  StorageTransientError,
} from '../../../../src/errors';
import { errorResponse } from '../../../../src/api/routes/answers';

type ErrorBody = { error: Record<string, unknown> };

describe('errorResponse', () => {
  it.each([
    [new JobNotFoundError('job-1'), 404],
    [new JobFileNotFoundError('job-1', 'logs/nope'), 404],
    [new JobStateError("Job 'job-1' has already ended (Completed); nothing to cancel."), 409],
    [new RequestTooLargeError(256 * 1024), 413],
    [new DownloadLinkError(15), 403],
    [new StorageNotFoundError('inputs', 'a.txt'), 400],
    [new StorageTransientError('inputs', 'a.txt', 503, 'throttled'), 503],
    // The app's settings have to change, not the request: a server error that names the setting.
    [new ConfigError([{ path: 'PARALLEL_JOB_WRITE_PLACES', message: 'names the logs container' }]), 500],
  ])('answers %s with %i, its code and its message', (error, status) => {
    const answer = errorResponse(error);
    expect(answer.status).toBe(status);
    expect(answer.jsonBody).toEqual({
      error: { name: error.name, code: error.code, message: error.message },
    });
  });

  it('answers a spec that is not valid with 400 and every problem', () => {
    const issues = [
      { path: 'mini_batch_size', message: 'expected a size', line: 6, column: 1 },
      { path: 'task.entry_script', message: 'required' },
    ];
    const answer = errorResponse(new SpecValidationError(issues, 'in the request body'));
    expect(answer.status).toBe(400);
    expect((answer.jsonBody as ErrorBody).error).toMatchObject({ code: 'SPEC_INVALID', issues });
  });

  it('takes the status a new error class gives itself: no table or ladder to edit', () => {
    class TeapotError extends ParallelJobError {
      readonly code = 'TEAPOT';
      override get httpStatus(): number {
        return 418;
      }
    }
    class PlainError extends ParallelJobError {
      readonly code = 'PLAIN';
    }
    class AgainError extends ParallelJobError {
      readonly code = 'AGAIN';
      override readonly retryable = true;
    }
    expect(errorResponse(new TeapotError('short and stout')).status).toBe(418);
    expect(errorResponse(new PlainError('the request must change')).status).toBe(400);
    expect(errorResponse(new AgainError('try again later')).status).toBe(503);
  });

  it('answers anything else 500 INTERNAL with an error id, and logs the details under that id only', () => {
    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: 'GetJob',
      logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
    });
    const answer = errorResponse(new TypeError('secret detail at /srv/app.js:12'), context);
    expect(answer.status).toBe(500);
    const { error } = answer.jsonBody as { error: { code: string; message: string; error_id: string } };
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toContain(error.error_id);
    expect(JSON.stringify(answer.jsonBody)).not.toContain('secret detail');
    expect(logs).toEqual([
      expect.stringMatching(new RegExp(`^error: .*${error.error_id}.*secret detail`, 's')),
    ]);
  });
});
