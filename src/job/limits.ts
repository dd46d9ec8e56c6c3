import fs from 'node:fs';
import path from 'node:path';
import { appFolder } from '../appFolder';
import type { ValidationIssue } from '../errors';
import type { EffectiveJob } from './effective';

/**
 * Bounds on what one job may ask of the platform. Each comes with the reason a user reads in the error,
 * so that a refused number says what the platform can do instead of failing later in a worse place
 * (a host out of memory, an output blob out of blocks, an activity killed by the Functions host).
 */

/**
 * A spec is read whole before it is parsed (HTTP body, queue message, blob); larger ones are refused
 * unparsed. Specs are small: anything larger is a data file passed by accident. (A Service Bus message
 * of the standard tier holds 256 KB too.)
 */
export const MAX_SPEC_BYTES = 256 * 1024;

/** Why a spec (text, or a value as its JSON) is too large to parse, or undefined. */
export function specSizeProblem(spec: unknown): string | undefined {
  const bytes = Buffer.byteLength(typeof spec === 'string' ? spec : (JSON.stringify(spec) ?? ''), 'utf8');
  if (bytes <= MAX_SPEC_BYTES) return undefined;
  return `is ${bytes.toLocaleString('en-US')} bytes; a job spec may have at most ${MAX_SPEC_BYTES.toLocaleString('en-US')}. Keep data out of the spec: put it in storage and name it in inputs`;
}

export const LIMITS = {
  instanceCount: {
    max: 1000,
    why: 'a Flex Consumption app scales out to at most 1,000 instances',
  },
  maxConcurrencyPerInstance: {
    max: 64,
    why: 'each concurrent mini-batch is a worker thread in one Functions instance, which has 2-4 GB of memory',
  },
  inFlight: {
    max: 4096,
    why: "the job's orchestrators hold every mini-batch in flight, and their histories stay small only up to this many",
  },
  maxRetries: {
    max: 99,
    why: 'every attempt stages a block on the output blob, and a blob holds at most 100,000 uncommitted blocks',
  },
  filesPerMiniBatch: {
    max: 10_000,
    why: "a mini-batch's file list is stored in its plan page and handed to one run() call",
  },
  bytesPerMiniBatch: {
    max: 256 * 1024 * 1024,
    why: 'a tabular mini-batch is read into the memory of one worker thread',
  },
  partitionKeys: {
    max: 16,
    why: 'each key is a folder level that planning walks',
  },
  partitions: {
    max: 100_000,
    why: 'planning keeps one entry per partition folder in memory while it groups them',
  },
} as const;

/** Seconds kept for reading a mini-batch's input and writing its output inside the same activity. */
export const ACTIVITY_OVERHEAD_SECONDS = 60;

/** `hh:mm:ss` or `d.hh:mm:ss`; -1 (no limit, on Premium and Dedicated plans) gives undefined. */
export function parseFunctionTimeout(value: string): number | undefined {
  if (value.trim() === '-1') return undefined;
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(value.trim());
  if (!match) return undefined;
  const [, days, hours, minutes, seconds] = match;
  return Number(days ?? 0) * 86_400 + Number(hours) * 3_600 + Number(minutes) * 60 + Number(seconds);
}

/**
 * The app's host.json `functionTimeout` (in Azure, the deployed app's). Undefined when it is unset or -1.
 * Read once per app, by the composition root.
 */
export function appFunctionTimeout(): string | undefined {
  const folder = appFolder();
  if (folder === undefined) return undefined;
  const parsed = JSON.parse(fs.readFileSync(path.join(folder, 'host.json'), 'utf8')) as {
    functionTimeout?: unknown;
  };
  return typeof parsed.functionTimeout === 'string' ? parsed.functionTimeout : undefined;
}

/** The longest `retry_settings.timeout` an activity can hold under this functionTimeout. */
export function maxTaskTimeoutSeconds(functionTimeout: string | undefined): number | undefined {
  const seconds = functionTimeout === undefined ? undefined : parseFunctionTimeout(functionTimeout);
  return seconds === undefined ? undefined : Math.max(1, seconds - ACTIVITY_OVERHEAD_SECONDS);
}

/**
 * The platform bounds a resolved job breaks, each naming its field, the bound and the reason. The spec
 * schema has already checked each number on its own (types, Azure ML's own ranges).
 */
export function limitIssues(job: EffectiveJob, functionTimeout: string | undefined): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const over = (field: string, value: number, limit: { max: number; why: string }, unit = ''): void => {
    if (value > limit.max)
      issues.push({
        path: field,
        message: `must be at most ${limit.max.toLocaleString('en-US')}${unit}, got ${value.toLocaleString('en-US')}${unit}: ${limit.why}`,
      });
  };
  const s = job.settings;
  over('resources.instance_count', s.instanceCount, LIMITS.instanceCount);
  over('max_concurrency_per_instance', s.maxConcurrencyPerInstance, LIMITS.maxConcurrencyPerInstance);
  if (
    s.instanceCount <= LIMITS.instanceCount.max &&
    s.maxConcurrencyPerInstance <= LIMITS.maxConcurrencyPerInstance.max &&
    s.instanceCount * s.maxConcurrencyPerInstance > LIMITS.inFlight.max
  ) {
    issues.push({
      path: 'max_concurrency_per_instance',
      message: `resources.instance_count x max_concurrency_per_instance (${s.instanceCount} x ${s.maxConcurrencyPerInstance} = ${(s.instanceCount * s.maxConcurrencyPerInstance).toLocaleString('en-US')}) must be at most ${LIMITS.inFlight.max.toLocaleString('en-US')} mini-batches in flight: ${LIMITS.inFlight.why}`,
    });
  }
  over('retry_settings.max_retries', s.maxRetries, LIMITS.maxRetries);
  const maxTimeout = maxTaskTimeoutSeconds(functionTimeout);
  if (maxTimeout !== undefined && s.timeoutSeconds > maxTimeout) {
    issues.push({
      path: 'retry_settings.timeout',
      message: `must be at most ${maxTimeout} seconds on this app, got ${s.timeoutSeconds}: each attempt runs inside one activity, which the app's host.json functionTimeout (${functionTimeout}) stops, and ${ACTIVITY_OVERHEAD_SECONDS} s of it are kept for reading the input and writing the output`,
    });
  }
  if (job.miniBatchSizeUnit === 'files')
    over('mini_batch_size', job.miniBatchSize, LIMITS.filesPerMiniBatch, ' files');
  else over('mini_batch_size', job.miniBatchSize, LIMITS.bytesPerMiniBatch, ' bytes');
  over('partition_keys', job.partitionKeys?.length ?? 0, LIMITS.partitionKeys, ' keys');
  return issues;
}
