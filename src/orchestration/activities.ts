import type { OrchestrationContext, RetryOptions, Task } from 'durable-functions';
import { z } from 'zod';
import { ActivityNames } from '../activities/contracts';
import {
  finalizeActivityInputSchema,
  finalizeActivityOutputSchema,
  groupResultSchema,
  notifyInputSchema,
  planActivityInputSchema,
  planActivityOutputSchema,
  planProgressInputSchema,
  planProgressOutputSchema,
  recordGroupFaultInputSchema,
  runGroupInputSchema,
  selectActivityInputSchema,
  stopShardsInputSchema,
} from './contracts';

/**
 * Every activity the orchestrators call: its registered name, what it takes and what it returns. The
 * orchestrators call them through `callActivity`, which takes the input type of the named activity, so
 * a wrong input is a compile error; `outputOf` checks a result against the activity's output schema.
 */
export const activities = {
  plan: { name: ActivityNames.plan, input: planActivityInputSchema, output: planActivityOutputSchema },
  planProgress: {
    name: ActivityNames.planProgress,
    input: planProgressInputSchema,
    output: planProgressOutputSchema,
  },
  select: {
    name: ActivityNames.select,
    input: selectActivityInputSchema,
    output: z.array(z.number().int().nonnegative()),
  },
  runGroup: { name: ActivityNames.runGroup, input: runGroupInputSchema, output: groupResultSchema },
  recordGroupFault: {
    name: ActivityNames.recordGroupFault,
    input: recordGroupFaultInputSchema,
    output: groupResultSchema,
  },
  finalize: {
    name: ActivityNames.finalize,
    input: finalizeActivityInputSchema,
    output: finalizeActivityOutputSchema,
  },
  notify: { name: ActivityNames.notify, input: notifyInputSchema, output: z.unknown() },
  stopShards: { name: ActivityNames.stopShards, input: stopShardsInputSchema, output: z.number().int() },
} as const;

type Activities = typeof activities;
export type ActivityKey = keyof Activities;
export type ActivityInput<K extends ActivityKey> = z.input<Activities[K]['input']>;
export type ActivityOutput<K extends ActivityKey> = z.infer<Activities[K]['output']>;

/**
 * Schedules the activity `key` with its input (retried under `retry` when given), under its registered
 * name or, for an orchestration an earlier version started, the name that version used.
 */
export function callActivity<K extends ActivityKey>(
  context: OrchestrationContext,
  key: K,
  input: ActivityInput<K>,
  retry?: RetryOptions,
  name: string = activities[key].name,
): Task {
  return retry ? context.df.callActivityWithRetry(name, retry, input) : context.df.callActivity(name, input);
}

/** A finished activity's result, checked against its output schema. */
export function outputOf<K extends ActivityKey>(key: K, value: unknown): ActivityOutput<K> {
  return activities[key].output.parse(value) as ActivityOutput<K>;
}
