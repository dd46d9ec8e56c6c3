/** DTFx history event numbers, shared with durable-functions' HistoryEventType. */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export const EventTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(EventType).map(([name, value]) => [value, name]),
);

/** OrchestrationStatus numbers used in ExecutionCompleted. */
export const OrchestrationStatusCode = { Completed: 1, ContinuedAsNew: 2, Failed: 3, Terminated: 5 } as const;

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: Date;
  [field: string]: unknown;
}

export function historyEvent(
  type: number,
  timestamp: Date,
  fields: Record<string, unknown> = {},
  eventId = -1,
): HistoryEvent {
  return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: timestamp, ...fields };
}

export interface FailureDetailsPayload {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace: string | null;
  InnerFailure: null;
  IsNonRetriable: boolean;
  Properties: Record<string, unknown> | null;
}

export function tryJsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** JSON text for a value as the extension stores results (`undefined` becomes null). */
export function toJsonText(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}

export function parseJsonText(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === '') return null;
  return tryJsonParse(text);
}

/** Errors from the app come from Node's realm, not necessarily this one: duck-type them. */
export function asError(error: unknown): { message: string; stack?: string } {
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string')
    return error as Error;
  return new Error(typeof error === 'string' ? error : JSON.stringify(error));
}

/** Event timestamps that never go backwards, even when the system clock does. */
export class EventClock {
  private last = 0;

  now(): Date {
    const now = Math.max(Date.now(), this.last);
    this.last = now;
    return new Date(now);
  }
}
