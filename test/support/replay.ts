import { InvocationContext } from '@azure/functions';
import type { OrchestrationHandler } from 'durable-functions';
import { EventType } from '@parallel-job/functions-host';
import { FAILURE_CODE_PROPERTY } from '../../src/orchestration/failures';

/**
 * Replays an orchestrator through the real durable-functions engine over histories built here, the way
 * the Durable extension does: each episode sends the whole history, the cumulative action list is walked
 * in order and every schedulable action consumes the next task id (so a repeated action shifts ids and
 * is caught), completions come back as history events.
 */

// The SDK's own test entry point (the one its tests use); not part of its typed surface.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
  createOrchestrator: (
    fn: OrchestrationHandler,
  ) => (trigger: unknown, context: InvocationContext) => Promise<unknown>;
};

type HistoryEvent = Record<string, unknown> & {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
};

interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  fireAt?: string;
  isCanceled?: boolean;
  compoundActions?: Action[];
  retryOptions?: {
    firstRetryIntervalInMilliseconds?: number;
    maxNumberOfAttempts?: number;
    backoffCoefficient?: number;
    maxRetryIntervalInMilliseconds?: number;
  };
}

interface OrchestratorState {
  isDone: boolean;
  actions: Action[][];
  output?: unknown;
  customStatus?: unknown;
}

/** How a scheduled activity ends; `hang` never completes (for watchdog tests). */
export type Outcome = { result: unknown } | { error: string } | { hang: true };

export interface World {
  activity(name: string, input: unknown): Outcome | Promise<Outcome>;
  subOrchestration?(name: string, input: unknown, instanceId: string): Outcome | Promise<Outcome>;
}

interface Pending {
  id: number;
  kind: 'activity' | 'timer' | 'sub';
  name: string;
  input: unknown;
  instanceId?: string;
  fireAt?: number;
}

export interface ReplayStats {
  episodes: number;
  eventsReplayed: number;
  historyLength: number;
  activities: Array<{ name: string; input: unknown }>;
}

export interface ReplayResult {
  status: 'Completed' | 'Failed' | 'ContinuedAsNew';
  output: unknown;
  error?: string;
  customStatus: unknown;
  history: HistoryEvent[];
  stats: ReplayStats;
}

export interface DriveOptions {
  instanceId?: string;
  startTime?: Date;
  /** Completions handed to the orchestrator per episode. */
  batch?: number;
  /** External events raised just before the given episode (1-based). */
  events?: Array<{ beforeEpisode: number; name: string; data?: unknown }>;
  maxEpisodes?: number;
  /** Called after every episode, e.g. to look at custom status. */
  onEpisode?(episode: number, state: { customStatus: unknown; pending: number }): void;
}

export async function drive(
  fn: OrchestrationHandler,
  input: unknown,
  world: World,
  options: DriveOptions = {},
): Promise<ReplayResult> {
  const handler = createOrchestrator(fn);
  const instanceId = options.instanceId ?? 'job-1';
  let clock = (options.startTime ?? new Date('2026-01-01T00:00:00Z')).getTime();
  const history: HistoryEvent[] = [];
  const pending: Pending[] = [];
  const hung = new Set<number>();
  const stats: ReplayStats = { episodes: 0, eventsReplayed: 0, historyLength: 0, activities: [] };
  let customStatus: unknown;
  let incoming: HistoryEvent[] = [
    event(EventType.ExecutionStarted, clock, {
      Name: 'orchestrator',
      Input: JSON.stringify(input),
      OrchestrationInstance: { InstanceId: instanceId, ExecutionId: 'e1' },
      ParentInstance: null,
    }),
  ];
  const maxEpisodes = options.maxEpisodes ?? 100_000;

  for (let episode = 1; episode <= maxEpisodes; episode += 1) {
    for (const raised of options.events ?? []) {
      if (raised.beforeEpisode === episode) {
        incoming.push(
          event(EventType.EventRaised, clock, {
            Name: raised.name,
            Input: JSON.stringify(raised.data ?? null),
          }),
        );
      }
    }
    for (const old of history) old.IsPlayed = true;
    history.push(event(EventType.OrchestratorStarted, clock), ...incoming);
    incoming = [];
    stats.episodes += 1;
    stats.eventsReplayed += history.length;

    let state: OrchestratorState;
    try {
      state = (await handler(
        {
          history: structuredClone(history),
          input,
          instanceId,
          isReplaying: false,
          parentInstanceId: null,
          upperSchemaVersion: 1,
          upperSchemaVersionNew: 2,
          longRunningTimerIntervalDuration: '3.00:00:00',
          maximumShortTimerDuration: '3650.00:00:00',
          defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
        },
        new InvocationContext({ functionName: 'orchestrator', invocationId: `${instanceId}-${episode}` }),
      )) as OrchestratorState;
    } catch (error) {
      const message = String((error as Error).message);
      const data = message.split('$OutOfProcData$:')[1];
      const parsed = data ? (JSON.parse(data) as { error?: string; customStatus?: unknown }) : undefined;
      stats.historyLength = history.length;
      return {
        status: 'Failed',
        output: undefined,
        error: parsed?.error ?? message,
        customStatus: parsed?.customStatus,
        history,
        stats,
      };
    }
    if (state.customStatus !== undefined) customStatus = state.customStatus;

    const scheduledIds = new Set(history.filter(isScheduling).map((e) => e.EventId));
    const cancelled = new Set<number>();
    let nextId = 0;
    const walked = new Set<Action>();
    const walk = (action: Action): void => {
      if (walked.has(action) && action.actionType !== 6) {
        // The extension would invoke it again: a second activity run and every later task id shifted.
        throw new Error(`non-deterministic replay: the action ${JSON.stringify(action)} was sent twice`);
      }
      walked.add(action);
      if (action.actionType === 11 || action.actionType === 12) {
        for (const child of action.compoundActions ?? []) walk(child);
        return;
      }
      if (action.actionType === 1) {
        walkRetry(action);
        return;
      }
      if (![0, 2, 5].includes(action.actionType)) return; // events and continue-as-new take no id
      const id = nextId;
      nextId += 1;
      const recorded = history.find((e) => isScheduling(e) && e.EventId === id);
      if (recorded) {
        const expectedType = {
          0: EventType.TaskScheduled,
          2: EventType.SubOrchestrationInstanceCreated,
          5: EventType.TimerCreated,
        }[action.actionType];
        if (
          recorded.EventType !== expectedType ||
          (action.functionName && recorded.Name !== action.functionName)
        ) {
          throw new Error(
            `non-deterministic replay: task ${id} was ${JSON.stringify(recorded)} and is now ${JSON.stringify(action)}`,
          );
        }
        if (action.actionType === 5 && action.isCanceled) cancelled.add(id);
        return;
      }
      if (scheduledIds.has(id)) return;
      if (action.actionType === 0) {
        history.push(
          event(
            EventType.TaskScheduled,
            clock,
            { Name: action.functionName, Input: JSON.stringify(action.input) },
            id,
          ),
        );
        pending.push({ id, kind: 'activity', name: action.functionName!, input: decodeInput(action.input) });
      } else if (action.actionType === 2) {
        history.push(
          event(
            EventType.SubOrchestrationInstanceCreated,
            clock,
            { Name: action.functionName, InstanceId: action.instanceId, Input: JSON.stringify(action.input) },
            id,
          ),
        );
        pending.push({
          id,
          kind: 'sub',
          name: action.functionName!,
          input: action.input,
          instanceId: action.instanceId,
        });
      } else {
        history.push(event(EventType.TimerCreated, clock, { FireAt: action.fireAt }, id));
        if (action.isCanceled) cancelled.add(id);
        else
          pending.push({
            id,
            kind: 'timer',
            name: 'timer',
            input: undefined,
            fireAt: Date.parse(action.fireAt!),
          });
      }
    };
    /**
     * An activity called with retry is one action, but the SDK gives each attempt and each retry timer
     * its own task id in turn: attempt, timer, attempt, ... and a last timer after the last failed
     * attempt. Here they are consecutive ids: nothing else may be scheduled while a retried call runs.
     */
    const walkRetry = (action: Action): void => {
      const retry = action.retryOptions ?? {};
      const max = retry.maxNumberOfAttempts ?? 1;
      const start = nextId;
      let attempt = 1;
      for (let id = start; ; id += 1) {
        const isAttempt = (id - start) % 2 === 0;
        const recorded = history.find((e) => isScheduling(e) && e.EventId === id);
        if (!recorded) {
          if (isAttempt) {
            history.push(
              event(
                EventType.TaskScheduled,
                clock,
                { Name: action.functionName, Input: JSON.stringify(action.input) },
                id,
              ),
            );
            pending.push({
              id,
              kind: 'activity',
              name: action.functionName!,
              input: decodeInput(action.input),
            });
          } else {
            const delay =
              attempt >= max
                ? 0
                : Math.min(
                    (retry.firstRetryIntervalInMilliseconds ?? 0) *
                      Math.pow(retry.backoffCoefficient ?? 1, attempt - 1),
                    retry.maxRetryIntervalInMilliseconds ?? Infinity,
                  );
            const fireAt = clock + delay;
            history.push(
              event(EventType.TimerCreated, clock, { FireAt: new Date(fireAt).toISOString() }, id),
            );
            pending.push({ id, kind: 'timer', name: 'timer', input: undefined, fireAt });
          }
          nextId = id + 1;
          return;
        }
        const expected = isAttempt ? EventType.TaskScheduled : EventType.TimerCreated;
        if (recorded.EventType !== expected || (isAttempt && recorded.Name !== action.functionName)) {
          throw new Error(
            `non-deterministic replay: task ${id} was ${JSON.stringify(recorded)} and is now a retry of ${JSON.stringify(action)}`,
          );
        }
        const over = isAttempt
          ? !history.some((e) => e.EventType === EventType.TaskFailed && e.TaskScheduledId === id)
          : !history.some((e) => e.EventType === EventType.TimerFired && e.TimerId === id) || attempt >= max;
        if (over) {
          nextId = id + 1;
          return;
        }
        if (!isAttempt) attempt += 1;
      }
    };
    for (const action of state.actions[0] ?? []) walk(action);
    for (let i = pending.length - 1; i >= 0; i -= 1) if (cancelled.has(pending[i]!.id)) pending.splice(i, 1);

    const continued = (state.actions[0] ?? []).find((a) => a.actionType === 4);
    if (state.isDone) {
      history.push(event(EventType.OrchestratorCompleted, clock));
      stats.historyLength = history.length;
      return {
        status: continued ? 'ContinuedAsNew' : 'Completed',
        output: continued ? decodeInput(continued.input) : state.output,
        customStatus,
        history,
        stats,
      };
    }
    history.push(event(EventType.OrchestratorCompleted, clock));
    stats.historyLength = history.length;
    options.onEpisode?.(episode, { customStatus, pending: pending.length });

    // Completions: work first (in scheduling order), otherwise move the clock to the next timer.
    const work = pending.filter((p) => p.kind !== 'timer' && !hung.has(p.id)).slice(0, options.batch ?? 1);
    if (work.length > 0) {
      for (const item of work) {
        if (item.kind === 'activity') {
          stats.activities.push({ name: item.name, input: item.input });
          const outcome = await world.activity(item.name, item.input);
          if ('hang' in outcome) {
            hung.add(item.id);
            continue;
          }
          pending.splice(pending.indexOf(item), 1);
          incoming.push(completion(outcome, item.id, clock, 'task'));
        } else {
          pending.splice(pending.indexOf(item), 1);
          const outcome = (await world.subOrchestration?.(item.name, item.input, item.instanceId!)) ?? {
            error: 'no sub-orchestrations in this world',
          };
          if (!('hang' in outcome)) incoming.push(completion(outcome, item.id, clock, 'sub'));
        }
      }
      if (incoming.length > 0) continue;
    }
    const timers = pending
      .filter((p) => p.kind === 'timer')
      .sort((a, b) => a.fireAt! - b.fireAt! || a.id - b.id);
    const next = timers[0];
    if (!next) {
      if ((options.events ?? []).some((e) => e.beforeEpisode > episode)) continue;
      throw new Error(`orchestration is waiting with nothing pending after episode ${episode}`);
    }
    clock = Math.max(clock, next.fireAt!);
    pending.splice(pending.indexOf(next), 1);
    incoming.push(
      event(EventType.TimerFired, clock, { TimerId: next.id, FireAt: new Date(next.fireAt!).toISOString() }),
    );
  }
  throw new Error(`no end after ${maxEpisodes} episodes`);
}

function isScheduling(e: HistoryEvent): boolean {
  return (
    e.EventType === EventType.TaskScheduled ||
    e.EventType === EventType.TimerCreated ||
    e.EventType === EventType.SubOrchestrationInstanceCreated
  );
}

function event(type: number, at: number, fields: Record<string, unknown> = {}, eventId = -1): HistoryEvent {
  return {
    EventType: type,
    EventId: eventId,
    IsPlayed: false,
    Timestamp: new Date(at).toISOString(),
    ...fields,
  };
}

function completion(
  outcome: { result: unknown } | { error: string },
  id: number,
  at: number,
  kind: 'task' | 'sub',
): HistoryEvent {
  if ('error' in outcome) {
    // As the app's activities fail (functions/activities.ts): `CODE: message` carries its code in the
    // failure details; a plain message (or a sub-orchestration) fails with a reason only.
    const coded = kind === 'task' ? /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(outcome.error) : null;
    return event(kind === 'task' ? EventType.TaskFailed : EventType.SubOrchestrationInstanceFailed, at, {
      TaskScheduledId: id,
      Reason: outcome.error,
      Details: outcome.error,
      ...(coded
        ? {
            FailureDetails: {
              ErrorType: 'Error',
              ErrorMessage: coded[2],
              Properties: { [FAILURE_CODE_PROPERTY]: coded[1] },
            },
          }
        : {}),
    });
  }
  return event(kind === 'task' ? EventType.TaskCompleted : EventType.SubOrchestrationInstanceCompleted, at, {
    TaskScheduledId: id,
    Result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
  });
}

/** Activity inputs that are strings arrive JSON-encoded from the SDK (text that is no JSON stays text). */
function decodeInput(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}
