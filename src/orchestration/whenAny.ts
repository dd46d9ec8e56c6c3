import type { OrchestrationContext, Task } from 'durable-functions';

/** The parts of the SDK's task objects this workaround touches (durable-functions 3.5.0, pinned). */
interface SchedulableTask {
  alreadyScheduled: boolean;
  readonly actionObj: unknown;
}
interface CompoundTask extends SchedulableTask {
  action: { compoundActions: unknown[] };
}

/**
 * `Task.any` for a sliding window, where most tasks were already yielded in an earlier `Task.any`.
 *
 * durable-functions 3.x puts the action of every child into each new WhenAny action, including
 * children it already sent (Azure/azure-functions-durable-js#574, open). The extension replays the
 * action list call by call, so a repeated child is scheduled again and every later task id shifts.
 * The Python SDK fixed the same bug by sending only children not sent before
 * (azure-functions-durable-python#446); this does the same, and sends nothing when no child is new.
 * The replay tests number actions the way the extension does and fail if an action repeats.
 */
export function whenAny(context: OrchestrationContext, tasks: Task[]): Task {
  const compound = context.df.Task.any(tasks) as unknown as CompoundTask;
  const unscheduled = (tasks as unknown as SchedulableTask[]).filter((task) => !task.alreadyScheduled);
  compound.action.compoundActions = unscheduled.map((task) => task.actionObj);
  if (unscheduled.length === 0) compound.alreadyScheduled = true;
  return compound as unknown as Task;
}
