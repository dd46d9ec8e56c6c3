import { randomUUID } from 'node:crypto';
import { EventType, historyEvent, type HistoryEvent } from './history';
import type { InstanceRecord, Journal, JournalRecord, ParentRef, RuntimeStatus } from './journal';

export interface Instance extends InstanceRecord {
  /** Ids with a scheduling event in this execution's history. */
  scheduled: Set<number>;
}

const TERMINAL: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Terminated']);

export function isTerminal(status: RuntimeStatus): boolean {
  return TERMINAL.has(status);
}

export function newExecutionId(): string {
  return randomUUID().replace(/-/g, '');
}

/** A new execution whose ExecutionStarted waits in the inbox; `carried` is what continue-as-new keeps. */
export function newInstanceRecord(
  instanceId: string,
  name: string,
  inputJson: string | null,
  parent: ParentRef | null,
  now: Date,
  carried?: { createdTime: string; customStatus: string | null; inbox: HistoryEvent[] },
): InstanceRecord {
  const executionId = newExecutionId();
  const started = historyEvent(EventType.ExecutionStarted, now, {
    OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
    ParentInstance: parent
      ? {
          Name: parent.name,
          Version: '',
          TaskScheduleId: parent.taskId,
          OrchestrationInstance: { InstanceId: parent.instanceId, ExecutionId: parent.executionId },
        }
      : null,
    Name: name,
    Version: '',
    Input: inputJson,
    Tags: null,
  });
  return {
    instanceId,
    name,
    executionId,
    status: carried ? 'ContinuedAsNew' : 'Pending',
    suspended: false,
    input: inputJson,
    output: null,
    customStatus: carried?.customStatus ?? null,
    createdTime: carried?.createdTime ?? now.toISOString(),
    lastUpdatedTime: now.toISOString(),
    history: [],
    inbox: [started, ...(carried?.inbox ?? [])],
    parent,
  };
}

/**
 * The orchestration instances and their journal. Every state change is one journal record, applied the
 * same way live and on recovery; what a record sets off (activities, timers, episodes) is the engine's.
 */
export class InstanceStore {
  private readonly instances = new Map<string, Instance>();

  constructor(private readonly journal: Journal | undefined) {}

  get(instanceId: string): Instance | undefined {
    return this.instances.get(instanceId);
  }

  has(instanceId: string): boolean {
    return this.instances.has(instanceId);
  }

  values(): IterableIterator<Instance> {
    return this.instances.values();
  }

  get size(): number {
    return this.instances.size;
  }

  /** Rebuilds the instances from the journal and compacts it; false when there is no journal. */
  recover(): boolean {
    if (!this.journal) return false;
    for (const record of this.journal.load()) this.apply(record);
    this.journal.rewrite(this.snapshotRecords());
    return true;
  }

  commit(record: JournalRecord): void {
    this.apply(record);
    this.journal?.append(record);
  }

  close(): void {
    this.journal?.close();
  }

  private *snapshotRecords(): Iterable<JournalRecord> {
    for (const instance of this.instances.values()) yield { k: 'put', s: toRecord(instance) };
  }

  private apply(record: JournalRecord): void {
    switch (record.k) {
      case 'put': {
        const instance: Instance = { ...record.s, scheduled: new Set() };
        for (const event of instance.history) noteScheduled(instance, event);
        this.instances.set(instance.instanceId, instance);
        break;
      }
      case 'msg': {
        const instance = this.instances.get(record.i);
        if (!instance || isTerminal(instance.status)) return;
        if (record.x !== undefined && record.x !== instance.executionId) return;
        if (record.e.EventType === EventType.ExecutionSuspended) instance.suspended = true;
        if (record.e.EventType === EventType.ExecutionResumed) instance.suspended = false;
        instance.inbox.push(record.e);
        break;
      }
      case 'ep': {
        const instance = this.instances.get(record.i);
        if (!instance || instance.executionId !== record.x) return;
        instance.inbox.splice(0, record.n);
        for (const event of record.h) {
          event.IsPlayed = true;
          instance.history.push(event);
          noteScheduled(instance, event);
        }
        instance.status = record.st;
        instance.output = record.o;
        instance.customStatus = record.cs;
        instance.lastUpdatedTime = record.u;
        if (isTerminal(record.st)) instance.suspended = false;
        for (const emitted of record.out) this.apply(emitted);
        break;
      }
      case 'del':
        this.instances.delete(record.i);
        break;
    }
  }
}

function toRecord(instance: Instance): InstanceRecord {
  const { scheduled: _scheduled, ...record } = instance;
  return record;
}

function noteScheduled(instance: Instance, event: HistoryEvent): void {
  if (
    event.EventType === EventType.TaskScheduled ||
    event.EventType === EventType.TimerCreated ||
    event.EventType === EventType.SubOrchestrationInstanceCreated
  ) {
    instance.scheduled.add(event.EventId);
  }
}
