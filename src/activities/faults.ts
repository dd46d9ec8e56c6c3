import { randomUUID } from 'node:crypto';
import type { ActivityHandler, ExceptionPropertiesProvider } from 'durable-functions';
import { InternalError, ParallelJobError } from '../errors';
import { FAILURE_CODE_PROPERTY } from '../orchestration/failures';

/** Puts a ParallelJobError's code into its activity's failure details, where failureOf() reads it. */
export const failureCodeProvider: ExceptionPropertiesProvider = {
  getExceptionProperties: (error) =>
    error instanceof ParallelJobError ? { [FAILURE_CODE_PROPERTY]: error.code } : undefined,
};

/**
 * An activity whose faults the orchestrators can show: a ParallelJobError as it is (its code and message
 * are for people), anything else (a bug) logged here with its stack under an error id and replaced by an
 * InternalError that names only the id.
 */
export function withFaultsShown(name: string, handler: ActivityHandler): ActivityHandler {
  return async (input, context) => {
    try {
      return (await handler(input, context)) as unknown;
    } catch (error) {
      if (error instanceof ParallelJobError) throw error;
      const errorId = randomUUID();
      context.error(`Activity ${name} failed with an unexpected error (error id ${errorId}):`, error);
      throw new InternalError(errorId);
    }
  };
}
