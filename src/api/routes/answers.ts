import { randomUUID } from 'node:crypto';
import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { ParallelJobError } from '../../errors';

/** How every route answers: JSON bodies, and errors as their status and code. */

export const json = (status: number, body: unknown): HttpResponseInit => ({ status, jsonBody: body });

/**
 * A ParallelJobError answers with the status its class gives (`httpStatus`), its code and its message,
 * which is written for the caller. Anything else is a fault of the app: the caller gets a fixed message
 * and an error id, the log gets the details.
 */
export function errorResponse(error: unknown, context?: InvocationContext): HttpResponseInit {
  if (error instanceof ParallelJobError) return json(error.httpStatus, { error: error.toJSON() });
  const errorId = randomUUID();
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  (context ? context.error.bind(context) : console.error)(`Request failed, error id ${errorId}: ${detail}`);
  return json(500, {
    error: {
      code: 'INTERNAL',
      message: `The app failed to answer this request (error id ${errorId}). Try again; if it keeps failing, give the error id to whoever runs the app: the details are in its logs.`,
      error_id: errorId,
    },
  });
}

/** Runs a route's work and answers any error it throws as errorResponse does. */
export async function handle(
  context: InvocationContext | undefined,
  work: () => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  try {
    return await work();
  } catch (error) {
    return errorResponse(error, context);
  }
}
