import { randomUUID } from 'node:crypto';
import type { Invoker } from '../runtime/invoker';
import type { LogLine, Registration } from '../runtime/types';
import { EventType, asError, historyEvent, toJsonText, type EventClock, type HistoryEvent } from './history';
import type { Instance } from './instances';
import type { JournalRecord } from './journal';
import type { StorageGate } from '../storage/storageSupervisor';
import { registrationOfKind } from './registrations';
import { activityFailureDetails } from './sdkShapes';

interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  input: unknown;
}

export interface ActivityQueueOptions {
  invoker: Invoker;
  registrations: Map<string, Registration>;
  maxConcurrent: number;
  /** Input bindings the host supplies (durable clients), for activities that declare them. */
  extraInputsFor?: (registration: Registration) => Record<string, unknown>;
  log: LogLine;
  quiet: boolean;
  clock: EventClock;
  /** Hands a task's TaskCompleted or TaskFailed to its instance. */
  deliver: (record: JournalRecord) => void;
  /** Called after each activity ends, when the engine may have become idle. */
  onSettled: () => void;
  /**
   * The host's storage, when it supervises it: no activity starts while storage is down, and one that
   * failed while storage went down runs again once it is back, instead of failing its orchestration
   * (activities run at least once, as in Azure).
   */
  storage?: StorageGate;
}

/** Activity error -> TaskFailed fields, honouring the failure details durable-functions reports. */
function activityFailure(name: string, error: unknown): Record<string, unknown> {
  const err = asError(error);
  const fields: Record<string, unknown> = {
    Reason: `Activity function '${name}' failed: ${err.message}`,
    Details: JSON.stringify({ message: err.message, stack: err.stack ?? null }),
  };
  const failure = activityFailureDetails(err.message);
  if (failure) {
    fields.Reason = `Activity function '${name}' failed: ${failure.ErrorMessage}`;
    fields.FailureDetails = failure;
  }
  return fields;
}

/** Scheduled activities, run at most `maxConcurrent` at a time, each task once. */
export class ActivityQueue {
  private readonly queue: ActivityWork[] = [];
  private readonly running = new Set<string>();
  private stopped = false;
  private waitingForStorage = false;
  executed = 0;
  /** Activities run again because storage went down while they ran. */
  rerunAfterStorageOutage = 0;

  constructor(private readonly options: ActivityQueueOptions) {}

  /** Activities running or waiting to run. */
  get inFlight(): number {
    return this.running.size + this.queue.length;
  }

  get runningCount(): number {
    return this.running.size;
  }

  enqueue(instance: Pick<Instance, 'instanceId' | 'executionId'>, scheduled: HistoryEvent): void {
    if (this.stopped) return;
    const input: unknown = typeof scheduled.Input === 'string' ? JSON.parse(scheduled.Input) : undefined;
    this.queue.push({
      instanceId: instance.instanceId,
      executionId: instance.executionId,
      taskId: scheduled.EventId,
      name: String(scheduled.Name),
      input,
    });
    this.pump();
  }

  /** Starts nothing more and drops what waits; running activities finish but deliver nothing. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  private pump(): void {
    const storage = this.options.storage;
    if (storage?.down) {
      if (!this.waitingForStorage) {
        this.waitingForStorage = true;
        void storage.available().then(() => {
          this.waitingForStorage = false;
          this.pump();
        });
      }
      return;
    }
    while (!this.stopped && this.running.size < this.options.maxConcurrent && this.queue.length > 0) {
      const work = this.queue.shift() as ActivityWork;
      const key = `${work.instanceId}|${work.executionId}|${work.taskId}`;
      if (this.running.has(key)) continue;
      this.running.add(key);
      void this.run(work).finally(() => {
        this.running.delete(key);
        this.pump();
        this.options.onSettled();
      });
    }
  }

  private async run(work: ActivityWork): Promise<void> {
    const { invoker, extraInputsFor, clock } = this.options;
    const startedAt = Date.now();
    const registration = registrationOfKind(this.options.registrations, work.name, 'activityTrigger');
    let event: HistoryEvent;
    if (!registration) {
      event = historyEvent(EventType.TaskFailed, clock.now(), {
        TaskScheduledId: work.taskId,
        Reason: `The function '${work.name}' doesn't exist, is disabled, or is not an activity function.`,
        Details: '',
      });
    } else {
      try {
        const { result } = await invoker.invokeSilently(
          {
            registration,
            trigger: work.input,
            triggerMetadata: { instanceId: work.instanceId, data: work.input },
            extraInputs: extraInputsFor?.(registration),
          },
          randomUUID(),
        );
        this.executed += 1;
        event = historyEvent(EventType.TaskCompleted, clock.now(), {
          TaskScheduledId: work.taskId,
          Result: toJsonText(result),
        });
      } catch (error) {
        if (this.options.storage?.interruptedSince(startedAt) && !this.stopped) {
          this.rerunAfterStorageOutage += 1;
          this.queue.unshift(work);
          return;
        }
        this.executed += 1;
        if (!this.options.quiet) {
          this.options.log(
            `[${work.name}] activity failed for instance ${work.instanceId}: ${(error as Error)?.message ?? String(error)}`,
          );
        }
        event = historyEvent(EventType.TaskFailed, clock.now(), {
          TaskScheduledId: work.taskId,
          ...activityFailure(work.name, error),
        });
      }
    }
    if (this.stopped) return;
    this.options.deliver({ k: 'msg', i: work.instanceId, x: work.executionId, e: event });
  }
}
