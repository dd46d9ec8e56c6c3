import type { Invoker } from '../runtime/invoker';
import type { LogLine, Registration } from '../runtime/types';
import { ActivityQueue } from './activities';
import { EpisodeRunner, ReplayStats, type InstanceHistoryStats } from './episode';
import { EventClock, EventType, historyEvent, type HistoryEvent } from './history';
import { InstanceStore, isTerminal, newExecutionId, newInstanceRecord, type Instance } from './instances';
import type { Journal, JournalRecord, RuntimeStatus } from './journal';
import { registrationOfKind, unknownOrchestratorMessage } from './registrations';
import { checkDurableFunctionsVersion } from './sdkShapes';
import { DurableTimers } from './timers';
import type { StorageGate } from '../storage/storageSupervisor';

export type { RuntimeStatus } from './journal';
export type { InstanceHistoryStats } from './episode';
export type PublicStatus = RuntimeStatus | 'Suspended';

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
  /** `require` rooted at the app, to read which durable-functions it runs (unchecked without it). */
  appRequire?: (id: string) => unknown;
  /** The host's supervised storage: activities wait for it and run again after its outages. */
  storage?: StorageGate;
}

export interface InstanceQuery {
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  runtimeStatus?: PublicStatus[];
}

export class UnknownOrchestratorError extends Error {}
export class InstanceExistsError extends Error {}

/**
 * The Durable Functions extension in miniature: instances with DTFx-shaped histories (`instances.ts`),
 * episodes that run the app's orchestrator callbacks through durable-functions' own replay engine
 * (`episode.ts`), an activity queue (`activities.ts`), timers (`timers.ts`) and sub-orchestrations.
 * Every state change is one journal record; this class commits them, sets off what each one starts, and
 * decides which instance runs its next episode.
 */
export class DurableEngine {
  private readonly clock = new EventClock();
  private readonly store: InstanceStore;
  private readonly replayStats = new ReplayStats();
  private readonly episodes: EpisodeRunner;
  private readonly activities: ActivityQueue;
  private readonly timers: DurableTimers;
  private readonly ready = new Set<string>();
  private readonly runningEpisode = new Set<string>();
  private readonly idleWaiters: (() => void)[] = [];
  private pumpScheduled = false;
  private pumping = false;
  private stopped = false;

  constructor(private readonly options: EngineOptions) {
    // An app without orchestrators never hands the engine any of the SDK's shapes.
    const hasOrchestrators = [...options.registrations.keys()].some((name) => this.hasOrchestrator(name));
    if (options.appRequire && hasOrchestrators) checkDurableFunctionsVersion(options.appRequire, options.log);
    this.store = new InstanceStore(options.journal);
    const commit = (record: JournalRecord): void => this.commit(record);
    this.episodes = new EpisodeRunner({
      invoker: options.invoker,
      registrations: options.registrations,
      store: this.store,
      clock: this.clock,
      stats: this.replayStats,
      commit,
    });
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
      storage: options.storage,
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
    const replay = this.replayStats;
    return {
      episodes: replay.episodes,
      eventsReplayed: replay.eventsReplayed,
      maxHistoryLength: replay.maxHistoryLength,
      activitiesExecuted: this.activities.executed,
      histories: replay.histories(),
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
          await this.episodes.run(instance);
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
}
