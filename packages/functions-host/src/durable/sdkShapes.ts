import { LocalHostAppLoadError } from '../errors';
import type { InvocationContext } from '../runtime/invoker';
import type { LogLine } from '../runtime/types';
import { asError, tryJsonParse, type FailureDetailsPayload, type HistoryEvent } from './history';

/*
 * The durable-functions SDK's own shapes, as the engine reads them: the trigger payload an orchestrator
 * replays, the state and actions it returns, its open tasks, and the failures it reports. None of these
 * is a documented contract (open tasks are the SDK's internals), so they were read from one version,
 * DURABLE_FUNCTIONS_VERSION, the exact pin in this package's package.json (the conformance app's SDK).
 * Their types live here, and so does every reading of them beyond a plain field (the episode reads
 * `isDone`, `output`, `functionName` and the like).
 */

/** The durable-functions version these shapes were read from. */
export const DURABLE_FUNCTIONS_VERSION = '3.5.0';

function majorOf(version: string): string {
  return version.split('.')[0] ?? version;
}

/**
 * Compares the app's durable-functions with DURABLE_FUNCTIONS_VERSION. Another major version is refused:
 * its orchestrators may answer in shapes this engine misreads, and orchestrations that silently schedule
 * nothing are worse than a host that does not start. Another version of the same major only gets a
 * warning: semver keeps such apps working, only the SDK internals read here (open tasks) may differ, and
 * the warning then explains an orchestration that stalls. An unreadable version gets a warning too.
 * Apps on DURABLE_FUNCTIONS_VERSION pass silently.
 */
export function checkDurableFunctionsVersion(appRequire: (id: string) => unknown, log: LogLine): void {
  let installed: string | undefined;
  try {
    const manifest = appRequire('durable-functions/package.json') as { version?: unknown };
    if (typeof manifest.version === 'string') installed = manifest.version;
  } catch {
    installed = undefined;
  }
  if (installed === DURABLE_FUNCTIONS_VERSION) return;
  if (installed === undefined) {
    log(
      `Warning: the local host could not read which durable-functions the app uses; its durable engine ` +
        `reads the orchestrator state of durable-functions ${DURABLE_FUNCTIONS_VERSION}.`,
    );
  } else if (majorOf(installed) !== majorOf(DURABLE_FUNCTIONS_VERSION)) {
    throw new LocalHostAppLoadError(
      `The app uses durable-functions ${installed}, but the local host's durable engine reads the ` +
        `orchestrator state of durable-functions ${majorOf(DURABLE_FUNCTIONS_VERSION)}.x ` +
        `(${DURABLE_FUNCTIONS_VERSION}). Install durable-functions@${DURABLE_FUNCTIONS_VERSION} in the app.`,
    );
  } else {
    log(
      `Warning: the app uses durable-functions ${installed}; the local host's durable engine reads the ` +
        `orchestrator state of ${DURABLE_FUNCTIONS_VERSION}. If an orchestration stalls or fails to ` +
        `schedule its tasks, install durable-functions@${DURABLE_FUNCTIONS_VERSION} in the app.`,
    );
  }
}

/** durable-functions' ActionType numbers. */
export const ACTION = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
} as const;

interface RetryOptionsLike {
  firstRetryIntervalInMilliseconds?: number;
  maxNumberOfAttempts?: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
}

export interface ActionLike {
  actionType?: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  fireAt?: Date | string;
  isCanceled?: boolean;
  retryOptions?: RetryOptionsLike;
}

interface OpenTaskLike {
  actionObj?: ActionLike | string;
  parent?: {
    isWaitingOnTimer?: boolean;
    attemptNumber?: number;
    retryOptions?: RetryOptionsLike;
    actionObj?: ActionLike;
  };
}

export interface OrchestratorStateLike {
  isDone?: boolean;
  actions?: ActionLike[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

/** What the orchestrator's trigger binding carries: the history to replay and the extension's settings. */
export function orchestrationTrigger(
  history: HistoryEvent[],
  input: unknown,
  instanceId: string,
  parentInstanceId: string | null,
): Record<string, unknown> {
  return {
    history,
    input,
    instanceId,
    isReplaying: false,
    parentInstanceId,
    upperSchemaVersion: 1,
    upperSchemaVersionNew: 2,
    longRunningTimerIntervalDuration: '3.00:00:00',
    maximumShortTimerDuration: '3650.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
}

/** The wait before a retry attempt, by the task's retry options (none after the last attempt). */
function retryDelayMs(parent: NonNullable<OpenTaskLike['parent']>, action: ActionLike): number {
  const options = parent.retryOptions ?? action.retryOptions ?? {};
  const attempt = parent.attemptNumber ?? 2;
  const max = options.maxNumberOfAttempts ?? 1;
  let delay = 0;
  if (attempt <= max) {
    delay =
      (options.firstRetryIntervalInMilliseconds ?? 0) *
      Math.pow(options.backoffCoefficient ?? 1, attempt - 2);
    if (options.maxRetryIntervalInMilliseconds)
      delay = Math.min(delay, options.maxRetryIntervalInMilliseconds);
  }
  return delay;
}

/** What an open task asks for: an action, the timer before a retry attempt, or nothing this host can tell. */
export type OpenTaskWork =
  { kind: 'action'; action: ActionLike } | { kind: 'retryTimer'; delayMs: number } | { kind: 'unknown' };

/**
 * The tasks the SDK has open after a replay, by task id. The ids are the SDK's own, so they match the
 * extension's numbering, including retry timers and attempts.
 */
export function openTasks(context: InvocationContext | undefined): [number, OpenTaskWork][] {
  const df = (
    context as unknown as
      { df?: { taskOrchestratorExecutor?: { openTasks?: Record<string, OpenTaskLike> } } } | undefined
  )?.df;
  const tasks = df?.taskOrchestratorExecutor?.openTasks ?? {};
  return Object.entries(tasks).map(([key, task]) => [Number(key), workOf(task)]);
}

/** A retrying task's attempts and timers carry no action of their own: their parent's applies. */
function workOf(task: OpenTaskLike): OpenTaskWork {
  const own = typeof task.actionObj === 'object' ? task.actionObj : undefined;
  if (own && own.actionType !== undefined) return { kind: 'action', action: own };
  const parent = task.parent;
  if (!parent?.actionObj) return { kind: 'unknown' };
  if (parent.isWaitingOnTimer) return { kind: 'retryTimer', delayMs: retryDelayMs(parent, parent.actionObj) };
  return { kind: 'action', action: parent.actionObj };
}

/** An activity's or continue-as-new input: the SDK hands it over as JSON text or as the value. */
export function actionInputValue(action: ActionLike): unknown {
  return typeof action.input === 'string' ? tryJsonParse(action.input) : action.input;
}

export function timerFireAt(action: ActionLike): Date {
  return new Date(action.fireAt as Date | string); // Date from another realm keeps its value
}

/** The continue-as-new action when it is the orchestrator's last word. */
export function continueAsNewAction(state: OrchestratorStateLike): ActionLike | undefined {
  const actions = state.actions?.[0] ?? [];
  const last = actions[actions.length - 1];
  return last?.actionType === ACTION.ContinueAsNew ? last : undefined;
}

/** The orchestrator's error text and last state from a thrown OrchestrationFailureError (or any error). */
export function orchestratorFailure(error: unknown): { message: string; state?: OrchestratorStateLike } {
  const text = asError(error).message;
  const marker = '$OutOfProcData$:';
  const at = text.indexOf(marker);
  if (at >= 0) {
    const state = tryJsonParse(text.slice(at + marker.length)) as OrchestratorStateLike;
    if (state && typeof state === 'object') return { message: state.error ?? text, state };
  }
  return { message: text };
}

/** The failure details durable-functions puts as JSON in an activity error's `message`, if it did. */
export function activityFailureDetails(message: string): FailureDetailsPayload | undefined {
  const parsed = tryJsonParse(message);
  if (!parsed || typeof parsed !== 'object') return undefined;
  const details = parsed as Record<string, unknown>;
  if (typeof details.errorType !== 'string' || typeof details.errorMessage !== 'string') return undefined;
  return {
    ErrorType: details.errorType,
    ErrorMessage: details.errorMessage,
    StackTrace: typeof details.stackTrace === 'string' ? details.stackTrace : null,
    InnerFailure: null,
    IsNonRetriable: details.isNonRetriable === true,
    Properties:
      details.properties && typeof details.properties === 'object'
        ? (details.properties as Record<string, unknown>)
        : null,
  };
}
