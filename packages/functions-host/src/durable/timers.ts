import { EventType, historyEvent, type EventClock, type HistoryEvent } from './history';
import type { Instance } from './instances';
import type { JournalRecord } from './journal';

/** setTimeout's longest wait; a later timer waits in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Durable timers: each TimerCreated in a running execution fires a TimerFired into its instance. */
export class DurableTimers {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly clock: EventClock,
    private readonly deliver: (record: JournalRecord) => void,
  ) {}

  arm(instance: Pick<Instance, 'instanceId' | 'executionId'>, created: HistoryEvent): void {
    if (this.stopped) return;
    const key = `${instance.instanceId}|${instance.executionId}|${created.EventId}`;
    if (this.pending.has(key)) return;
    const fireAt = new Date(String(created.FireAt));
    const fire = (): void => {
      const wait = fireAt.getTime() - Date.now();
      if (wait > 0) {
        this.pending.set(key, setTimeout(fire, Math.min(wait, MAX_TIMEOUT_MS)));
        return;
      }
      this.pending.delete(key);
      if (this.stopped) return;
      this.deliver({
        k: 'msg',
        i: instance.instanceId,
        x: instance.executionId,
        e: historyEvent(EventType.TimerFired, this.clock.now(), {
          TimerId: created.EventId,
          FireAt: fireAt.toISOString(),
        }),
      });
    };
    this.pending.set(
      key,
      setTimeout(fire, Math.max(0, Math.min(fireAt.getTime() - Date.now(), MAX_TIMEOUT_MS))),
    );
  }

  /** Fires nothing more; the journal keeps the timers for the next start. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }
}
