import type { OrchestrationContext, RetryOptions, Task } from 'durable-functions';
import { MAX_RUNNER_TIMEOUT_SECONDS } from '../job/effective';
import { callActivity, outputOf } from './activities';
import {
  Events,
  OrchestratorNames,
  finalizeSteps,
  rootInputSchema,
  shardInstanceId,
  shardResultSchema,
  type FinalizeActivityInput,
  type JobEnd,
  type JobOutcome,
  type ParsedRootInput,
  type Phase,
  type PlanProgressOutput,
  type RootState,
  type RootStatus,
  type ShardInput,
  type ShardResult,
  type StopShardsInput,
} from './contracts';
import { addCounters, emptyCounters, keepFirstErrors } from './counters';
import { decideOutcome } from './jobOutcome';
import { failureBudget, thresholdBreaches } from './thresholds';
import { laneWidths, shardSize } from './lanes';
import { failureOf, failureText } from './failures';
import { activityRetryOptions } from './retryPolicy';
import { whenAny } from './whenAny';

const SECOND = 1000;

interface RunningShard {
  shard: number;
  lane: number;
}

/**
 * The job: plan, then shards over the plan on lanes (each lane runs one shard at a time, so the whole
 * job keeps at most instance_count x max_concurrency_per_instance attempts in flight), then finalize.
 * Continues as new every `shardsPerExecution` shards so that its own history stays bounded.
 */
export function* rootOrchestrator(
  context: OrchestrationContext,
): Generator<Task, JobOutcome | void, unknown> {
  const input = rootInputSchema.parse(context.df.getInput());
  const { jobId, job, options } = input;
  const settings = job.settings;
  const begun = yield* begin(context, input);
  if (!('plan' in begun)) return begun;
  let state: RootState = begun;

  const total = state.plan.miniBatches;
  const lanes = laneWidths(settings.instanceCount * settings.maxConcurrencyPerInstance);
  const running = new Map<Task, RunningShard>();
  const freeLanes = lanes.map((_, lane) => lane).reverse();
  const cancel = context.df.waitForExternalEvent(Events.cancel);
  let startedHere = 0;
  let stoppingShards: Task | undefined;

  const stopping = (): boolean => state.canceled || state.reasons.length > 0;
  for (;;) {
    while (
      !stopping() &&
      state.cursor < total &&
      freeLanes.length > 0 &&
      startedHere < options.shardsPerExecution
    ) {
      const lane = freeLanes.pop()!;
      const shardInput = shardInputFor(input, state, lanes[lane]!, lanes.length);
      const task = context.df.callSubOrchestrator(
        OrchestratorNames.shard,
        shardInput,
        shardInstanceId(jobId, state.nextShard),
      );
      running.set(task, { shard: state.nextShard, lane });
      state = { ...state, cursor: shardInput.end, nextShard: state.nextShard + 1 };
      startedHere += 1;
    }
    if (running.size === 0) break;
    const phase: Phase = state.canceled ? 'CancelRequested' : 'Running';
    setStatus(context, phase, state.counters, shardNumbers(running), state.reasons, state.startedAt);

    const waitingOn: Task[] = [...running.keys()];
    if (!state.canceled) waitingOn.push(cancel);
    if (stoppingShards) waitingOn.push(stoppingShards);
    const winner = (yield whenAny(context, waitingOn)) as Task;
    const wasStopping = stopping();
    if (winner === stoppingShards) {
      stoppingShards = undefined;
    } else if (winner === cancel) {
      state = { ...state, canceled: true };
    } else {
      const done = running.get(winner)!;
      running.delete(winner);
      freeLanes.push(done.lane);
      state = foldShard(state, winner, done.shard);
      const breaches = thresholdBreaches(state.counters, settings, false).filter(
        (r) => !state.reasons.includes(r),
      );
      if (breaches.length > 0) state = { ...state, reasons: [...state.reasons, ...breaches] };
    }
    if (!wasStopping && stopping() && running.size > 0) {
      // The other lanes' shards would otherwise run their whole ranges before the job could end. Awaited
      // in the same whenAny as the shards: a child that completes while something else is yielded would
      // never resolve a later whenAny (the SDK links a task to its newest compound only).
      const stop: StopShardsInput = { jobId, shards: shardNumbers(running) };
      stoppingShards = callActivity(context, 'stopShards', stop);
    }
  }

  if (!stopping() && state.cursor < total) {
    // Bounded history: the next execution starts with this state and an empty history.
    context.df.continueAsNew({ ...input, state });
    return;
  }
  return yield* finish(context, input, { ...state, planned: true });
}

/** A resumed execution's state, or a new job's after planning (or its end, when planning failed). */
function* begin(
  context: OrchestrationContext,
  input: ParsedRootInput,
): Generator<Task, RootState | JobOutcome, unknown> {
  const now = (): string => context.df.currentUtcDateTime.toISOString();
  if (input.state) return { ...input.state, executions: input.state.executions + 1 };
  setStatus(context, 'Preparing', emptyCounters(), [], [], now());
  const planned = yield* plan(context, input);
  if ('failure' in planned) {
    return yield* finish(context, input, {
      counters: emptyCounters(),
      errors: [],
      reasons: [planned.failure],
      canceled: false,
      startedAt: now(),
      planned: false,
    });
  }
  return {
    plan: planned.plan,
    generation: planned.generation,
    cursor: 0,
    nextShard: 0,
    counters: emptyCounters(planned.selected),
    errors: [],
    reasons: [],
    canceled: false,
    startedAt: now(),
    executions: 1,
  };
}

/** The next shard: the next range of the plan, on a lane of this width, with the failure budget left. */
function shardInputFor(
  input: ParsedRootInput,
  state: RootState,
  laneWidth: number,
  lanes: number,
): ShardInput {
  const { settings } = input.job;
  const total = state.plan.miniBatches;
  const start = state.cursor;
  return {
    jobId: input.jobId,
    shard: state.nextShard,
    start,
    end: Math.min(total, start + shardSize(laneWidth, total, lanes)),
    laneWidth,
    select: input.rerunOf !== undefined,
    settings: {
      maxRetries: settings.maxRetries,
      timeoutSeconds: settings.timeoutSeconds,
      progressUpdateTimeoutSeconds: settings.progressUpdateTimeoutSeconds,
    },
    retryBaseDelayMs: input.options.retryBaseDelayMs,
    budget: failureBudget(state.counters, settings),
  };
}

function* plan(
  context: OrchestrationContext,
  input: ParsedRootInput,
): Generator<
  Task,
  { plan: RootState['plan']; generation: number; selected: number } | { failure: string },
  unknown
> {
  const { jobId, job } = input;
  const deadline = new Date(
    context.df.currentUtcDateTime.getTime() + job.settings.firstTaskCreationTimeoutSeconds * SECOND,
  );
  const watchdog = context.df.createTimer(deadline);
  const planning = callActivity(context, 'plan', {
    jobId,
    job,
    tasksRoot: input.tasksRoot,
    rerunOf: input.rerunOf,
    createdAt: context.df.currentUtcDateTime.toISOString(),
  });
  const winner = (yield context.df.Task.any([planning, watchdog])) as Task;
  if (winner === watchdog) {
    // How far it got comes from the progress blob, through an activity: one small result in history.
    let progress: PlanProgressOutput = null;
    try {
      progress = outputOf('planProgress', yield callActivity(context, 'planProgress', { jobId }));
    } catch {
      progress = null; // the reason goes without figures
    }
    return { failure: planningTimeoutReason(job.settings.firstTaskCreationTimeoutSeconds, progress) };
  }
  watchdog.cancel();
  if (planning.isFaulted) return { failure: `Planning failed: ${failureText(failureOf(planning.result))}` };
  return outputOf('plan', planning.result);
}

/** The shortest timeout the planning timeout's reason suggests (an hour). */
const SUGGESTED_PLANNING_SECONDS = 3600;

/** Why the job failed when planning outlived --first_task_creation_timeout: how far it got, what to change. */
export function planningTimeoutReason(seconds: number, progress: PlanProgressOutput): string {
  const count = (n: number): string => n.toLocaleString('en-US');
  const flag = '--first_task_creation_timeout';
  let got = '';
  if (progress?.done) {
    got = `: it finished just after, with ${count(progress.listed)} inputs listed and ${count(progress.miniBatches)} mini-batches cut`;
  } else if (progress) {
    got = `: it had listed ${count(progress.listed)} inputs and cut ${count(progress.miniBatches)} mini-batches`;
  }
  const suggested = Math.min(
    MAX_RUNNER_TIMEOUT_SECONDS,
    Math.max(SUGGESTED_PLANNING_SECONDS, Math.ceil(seconds) * 2),
  );
  const advice =
    suggested > seconds
      ? `Raise it in task.program_arguments, e.g. ${flag} ${suggested}.`
      : `It is at its maximum (${MAX_RUNNER_TIMEOUT_SECONDS} s): split the input into smaller jobs.`;
  return `Planning did not finish within ${flag} (${seconds} s)${got}. ${advice}`;
}

function foldShard(state: RootState, task: Task, shard: number): RootState {
  if (task.isFaulted) {
    const reason = `Shard ${shard} failed: ${failureText(failureOf(task.result))}`;
    return { ...state, reasons: [...state.reasons, reason] };
  }
  const result: ShardResult = shardResultSchema.parse(task.result);
  const reasons = [...state.reasons];
  if (result.stop === 'fatal' && result.fatal) {
    reasons.push(
      `The task cannot run (${result.fatal.code}, mini-batch ${result.fatal.index}): ${result.fatal.message}`,
    );
  }
  if (result.stop === 'stalled') reasons.push('No progress update within --progress_update_timeout.');
  return {
    ...state,
    counters: addCounters(state.counters, result.counters),
    errors: keepFirstErrors(state.errors, result.errors),
    reasons,
  };
}

interface EndState {
  counters: RootState['counters'];
  errors: RootState['errors'];
  reasons: string[];
  canceled: boolean;
  startedAt: string;
  planned: boolean;
}

function* finish(
  context: OrchestrationContext,
  input: ParsedRootInput,
  end: EndState,
): Generator<Task, JobOutcome, unknown> {
  const { job } = input;
  const outcome = decideOutcome({
    counters: end.counters,
    settings: job.settings,
    reasons: end.reasons,
    canceled: end.canceled,
    appendRow: job.appendRowTo !== undefined,
  });
  setStatus(context, 'Finalizing', end.counters, [], outcome.reasons, end.startedAt);
  const ended: JobEnd = {
    status: outcome.status,
    reasons: outcome.reasons,
    counters: end.counters,
    errors: end.errors,
    startedAt: end.startedAt,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
  };
  let finalized: unknown;
  for (const step of finalizeSteps) {
    const finalizeInput: FinalizeActivityInput = { ...ended, jobId: input.jobId, planned: end.planned, step };
    // Every step is idempotent, so a fault that outlasts the storage client's own retries runs it again.
    finalized = yield callActivity(
      context,
      'finalize',
      finalizeInput,
      finalizeRetry(input.options.retryBaseDelayMs),
    );
  }
  const written = outputOf('finalize', finalized);
  const result: JobOutcome = { ...ended, outputs: written.outputs, logFiles: written.logFiles };
  if (input.options.notify) {
    try {
      yield callActivity(context, 'notify', { jobId: input.jobId, outcome: result });
    } catch {
      // A lost notification must not change the job's result; the activity logs why it failed.
    }
  }
  return result;
}

/** Five attempts per finalize step, under the job's retry policy, for at most a quarter of an hour. */
function finalizeRetry(baseDelayMs: number): RetryOptions {
  // A plain object: durable-functions is imported for types only here (the determinism lint).
  return { ...activityRetryOptions(baseDelayMs, 5), retryTimeoutInMilliseconds: 15 * 60 * SECOND };
}

function setStatus(
  context: OrchestrationContext,
  phase: Phase,
  counters: RootState['counters'],
  shards: number[],
  reasons: string[],
  startedAt: string,
): void {
  context.df.setCustomStatus({ phase, counters, shards, reasons, startedAt } satisfies RootStatus);
}

function shardNumbers(running: Map<Task, RunningShard>): number[] {
  return [...running.values()].map((entry) => entry.shard).sort((a, b) => a - b);
}
