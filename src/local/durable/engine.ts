import { randomUUID } from 'node:crypto';
import type { Invoker, InvocationContext } from '../invoker';
import type { LogLine, Registration } from '../types';
import { ActivityQueue } from './activities';
import {
  EventType,
  OrchestrationStatusCode,
  historyEvent,
  EventClock,
  parseJsonText,
  toJsonText,
  type HistoryEvent,
} from './history';
import { InstanceStore, isTerminal, newExecutionId, newInstanceRecord, type Instance } from './instances';
import type { EpisodeRecord, Journal, JournalRecord, ParentRef, RuntimeStatus } from './journal';
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
import { DurableTimers } from './timers';

export type { RuntimeStatus } from './journal';
export type PublicStatus = RuntimeStatus | 'Suspended';

/** What one instance id cost over all its executions (continue-as-new starts a new history). */
export interface InstanceHistoryStats {
  episodes: number;
  /** Sum over its episodes of the history length each one replayed. */
  eventsReplayed: number;
  /** Its longest history (one execution), counting every event. */
  maxHistoryLength: number;
}

export interface EngineStats {
  episodes: number;
  eventsReplayed: number;
  maxHistoryLength: number;
  /** Per instance id, since the host started (kept after purge, so a benchmark can read it at the end). */
  histories: Record<string, InstanceHistoryStats>;
  activitiesExecuted: number;
  activitiesInFlight: number;
  instances: number;
}

export interface EngineOptions {
  invoker: Invoker;
  registrations: Map<string, Registration>;
  maxConcurrentActivities: number;
  journal?: Journal;
  log: LogLine;
  quiet: boolean;
  /** Input bindings the host supplies (durable clients), for activities that declare them. */
  extraInputsFor?: (registration: Registration) => Record<string, unknown>;
}

export interface InstanceQuery {
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  runtimeStatus?: PublicStatus[];
}

export class UnknownOrchestratorError extends Error {}
export class InstanceExistsError extends Error {}

/**
 * The Durable Functions extension in miniature: instances with DTFx-shaped histories, episodes that run
 * the app's orchestrator callbacks through durable-functions' own replay engine, an activity queue,
 * timers and sub-orchestrations. Every state change is one journal record, applied the same way live and
 * on recovery.
 */
export class DurableEngine {
  private readonly store: InstanceStore;
  private readonly ready = new Set<string>();
  private readonly runningEpisode = new Set<string>();
  private readonly clock = new EventClock();
  private readonly activities: ActivityQueue;
  private readonly timers: DurableTimers;
  private readonly idleWaiters: (() => void)[] = [];
  private pumpScheduled = false;
  private pumping = false;
  private stopped = false;
  private readonly counters = { episodes: 0, eventsReplayed: 0, maxHistoryLength: 0 };
  private readonly historyStats = new Map<string, InstanceHistoryStats>();

  constructor(private readonly options: EngineOptions) {
    this.store = new InstanceStore(options.journal);
    const commit = (record: JournalRecord): void => this.commit(record);
    this.activities = new ActivityQueue({
      invoker: options.invoker,
      registrations: options.registrations,
      maxConcurrent: options.maxConcurrentActivities,
      extraInputsFor: options.extraInputsFor,
      log: options.log,
      quiet: options.quiet,
      clock: this.clock,
      deliver: commit,
      onSettled: () => this.checkIdle(),
    });
    this.timers = new DurableTimers(this.clock, commit);
  }

  // ---------------------------------------------------------------- recovery and records

  /** Rebuilds state from the journal, compacts it, and restarts unfinished work. */
  recover(): number {
    if (!this.store.recover()) return 0;
    let resumed = 0;
    for (const instance of this.store.values()) {
      if (isTerminal(instance.status)) continue;
      resumed += 1;
      this.restartInFlightWork(instance);
      this.kick(instance.instanceId);
    }
    return resumed;
  }

  /** Activities and timers scheduled in the current execution with no completion yet run again. */
  private restartInFlightWork(instance: Instance): void {
    const done = new Set<number>();
    for (const event of [...instance.history, ...instance.inbox]) {
      if (event.EventType === EventType.TaskCompleted || event.EventType === EventType.TaskFailed) {
        done.add(event.TaskScheduledId as number);
      } else if (event.EventType === EventType.TimerFired) {
        done.add(event.TimerId as number);
      }
    }
    for (const event of instance.history) {
      if (done.has(event.EventId)) continue;
      if (event.EventType === EventType.TaskScheduled) this.activities.enqueue(instance, event);
      else if (event.EventType === EventType.TimerCreated) this.timers.arm(instance, event);
    }
  }

  private commit(record: JournalRecord): void {
    this.store.commit(record);
    this.afterApply(record);
  }

  /** Live side effects of a record: run activities, arm timers, wake instances. */
  private afterApply(record: JournalRecord): void {
    switch (record.k) {
      case 'put':
        this.kick(record.s.instanceId);
        break;
      case 'msg':
        this.kick(record.i);
        break;
      case 'ep': {
        const instance = this.store.get(record.i);
        if (instance && instance.executionId === record.x && !isTerminal(instance.status)) {
          for (const event of record.h) {
            if (event.EventType === EventType.TaskScheduled) this.activities.enqueue(instance, event);
            else if (event.EventType === EventType.TimerCreated) this.timers.arm(instance, event);
          }
        }
        for (const emitted of record.out) this.afterApply(emitted);
        this.kick(record.i);
        break;
      }
      case 'del':
        break;
    }
  }

  // ---------------------------------------------------------------- public operations

  hasOrchestrator(name: string): boolean {
    return registrationOfKind(this.options.registrations, name, 'orchestrationTrigger') !== undefined;
  }

  /** Starts a new instance; an existing id is replaced only when it is not running (NonRunningStates). */
  startNew(name: string, instanceId: string | undefined, inputJson: string | null): string {
    if (!this.hasOrchestrator(name)) throw new UnknownOrchestratorError(unknownOrchestratorMessage(name));
    const id = instanceId ?? newExecutionId();
    const existing = this.store.get(id);
    if (existing && !isTerminal(existing.status)) {
      throw new InstanceExistsError(`An instance with ID '${id}' already exists and is ${existing.status}.`);
    }
    this.commit({ k: 'put', s: newInstanceRecord(id, name, inputJson, null, this.clock.now()) });
    return id;
  }

  getInstance(instanceId: string): Readonly<Instance> | undefined {
    return this.store.get(instanceId);
  }

  publicStatus(instance: Readonly<Instance>): PublicStatus {
    return instance.suspended && !isTerminal(instance.status) ? 'Suspended' : instance.status;
  }

  query(filter: InstanceQuery): Readonly<Instance>[] {
    const result: Instance[] = [];
    for (const instance of this.store.values()) {
      const created = Date.parse(instance.createdTime);
      if (filter.createdTimeFrom && created < filter.createdTimeFrom.getTime()) continue;
      if (filter.createdTimeTo && created > filter.createdTimeTo.getTime()) continue;
      if (
        filter.runtimeStatus &&
        filter.runtimeStatus.length > 0 &&
        !filter.runtimeStatus.includes(this.publicStatus(instance))
      ) {
        continue;
      }
      result.push(instance);
    }
    return result;
  }

  /** 'ok' | 'gone' (already finished) | 'missing' */
  raiseEvent(instanceId: string, name: string, dataJson: string | null): 'ok' | 'gone' | 'missing' {
    return this.sendControl(
      instanceId,
      historyEvent(EventType.EventRaised, this.clock.now(), { Name: name, Input: dataJson }),
    );
  }

  terminate(instanceId: string, reason: string): 'ok' | 'gone' | 'missing' {
    return this.sendControl(
      instanceId,
      historyEvent(EventType.ExecutionTerminated, this.clock.now(), { Input: reason }),
    );
  }

  suspend(instanceId: string, reason: string): 'ok' | 'gone' | 'missing' {
    return this.sendControl(
      instanceId,
      historyEvent(EventType.ExecutionSuspended, this.clock.now(), { Reason: reason }),
    );
  }

  resume(instanceId: string, reason: string): 'ok' | 'gone' | 'missing' {
    return this.sendControl(
      instanceId,
      historyEvent(EventType.ExecutionResumed, this.clock.now(), { Reason: reason }),
    );
  }

  private sendControl(instanceId: string, event: HistoryEvent): 'ok' | 'gone' | 'missing' {
    const instance = this.store.get(instanceId);
    if (!instance) return 'missing';
    if (isTerminal(instance.status)) return 'gone';
    this.commit({ k: 'msg', i: instanceId, e: event });
    return 'ok';
  }

  purge(instanceId: string): boolean {
    if (!this.store.has(instanceId)) return false;
    this.commit({ k: 'del', i: instanceId });
    return true;
  }

  stats(): EngineStats {
    return {
      ...this.counters,
      activitiesExecuted: this.activities.executed,
      histories: Object.fromEntries([...this.historyStats].map(([id, entry]) => [id, { ...entry }])),
      activitiesInFlight: this.activities.inFlight,
      instances: this.store.size,
    };
  }

  /** Resolves when no episode, activity or runnable instance is left (timers and waits may remain). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.ready.size === 0 && this.runningEpisode.size === 0 && this.activities.inFlight === 0;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length > 0 && this.isIdle())
      this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  /** Stops taking new work, lets running activities finish (up to `drainMs`), then closes the journal. */
  async stop(drainMs = 10_000): Promise<void> {
    this.stopped = true;
    this.activities.stop();
    // Timers fire nothing once stopped; the journal keeps them for the next start.
    this.timers.stop();
    const deadline = Date.now() + drainMs;
    while ((this.activities.runningCount > 0 || this.runningEpisode.size > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.store.close();
  }

  // ---------------------------------------------------------------- episode scheduling

  private kick(instanceId: string): void {
    const instance = this.store.get(instanceId);
    if (!instance || instance.inbox.length === 0 || isTerminal(instance.status)) return;
    if (
      instance.suspended &&
      !instance.inbox.some(
        (e) => e.EventType === EventType.ExecutionTerminated || e.EventType === EventType.ExecutionResumed,
      )
    ) {
      return;
    }
    this.ready.add(instanceId);
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.pumping || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => void this.pump());
  }

  /**
   * Runs one episode per ready instance. Completions that arrive while episodes run wait in each inbox
   * and go into the next episode together, as the extension's batched dequeue does.
   */
  private async pump(): Promise<void> {
    this.pumpScheduled = false;
    if (this.stopped) return;
    this.pumping = true;
    try {
      const batch = [...this.ready];
      this.ready.clear();
      for (const instanceId of batch) {
        if (this.stopped) break;
        const instance = this.store.get(instanceId);
        if (!instance || this.runningEpisode.has(instanceId)) continue;
        this.runningEpisode.add(instanceId);
        try {
          await this.runEpisode(instance);
        } catch (error) {
          this.options.log(
            `Durable engine error in instance ${instanceId}: ${(error as Error).stack ?? String(error)}`,
          );
        } finally {
          this.runningEpisode.delete(instanceId);
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.ready.size > 0) this.schedulePump();
    this.checkIdle();
  }

  // ---------------------------------------------------------------- episodes

  private async runEpisode(instance: Instance): Promise<void> {
    const consumed = instance.inbox.length;
    if (consumed === 0 || isTerminal(instance.status)) return;
    const batch = instance.inbox.slice(0, consumed);
    const now = this.clock.now();
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
    this.countEpisode(instance);
    const decisions: HistoryEvent[] = [];
    const out: JournalRecord[] = [];
    const invoked = await this.invokeOrchestrator(instance, history);
    let failure = invoked.failure;
    const { state, context } = invoked;
    if (this.store.get(instance.instanceId) !== instance) return; // purged meanwhile

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

  private countEpisode(instance: Instance): void {
    this.counters.episodes += 1;
    this.counters.eventsReplayed += instance.history.length;
    const own = this.historyStatsOf(instance.instanceId);
    own.episodes += 1;
    own.eventsReplayed += instance.history.length;
  }

  /** Replays `history` through the orchestrator function: its state, or why it failed. */
  private async invokeOrchestrator(
    instance: Instance,
    history: HistoryEvent[],
  ): Promise<{ failure?: string; state?: OrchestratorStateLike; context?: InvocationContext }> {
    const registration = registrationOfKind(
      this.options.registrations,
      instance.name,
      'orchestrationTrigger',
    );
    if (!registration) return { failure: unknownOrchestratorMessage(instance.name) };
    const trigger = orchestrationTrigger(
      history,
      parseJsonText(instance.input),
      instance.instanceId,
      instance.parent?.instanceId ?? null,
    );
    const request = { registration, trigger };
    const context = this.options.invoker.createContext(request, randomUUID());
    try {
      const state = (await this.options.invoker.invokeWithContext(request, context)) as OrchestratorStateLike;
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
    out.push(...this.notifyParent(instance, now, false, message));
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
    out.push(...this.notifyParent(instance, now, true, output));
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
    const now = this.clock.now();
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
    this.commit(record);
    this.counters.maxHistoryLength = Math.max(this.counters.maxHistoryLength, length);
    const own = this.historyStatsOf(instance.instanceId);
    own.maxHistoryLength = Math.max(own.maxHistoryLength, length);
  }

  private historyStatsOf(instanceId: string): InstanceHistoryStats {
    let entry = this.historyStats.get(instanceId);
    if (!entry) {
      entry = { episodes: 0, eventsReplayed: 0, maxHistoryLength: 0 };
      this.historyStats.set(instanceId, entry);
    }
    return entry;
  }

  private notifyParent(instance: Instance, now: Date, succeeded: boolean, payload: string): JournalRecord[] {
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
    const existing = this.store.get(childId);
    const pendingChild = out.some((record) => record.k === 'put' && record.s.instanceId === childId);
    if (!this.hasOrchestrator(name) || (existing && !isTerminal(existing.status)) || pendingChild) {
      const reason = !this.hasOrchestrator(name)
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
