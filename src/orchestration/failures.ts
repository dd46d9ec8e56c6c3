import { AttemptCodes } from '../failureCodes';

/**
 * What a failed activity or sub-orchestration tells the job's reasons: its error's stable code and its
 * message for people, never the registered function's name or a stack (those stay in the durable history
 * and the app's log). Pure: read from the failed task's value, the same on every replay.
 */
export interface Failure {
  code: string;
  message: string;
}

/**
 * The failure-details property that carries a ParallelJobError's code (set for every activity in
 * functions/activities.ts). Not `code`: the Functions worker redacts values that look like `code=...`.
 */
export const FAILURE_CODE_PROPERTY = 'errorCode';

/** The code of a failure whose error carried none (an engine without failure details, a sub-orchestration). */
export const UNCODED_FAILURE = AttemptCodes.activityFailed;

/** The failure a faulted task's result describes. */
export function failureOf(result: unknown): Failure {
  const details = (
    result as { failureDetails?: { errorMessage?: unknown; properties?: Record<string, unknown> } }
  )?.failureDetails;
  if (details && typeof details.errorMessage === 'string') {
    const code = details.properties?.[FAILURE_CODE_PROPERTY];
    return { code: typeof code === 'string' ? code : UNCODED_FAILURE, message: details.errorMessage };
  }
  // Without failure details the SDK gives `<reason> \n <details>`, the reason naming the function.
  const text = result instanceof Error ? result.message : String(result);
  const reason = text.split(' \n ')[0] ?? text;
  const message =
    /^(?:Activity|Orchestrator) function '[^']*' failed: ([\s\S]*)$/.exec(reason)?.[1] ?? reason;
  return { code: UNCODED_FAILURE, message };
}

/** `CODE: message` (the message alone when the error had no code): a failure as reasons and receipts show it. */
export function failureText(failure: Failure): string {
  return failure.code === UNCODED_FAILURE ? failure.message : `${failure.code}: ${failure.message}`;
}
