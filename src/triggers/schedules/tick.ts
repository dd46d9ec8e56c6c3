import { createHash } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import type { DurableClient } from 'durable-functions';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { AppServices } from '../../composition';
import {
  ScheduleRunError,
  ScheduleValidationError,
  StorageNotFoundError,
  type ValidationIssue,
} from '../../errors';
import { parseJobValue } from '../../job/load';
import {
  defaultJobName,
  REJECTED_PREFIX,
  rejectionRecordSchema,
  specExtension,
  userInputIssues,
  type TriggerLog,
} from '../fromBlob';
import { derivedJobId, ID_SOURCES } from '../../submit/ids';
import { jobExists, submitJob } from '../../submit/submit';

/**
 * Schedules: `schedules/<name>.yml` blobs (or entries of the PARALLEL_JOB_SCHEDULES setting) that start one
 * job per cron occurrence. The RunSchedules timer ticks every minute; each tick submits the occurrences
 * that fell due since the previous tick, with ids derived from the schedule name and the occurrence time,
 * so a late, repeated or overlapping tick starts nothing twice.
 */

/** At most this many occurrences per schedule and tick (the most recent ones); older missed ones are skipped. */
export const MAX_CATCH_UP = 10;

/**
 * Every tick looks back at least this far, even when the previous tick was recent: an occurrence a failed
 * or early tick missed is picked up by the next one (the derived ids keep it from starting twice).
 */
export const TICK_OVERLAP_MS = 2 * 60_000;

const SETTINGS_SOURCE = 'PARALLEL_JOB_SCHEDULES';

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron expression cannot be used, or undefined when it can. */
export function cronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    return `has ${fields.length} field${fields.length === 1 ? '' : 's'}; use 5 (minute hour day month weekday) or 6 (second first, as in NCRONTAB)`;
  }
  try {
    CronExpressionParser.parse(fields.join(' '), { tz: 'UTC' });
    return undefined;
  } catch (error) {
    return `is not a valid cron expression (${(error as Error).message})`;
  }
}

const cronSchema = z.string({ error: 'must be a cron expression in quotes' }).superRefine((value, ctx) => {
  const problem = cronProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const timeZoneSchema = z
  .string({ error: 'must be an IANA time zone name such as UTC or Europe/Berlin' })
  .refine(validTimeZone, {
    error: 'is not a known IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)',
  });

const jobTemplateSchema = z.record(z.string(), z.unknown(), {
  error: 'must be a job spec (a mapping with name, type, inputs, task ...)',
});

/** A `schedules/<name>.yml` blob. */
export const scheduleBlobSchema = z.strictObject({
  cron: cronSchema,
  time_zone: timeZoneSchema.default('UTC'),
  job: jobTemplateSchema,
});
export type ScheduleBlob = z.infer<typeof scheduleBlobSchema>;

/** One entry of the PARALLEL_JOB_SCHEDULES setting: the job inline, or a blob (`<container>/<path>`) holding it. */
export const settingsScheduleSchema = z
  .strictObject({
    cron: cronSchema,
    time_zone: timeZoneSchema.default('UTC'),
    job: jobTemplateSchema.optional(),
    job_blob: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{2,62}\/.+/, { error: "must be '<container>/<path of the spec blob>'" })
      .optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.job === undefined) === (value.job_blob === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['job'], message: 'give exactly one of job and job_blob' });
    }
  });
export type SettingsSchedule = z.infer<typeof settingsScheduleSchema>;

/** A schedule that passed validation. `version` changes whenever its declaration changes. */
export interface Schedule {
  name: string;
  /** `schedules/nightly.yml` or `PARALLEL_JOB_SCHEDULES`. */
  origin: string;
  version: string;
  cron: string;
  timeZone: string;
  job: { spec: Record<string, unknown> } | { blob: string };
  /** No occurrence before this starts a job (a new schedule does not catch up on its own past). */
  activeFrom?: Date;
}

/**
 * Occurrences of `cron` in (from, to], oldest first, at most `max` of them: the most recent ones. `truncated`
 * says that older occurrences in the window were left out.
 */
export function dueOccurrences(
  cron: string,
  from: Date,
  to: Date,
  max: number,
  timeZone = 'UTC',
): { occurrences: Date[]; truncated: boolean } {
  if (max < 1 || to.getTime() <= from.getTime()) return { occurrences: [], truncated: false };
  // One millisecond past `to`, so an occurrence exactly at `to` counts (prev() is strictly before).
  const expression = CronExpressionParser.parse(cron.trim().split(/\s+/).join(' '), {
    currentDate: new Date(to.getTime() + 1),
    tz: timeZone,
  });
  const previous = (): Date | undefined => {
    try {
      return expression.prev().toDate();
    } catch {
      return undefined; // no earlier occurrence within the parser's range
    }
  };
  const found: Date[] = [];
  for (;;) {
    const occurrence = previous();
    if (!occurrence || occurrence.getTime() <= from.getTime())
      return { occurrences: found.reverse(), truncated: false };
    if (found.length === max) return { occurrences: found.reverse(), truncated: true };
    found.push(occurrence);
  }
}

/** `2026-11-24T03:05:00.000Z` -> `20261124T030500Z` */
export function occurrenceStamp(occurrence: Date): string {
  return occurrence
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** The job id of one occurrence: `sched.<name>.<hash of the name>.<occurrence UTC>`. */
export function scheduleJobId(name: string, occurrence: Date): string {
  return derivedJobId(ID_SOURCES.schedule, name, { suffix: occurrenceStamp(occurrence) });
}

export function scheduleRejectionName(name: string): string {
  return `${REJECTED_PREFIX}${name}.json`;
}

function zodIssues(error: z.ZodError, prefix = ''): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message: issue.message,
  }));
}

function prefixed(issues: readonly ValidationIssue[], prefix: string): ValidationIssue[] {
  return issues.map((issue) => ({ ...issue, path: issue.path ? `${prefix}.${issue.path}` : prefix }));
}

/** The job template must be a valid spec on its own; its problems carry `job.` paths. */
function checkJobTemplate(name: string, origin: string, job: Record<string, unknown>): void {
  try {
    parseJobValue(job, `in schedule '${name}'`);
  } catch (error) {
    const problem = userInputIssues(error);
    if (!problem) throw error;
    throw new ScheduleValidationError(name, prefixed(problem.issues, 'job'), `in ${origin}`);
  }
}

/** Validates a schedule blob's text. Throws ScheduleValidationError with every problem's field path. */
export function parseScheduleBlob(
  name: string,
  blobName: string,
  text: string,
  version: string,
  container = 'schedules',
): Schedule {
  const origin = `${container}/${blobName}`;
  let value: unknown;
  try {
    value = specExtension(blobName) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ScheduleValidationError(
      name,
      [{ path: '', message: `cannot be read: ${(error as Error).message}` }],
      `in ${origin}`,
    );
  }
  const parsed = scheduleBlobSchema.safeParse(value ?? {});
  if (!parsed.success) throw new ScheduleValidationError(name, zodIssues(parsed.error), `in ${origin}`);
  checkJobTemplate(name, origin, parsed.data.job);
  return {
    name,
    origin,
    version,
    cron: parsed.data.cron.trim(),
    timeZone: parsed.data.time_zone,
    job: { spec: parsed.data.job },
  };
}

/**
 * The schedules the setting declares, each validated on its own: a bad entry becomes a rejection and does
 * not hide the others. A setting that is not a JSON object rejects as a whole under the setting's name.
 */
export function parseSettingsSchedules(text: string | undefined): {
  schedules: Schedule[];
  rejected: { name: string; version: string; error: ScheduleValidationError }[];
} {
  const result: ReturnType<typeof parseSettingsSchedules> = { schedules: [], rejected: [] };
  if (!text?.trim()) return result;
  const versionOf = (value: unknown) =>
    `settings-${createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16)}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    value = undefined;
    result.rejected.push({
      name: SETTINGS_SOURCE,
      version: versionOf(text),
      error: new ScheduleValidationError(
        SETTINGS_SOURCE,
        [{ path: SETTINGS_SOURCE, message: `is not valid JSON (${(error as Error).message})` }],
        'in the app settings',
      ),
    });
    return result;
  }
  const entries = z.record(z.string(), z.unknown()).safeParse(value);
  if (!entries.success) {
    result.rejected.push({
      name: SETTINGS_SOURCE,
      version: versionOf(value),
      error: new ScheduleValidationError(
        SETTINGS_SOURCE,
        [
          {
            path: SETTINGS_SOURCE,
            message: 'must be a JSON object of schedule name -> {cron, time_zone?, job | job_blob}',
          },
        ],
        'in the app settings',
      ),
    });
    return result;
  }
  for (const [name, entry] of Object.entries(entries.data)) {
    const version = versionOf(entry);
    const origin = `${SETTINGS_SOURCE}.${name}`;
    try {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/.test(name)) {
        throw new ScheduleValidationError(
          name,
          [
            {
              path: origin,
              message: "schedule names use letters, digits, '-', '_' and '.', up to 80 characters",
            },
          ],
          'in the app settings',
        );
      }
      const parsed = settingsScheduleSchema.safeParse(entry);
      if (!parsed.success)
        throw new ScheduleValidationError(name, zodIssues(parsed.error, origin), 'in the app settings');
      if (parsed.data.job) checkJobTemplate(name, origin, parsed.data.job);
      result.schedules.push({
        name,
        origin,
        version,
        cron: parsed.data.cron.trim(),
        timeZone: parsed.data.time_zone,
        job: parsed.data.job ? { spec: parsed.data.job } : { blob: parsed.data.job_blob! },
      });
    } catch (error) {
      if (!(error instanceof ScheduleValidationError)) throw error;
      result.rejected.push({ name, version, error });
    }
  }
  return result;
}

/** What `schedules/_rejected/<name>.json` holds. */
export const scheduleRejectionRecordSchema = z.object({
  schedule: z.string(),
  /** `schedules/<blob>` or `PARALLEL_JOB_SCHEDULES[.<name>]`. */
  origin: z.string(),
  /** The schedule blob's etag, or a hash of the settings entry: the record describes this version. */
  version: z.string(),
  rejected_at: z.string(),
  code: z.string(),
  message: z.string(),
  issues: rejectionRecordSchema.shape.issues,
});
export type ScheduleRejectionRecord = z.infer<typeof scheduleRejectionRecordSchema>;

export interface ScheduledJob {
  schedule: string;
  occurrence: string;
  jobId: string;
  created: boolean;
}

export interface ScheduleTick {
  /** The window the tick covered, (from, to]. */
  from: string;
  to: string;
  schedules: number;
  /** One entry per due occurrence; `created: false` when an earlier tick had already started it. */
  jobs: ScheduledJob[];
  rejected: { schedule: string; record: string; code: string }[];
  /** Schedules whose older missed occurrences were left out (more than MAX_CATCH_UP were due). */
  truncated: string[];
  /** Schedules that failed for a reason a later tick may not have (storage, Durable). */
  failed: { schedule: string; message: string }[];
}

export interface RunSchedulesOptions {
  /** The previous tick (the timer's scheduleStatus.last); the window starts no later than now - TICK_OVERLAP_MS. */
  since?: Date;
  maxCatchUp?: number;
  log?: TriggerLog;
}

/** Parsed schedule blobs by `container/name`, reused while the blob's etag is unchanged. */
const parsedBlobs = new Map<string, { etag: string; outcome: Schedule | ScheduleValidationError }>();

/**
 * One tick: reads every schedule (blobs and settings), submits each occurrence due in the window, writes a
 * rejection record for each bad schedule (once per version) and removes records of schedules that changed
 * or are gone. A bad or failing schedule never stops the others; failures that a retry may fix are
 * thrown together at the end (ScheduleRunError), after every schedule had its turn.
 */
export async function runSchedules(
  client: DurableClient,
  services: AppServices,
  now: Date,
  options: RunSchedulesOptions = {},
): Promise<ScheduleTick> {
  const { store } = services;
  const container = services.containers.schedules;
  const maxCatchUp = options.maxCatchUp ?? MAX_CATCH_UP;
  const overlapStart = new Date(now.getTime() - TICK_OVERLAP_MS);
  const from = options.since && options.since < overlapStart ? options.since : overlapStart;
  const tick: ScheduleTick = {
    from: from.toISOString(),
    to: now.toISOString(),
    schedules: 0,
    jobs: [],
    rejected: [],
    truncated: [],
    failed: [],
  };

  const records = new Map<string, string | undefined>();
  const candidates: { name: string; blobName: string; etag: string; lastModified: Date }[] = [];
  await store.ensureContainer(container);
  for await (const blob of store.list(container, '', { includeMetadata: true })) {
    if (blob.name.startsWith(REJECTED_PREFIX)) {
      if (blob.name.endsWith('.json')) {
        records.set(blob.name.slice(REJECTED_PREFIX.length, -'.json'.length), blob.metadata?.scheduleversion);
      }
      continue;
    }
    const extension = specExtension(blob.name);
    if (!extension) continue;
    candidates.push({
      name: blob.name.slice(0, -extension.length),
      blobName: blob.name,
      etag: blob.etag,
      lastModified: blob.lastModified,
    });
  }

  const listed = new Set(candidates.map((candidate) => `${container}/${candidate.blobName}`));
  for (const key of parsedBlobs.keys())
    if (key.startsWith(`${container}/`) && !listed.has(key)) parsedBlobs.delete(key);

  const schedules: Schedule[] = [];
  const rejections: Rejection[] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (seen.has(candidate.name)) {
      options.log?.warn(
        `Schedule '${candidate.name}' is declared twice; ${container}/${candidate.blobName} is ignored.`,
      );
      continue;
    }
    seen.add(candidate.name);
    const key = `${container}/${candidate.blobName}`;
    let cached = parsedBlobs.get(key);
    if (cached?.etag !== candidate.etag) {
      try {
        const text = await store.readText(container, candidate.blobName);
        cached = {
          etag: candidate.etag,
          outcome: parseScheduleBlob(candidate.name, candidate.blobName, text, candidate.etag, container),
        };
      } catch (error) {
        if (!(error instanceof ScheduleValidationError)) {
          tick.failed.push({ schedule: candidate.name, message: (error as Error).message });
          continue;
        }
        cached = { etag: candidate.etag, outcome: error };
      }
      parsedBlobs.set(key, cached);
    }
    if (cached.outcome instanceof ScheduleValidationError) {
      rejections.push({ name: candidate.name, version: candidate.etag, origin: key, error: cached.outcome });
    } else {
      schedules.push({ ...cached.outcome, activeFrom: candidate.lastModified });
    }
  }
  const fromSettings = parseSettingsSchedules(services.settings.PARALLEL_JOB_SCHEDULES);
  for (const rejected of fromSettings.rejected) {
    rejections.push({ ...rejected, origin: SETTINGS_SOURCE });
  }
  for (const schedule of fromSettings.schedules) {
    if (seen.has(schedule.name)) {
      options.log?.warn(
        `Schedule '${schedule.name}' is declared both as a blob and in ${SETTINGS_SOURCE}; the blob wins.`,
      );
      continue;
    }
    seen.add(schedule.name);
    schedules.push(schedule);
  }
  tick.schedules = schedules.length + rejections.length;

  for (const schedule of schedules) {
    const windowStart = schedule.activeFrom && schedule.activeFrom > from ? schedule.activeFrom : from;
    const due = dueOccurrences(schedule.cron, windowStart, now, maxCatchUp, schedule.timeZone);
    if (due.truncated) {
      tick.truncated.push(schedule.name);
      options.log?.warn(
        `Schedule '${schedule.name}' missed more than ${maxCatchUp} occurrences since ${windowStart.toISOString()}; only the latest ${maxCatchUp} start jobs.`,
      );
    }
    try {
      // A job_blob is read once per tick, and only when an occurrence still has to start.
      let spec: unknown = 'spec' in schedule.job ? schedule.job.spec : undefined;
      for (const occurrence of due.occurrences) {
        const jobId = scheduleJobId(schedule.name, occurrence);
        if (await jobExists(client, jobId)) {
          tick.jobs.push({
            schedule: schedule.name,
            occurrence: occurrence.toISOString(),
            jobId,
            created: false,
          });
          continue;
        }
        if (spec === undefined && 'blob' in schedule.job)
          spec = await readJobBlob(services, schedule, schedule.job.blob);
        const submitted = await submitJob(client, services, {
          spec,
          jobId,
          source: `from schedule '${schedule.name}' (${schedule.origin})`,
          defaultName: defaultJobName(schedule.name),
        });
        tick.jobs.push({
          schedule: schedule.name,
          occurrence: occurrence.toISOString(),
          jobId,
          created: submitted.created,
        });
        if (submitted.created) {
          options.log?.log(
            `Started job '${jobId}' for the ${occurrence.toISOString()} occurrence of schedule '${schedule.name}'.`,
          );
        }
      }
    } catch (error) {
      // A job the spec checks refuse at submission (a missing task module, say) rejects the schedule too.
      const problem = error instanceof ScheduleValidationError ? undefined : userInputIssues(error);
      const invalid = problem
        ? new ScheduleValidationError(schedule.name, prefixed(problem.issues, 'job'), `in ${schedule.origin}`)
        : error instanceof ScheduleValidationError
          ? error
          : undefined;
      if (invalid) {
        rejections.push({
          name: schedule.name,
          version: schedule.version,
          origin: schedule.origin,
          error: invalid,
        });
      } else {
        tick.failed.push({ schedule: schedule.name, message: (error as Error).message });
      }
    }
  }

  await reconcileRejectionRecords(services, {
    rejections,
    records,
    current: new Map(schedules.map((schedule) => [schedule.name, schedule.version])),
    unread: new Set(tick.failed.map((failure) => failure.schedule)),
    tick,
    now,
    log: options.log,
  });

  if (tick.failed.length > 0) throw new ScheduleRunError(tick.failed);
  return tick;
}

interface Rejection {
  name: string;
  version: string;
  origin: string;
  error: ScheduleValidationError;
}

/**
 * Writes a record for each rejected schedule (once per version of it) and deletes records that no
 * longer describe anything. `records` maps the names of existing records to the version they describe.
 */
async function reconcileRejectionRecords(
  services: AppServices,
  state: {
    rejections: readonly Rejection[];
    records: Map<string, string | undefined>;
    /** The version of every schedule that was read and accepted this tick. */
    current: ReadonlyMap<string, string>;
    /** Schedules that could not be read this tick: nothing is known about them. */
    unread: ReadonlySet<string>;
    tick: ScheduleTick;
    now: Date;
    log?: RunSchedulesOptions['log'];
  },
): Promise<void> {
  const { rejections, records, current, unread, tick, now, log } = state;
  const { store } = services;
  const container = services.containers.schedules;
  for (const rejection of rejections) {
    const record = scheduleRejectionName(rejection.name);
    tick.rejected.push({ schedule: rejection.name, record, code: rejection.error.code });
    if (records.get(rejection.name) === rejection.version) {
      records.delete(rejection.name);
      continue; // this version's record is already there
    }
    records.delete(rejection.name);
    const body: ScheduleRejectionRecord = {
      schedule: rejection.name,
      origin: rejection.origin,
      version: rejection.version,
      rejected_at: now.toISOString(),
      code: rejection.error.code,
      message: rejection.error.message,
      issues: [...rejection.error.issues],
    };
    await store.writeJson(container, record, body, { metadata: { scheduleversion: rejection.version } });
    log?.warn(
      `Schedule '${rejection.name}' is not valid; no job starts from it. The problems are in ${container}/${record}.`,
    );
  }
  // A record whose schedule is gone, or changed since it was rejected, no longer describes anything.
  for (const [name, version] of records) {
    if (unread.has(name)) continue; // not read this tick: nothing is known about it
    if (current.get(name) === version) continue; // failed at submission and not changed since: keep
    await store.delete(container, scheduleRejectionName(name));
  }
}

async function readJobBlob(services: AppServices, schedule: Schedule, reference: string): Promise<string> {
  const slash = reference.indexOf('/');
  try {
    return await services.store.readText(reference.slice(0, slash), reference.slice(slash + 1));
  } catch (error) {
    if (!(error instanceof StorageNotFoundError)) throw error;
    throw new ScheduleValidationError(
      schedule.name,
      [
        {
          path: `${schedule.origin}.job_blob`,
          message: `'${reference}' does not exist; upload the job spec there or fix the path`,
        },
      ],
      'in the app settings',
    );
  }
}

/** The parts of a timer trigger's input that matter here (the host's scheduleStatus may be absent). */
const timerInputSchema = z.looseObject({
  isPastDue: z.boolean().optional(),
  scheduleStatus: z.looseObject({ last: z.string().optional(), next: z.string().optional() }).nullish(),
});

/** The RunSchedules timer: the window starts at the timer's last recorded run (bounded by MAX_CATCH_UP). */
export async function runSchedulesOnTimer(
  client: DurableClient,
  services: AppServices,
  timer: unknown,
  log: TriggerLog,
  now: Date = new Date(),
): Promise<ScheduleTick> {
  const input = timerInputSchema.safeParse(timer ?? {});
  const last = input.success ? input.data.scheduleStatus?.last : undefined;
  const since = last && !Number.isNaN(Date.parse(last)) ? new Date(last) : undefined;
  if (input.success && input.data.isPastDue)
    log.log(`RunSchedules is running late; catching up since ${since?.toISOString() ?? 'the last tick'}.`);
  const tick = await runSchedules(client, services, now, { since, log });
  const started = tick.jobs.filter((job) => job.created).length;
  if (started > 0 || tick.rejected.length > 0) {
    log.log(
      `RunSchedules: ${tick.schedules} schedule(s), ${started} job(s) started, ${tick.rejected.length} rejected.`,
    );
  }
  return tick;
}
