import { randomUUID } from 'node:crypto';
import type { Invoker, InvocationContext } from '../runtime/invoker';
import type { Registration } from '../runtime/types';
import {
  EventType,
  OrchestrationStatusCode,
  historyEvent,
  parseJsonText,
  toJsonText,
  type EventClock,
  type HistoryEvent,
} from './history';
import { isTerminal, newInstanceRecord, type Instance, type InstanceStore } from './instances';
import type { EpisodeRecord, JournalRecord, ParentRef, RuntimeStatus } from './journal';
import { registrationOfKind, unknownOrchestratorMessage } from './registrations';
import {
  ACTION,
  actionInputValue,
  continueAsNewAction,
  openTasks,
  orchestrationTrigger,
  orchestratorFailure,
  timerFireAt,
  type ActionLike,
  type OrchestratorStateLike,
} from './sdkShapes';

/** What one instance id cost over all its executions (continue-as-new starts a new history). */
export interface InstanceHistoryStats {
  episodes: number;
  /** Sum over its episodes of the history length each one replayed. */
  eventsReplayed: number;
  /** Its longest history (one execution), counting every event. */
  maxHistoryLength: number;
}

/** What replay cost, in all and per instance id (kept after purge, so a benchmark can read it at the end). */
export class ReplayStats {
  episodes = 0;
  eventsReplayed = 0;
  maxHistoryLength = 0;
  private readonly perInstance = new Map<string, InstanceHistoryStats>();

  countEpisode(instance: Instance): void {
    this.episodes += 1;
    this.eventsReplayed += instance.history.length;
    const own = this.of(instance.instanceId);
    own.episodes += 1;
    own.eventsReplayed += instance.history.length;
  }

  noteHistoryLength(instanceId: string, length: number): void {
    this.maxHistoryLength = Math.max(this.maxHistoryLength, length);
    const own = this.of(instanceId);
    own.maxHistoryLength = Math.max(own.maxHistoryLength, length);
  }

  histories(): Record<string, InstanceHistoryStats> {
    return Object.fromEntries([...this.perInstance].map(([id, entry]) => [id, { ...entry }]));
  }

  private of(instanceId: string): InstanceHistoryStats {
    let entry = this.perInstance.get(instanceId);
    if (!entry) {
      entry = { episodes: 0, eventsReplayed: 0, maxHistoryLength: 0 };
      this.perInstance.set(instanceId, entry);
    }
    return entry;
  }
}

export interface EpisodeCollaborators {
  invoker: Invoker;
  registrations: Map<string, Registration>;
  store: InstanceStore;
  clock: EventClock;
  stats: ReplayStats;
  /** Applies, journals and acts on one record (the engine's commit). */
  commit: (record: JournalRecord) => void;
}

/**
 * One episode of an instance: its waiting events are appended to the history, the orchestrator replays
 * it through durable-functions' own replay engine, and what it decided (new tasks, timers, children, its
 * end) is committed as one episode record.
 */
export class EpisodeRunner {
  constructor(private readonly parts: EpisodeCollaborators) {}

  async run(instance: Instance): Promise<void> {
    const consumed = instance.inbox.length;
    if (consumed === 0 || isTerminal(instance.status)) return;
    const batch = instance.inbox.slice(0, consumed);
    const now = this.parts.clock.now();
    const started = historyEvent(EventType.OrchestratorStarted, now);
    const terminated = batch.find((event) => event.EventType === EventType.ExecutionTerminated);
    if (terminated) {
      this.commitTermination(instance, consumed, [started, ...batch], terminated, now);
      return;
    }
    if (instance.suspended) {
      this.commitSuspensionMarkers(instance, consumed, [started, ...batch]);
      return;
    }

    const newEvents = [started, ...batch];
    const history = instance.history.concat(newEvents);
    this.parts.stats.countEpisode(instance);
    const decisions: HistoryEvent[] = [];
    const out: JournalRecord[] = [];
    const invoked = await this.invokeOrchestrator(instance, history);
    let failure = invoked.failure;
    const { state, context } = invoked;
    if (this.parts.store.get(instance.instanceId) !== instance) return; // purged meanwhile

    let status: RuntimeStatus = 'Running';
    let output = instance.output;
    const customStatus =
      state?.customStatus !== undefined && state.customStatus !== null
        ? JSON.stringify(state.customStatus)
        : instance.customStatus;

    if (failure === undefined && state && !state.isDone) {
      failure = this.scheduleNewWork(instance, context, now, decisions, out);
    }
    if (failure !== undefined) {
      status = 'Failed';
      output = this.failEpisode(instance, failure, now, decisions, out);
    } else if (state?.isDone) {
      ({ status, output } = this.finishEpisode(instance, consumed, state, customStatus, now, decisions, out));
    }
    this.commitEpisode(instance, consumed, newEvents, decisions, status, output, customStatus, out);
  }

  /** A terminate request ends the instance at once, whatever else arrived with it. */
  private commitTermination(
    instance: Instance,
    consumed: number,
    newEvents: HistoryEvent[],
    terminated: HistoryEvent,
    now: Date,
  ): void {
    const reason = typeof terminated.Input === 'string' ? terminated.Input : '';
    const output = JSON.stringify(reason);
    this.commitEpisode(
      instance,
      consumed,
      newEvents,
      [
        historyEvent(EventType.ExecutionCompleted, now, {
          OrchestrationStatus: OrchestrationStatusCode.Terminated,
          Result: output,
        }),
      ],
      'Terminated',
      output,
      instance.customStatus,
      [],
    );
  }

  private commitSuspensionMarkers(instance: Instance, consumed: number, newEvents: HistoryEvent[]): void {
    // Only the suspension marker itself is recorded; other events wait for resume.
    const markers = newEvents.filter((event) => event.EventType === EventType.ExecutionSuspended);
    if (markers.length === consumed)
      this.commitEpisode(
        instance,
        consumed,
        newEvents,
        [],
        instance.status,
        instance.output,
        instance.customStatus,
        [],
      );
  }

  /** Replays `history` through the orchestrator function: its state, or why it failed. */
  private async invokeOrchestrator(
    instance: Instance,
    history: HistoryEvent[],
  ): Promise<{ failure?: string; state?: OrchestratorStateLike; context?: InvocationContext }> {
    const { invoker, registrations } = this.parts;
    const registration = registrationOfKind(registrations, instance.name, 'orchestrationTrigger');
    if (!registration) return { failure: unknownOrchestratorMessage(instance.name) };
    const trigger = orchestrationTrigger(
      history,
      parseJsonText(instance.input),
      instance.instanceId,
      instance.parent?.instanceId ?? null,
    );
    const request = { registration, trigger };
    const context = invoker.createContext(request, randomUUID());
    try {
      const state = (await invoker.invokeWithContext(request, context)) as OrchestratorStateLike;
      return { state, context };
    } catch (error) {
      const parsed = orchestratorFailure(error);
      return { failure: parsed.message, state: parsed.state, context };
    }
  }

  /** Replaces the episode's decisions with the failure; answers the output (the message as JSON). */
  private failEpisode(
    instance: Instance,
    failure: string,
    now: Date,
    decisions: HistoryEvent[],
    out: JournalRecord[],
  ): string {
    const message = `Orchestrator function '${instance.name}' failed: ${failure}`;
    const output = JSON.stringify(message);
    decisions.length = 0;
    out.length = 0;
    decisions.push(
      historyEvent(EventType.ExecutionCompleted, now, {
        OrchestrationStatus: OrchestrationStatusCode.Failed,
        Result: output,
        FailureDetails: {
          ErrorType: 'OrchestrationFailure',
          ErrorMessage: message,
          StackTrace: null,
          InnerFailure: null,
          IsNonRetriable: false,
          Properties: null,
        },
      }),
    );
    out.push(...notifyParent(instance, now, false, message));
    return output;
  }

  /** The orchestrator returned: completed, or continued as new with a fresh instance record. */
  private finishEpisode(
    instance: Instance,
    consumed: number,
    state: OrchestratorStateLike,
    customStatus: string | null,
    now: Date,
    decisions: HistoryEvent[],
    out: JournalRecord[],
  ): { status: RuntimeStatus; output: string | null } {
    const continueAsNew = continueAsNewAction(state);
    if (continueAsNew) {
      const inputJson = toJsonText(actionInputValue(continueAsNew));
      decisions.push(
        historyEvent(EventType.ExecutionCompleted, now, {
          OrchestrationStatus: OrchestrationStatusCode.ContinuedAsNew,
          Result: inputJson,
        }),
      );
      const leftover = instance.inbox
        .slice(consumed)
        .filter((event) => event.EventType === EventType.EventRaised);
      const fresh = newInstanceRecord(instance.instanceId, instance.name, inputJson, instance.parent, now, {
        createdTime: instance.createdTime,
        customStatus,
        inbox: leftover,
      });
      // The put replaces the instance; only external events that arrived during the episode carry over.
      out.push({ k: 'put', s: fresh });
      return { status: 'ContinuedAsNew', output: instance.output };
    }
    const output = toJsonText(state.output);
    decisions.push(
      historyEvent(EventType.ExecutionCompleted, now, {
        OrchestrationStatus: OrchestrationStatusCode.Completed,
        Result: output,
      }),
    );
    out.push(...notifyParent(instance, now, true, output));
    return { status: 'Completed', output };
  }

  private commitEpisode(
    instance: Instance,
    consumed: number,
    newEvents: HistoryEvent[],
    decisions: HistoryEvent[],
    status: RuntimeStatus,
    output: string | null,
    customStatus: string | null,
    out: JournalRecord[],
  ): void {
    const now = this.parts.clock.now();
    decisions.push(historyEvent(EventType.OrchestratorCompleted, now));
    const record: EpisodeRecord = {
      k: 'ep',
      i: instance.instanceId,
      x: instance.executionId,
      n: consumed,
      h: [...newEvents, ...decisions],
      st: status,
      o: output,
      cs: customStatus,
      u: now.toISOString(),
      out,
    };
    const length = instance.history.length + record.h.length;
    this.parts.commit(record);
    this.parts.stats.noteHistoryLength(instance.instanceId, length);
  }

  /**
   * Every task the SDK has open with no scheduling event yet is new work. Returns a failure message when
   * the orchestrator asked for something this host cannot do.
   */
  private scheduleNewWork(
    instance: Instance,
    context: InvocationContext | undefined,
    now: Date,
    decisions: HistoryEvent[],
    out: JournalRecord[],
  ): string | undefined {
    for (const [id, work] of openTasks(context)) {
      if (!Number.isInteger(id) || instance.scheduled.has(id)) continue;
      if (work.kind === 'unknown') return `the local host cannot schedule task ${id} (no action).`;
      if (work.kind === 'retryTimer') {
        const fireAt = new Date(now.getTime() + work.delayMs);
        decisions.push(historyEvent(EventType.TimerCreated, now, { FireAt: fireAt.toISOString() }, id));
        continue;
      }
      const action = work.action;
      switch (action.actionType) {
        case ACTION.CallActivity:
        case ACTION.CallActivityWithRetry: {
          const value = actionInputValue(action);
          decisions.push(
            historyEvent(
              EventType.TaskScheduled,
              now,
              {
                Name: action.functionName,
                Version: '',
                Input: value === undefined ? undefined : JSON.stringify(value),
              },
              id,
            ),
          );
          break;
        }
        case ACTION.CallSubOrchestrator:
        case ACTION.CallSubOrchestratorWithRetry:
          this.scheduleSubOrchestration(instance, action, id, now, decisions, out);
          break;
        case ACTION.CreateTimer:
          decisions.push(
            historyEvent(EventType.TimerCreated, now, { FireAt: timerFireAt(action).toISOString() }, id),
          );
          break;
        default:
          return `the local host does not support action type ${String(action.actionType)} (entities and durable HTTP calls are not implemented).`;
      }
    }
    return undefined;
  }

  /** Records the child's creation and starts it, or fails the task when it cannot start. */
  private scheduleSubOrchestration(
    instance: Instance,
    action: ActionLike,
    id: number,
    now: Date,
    decisions: HistoryEvent[],
    out: JournalRecord[],
  ): void {
    const name = String(action.functionName);
    const childId = action.instanceId ?? `${instance.executionId}:${id}`;
    const inputJson = action.input === undefined ? null : JSON.stringify(action.input);
    decisions.push(
      historyEvent(
        EventType.SubOrchestrationInstanceCreated,
        now,
        { Name: name, Version: '', InstanceId: childId, Input: inputJson },
        id,
      ),
    );
    const isOrchestrator =
      registrationOfKind(this.parts.registrations, name, 'orchestrationTrigger') !== undefined;
    const existing = this.parts.store.get(childId);
    const pendingChild = out.some((record) => record.k === 'put' && record.s.instanceId === childId);
    if (!isOrchestrator || (existing && !isTerminal(existing.status)) || pendingChild) {
      const reason = !isOrchestrator
        ? unknownOrchestratorMessage(name)
        : `An orchestration with instance ID '${childId}' already exists and is running.`;
      out.push({
        k: 'msg',
        i: instance.instanceId,
        x: instance.executionId,
        e: historyEvent(EventType.SubOrchestrationInstanceFailed, now, {
          TaskScheduledId: id,
          Reason: reason,
          Details: '',
        }),
      });
      return;
    }
    const parent: ParentRef = {
      instanceId: instance.instanceId,
      executionId: instance.executionId,
      taskId: id,
      name: instance.name,
    };
    out.push({ k: 'put', s: newInstanceRecord(childId, name, inputJson, parent, now) });
  }
}

/** The message that tells a sub-orchestration's parent how it ended. */
function notifyParent(instance: Instance, now: Date, succeeded: boolean, payload: string): JournalRecord[] {
  const parent = instance.parent;
  if (!parent) return [];
  const event = succeeded
    ? historyEvent(EventType.SubOrchestrationInstanceCompleted, now, {
        TaskScheduledId: parent.taskId,
        Result: payload,
      })
    : historyEvent(EventType.SubOrchestrationInstanceFailed, now, {
        TaskScheduledId: parent.taskId,
        Reason: payload,
        Details: JSON.stringify({ instanceId: instance.instanceId, message: payload }),
      });
  return [{ k: 'msg', i: parent.instanceId, x: parent.executionId, e: event }];
}
