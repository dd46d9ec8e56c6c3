import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppServices } from '../../composition';
import { ScheduleRunError, ScheduleValidationError, StorageNotFoundError } from '../../errors';
import {
  defaultJobName,
  REJECTED_PREFIX,
  rejectionRecordName,
  specExtension,
  userInputIssues,
  type TriggerLog,
} from '../shared';
import { jobExists, submitJob } from '../../submit/submit';
import {
  parseScheduleBlob,
  parseSettingsSchedules,
  prefixed,
  SETTINGS_SOURCE,
  type Schedule,
  type ScheduleRejectionRecord,
} from './definition';
import { dueOccurrences, MAX_CATCH_UP, scheduleJobId } from './occurrences';

/**
 * Schedules: `schedules/<name>.yml` blobs (or entries of the PARALLEL_JOB_SCHEDULES setting) that start one
 * job per cron occurrence. The RunSchedules timer ticks every minute; each tick submits the occurrences
 * that fell due since the previous tick, with ids derived from the schedule name and the occurrence time,
 * so a late, repeated or overlapping tick starts nothing twice.
 */

/**
 * Every tick looks back at least this far, even when the previous tick was recent: an occurrence a failed
 * or early tick missed is picked up by the next one (the derived ids keep it from starting twice).
 */
export const TICK_OVERLAP_MS = 2 * 60_000;

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

/** Parsed schedule blobs by `container/name`, reused while the blob's etag is unchanged (one per app). */
export class ScheduleBlobs {
  readonly parsed = new Map<string, { etag: string; outcome: Schedule | ScheduleValidationError }>();
}

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

  const { records, candidates } = await listScheduleBlobs(store, container, services.scheduleBlobs);
  const { schedules, rejections } = await readSchedules(services, candidates, tick, options.log);
  tick.schedules = schedules.length + rejections.length;

  for (const schedule of schedules) {
    await startDueJobs(client, services, schedule, { from, now, maxCatchUp }, tick, rejections, options.log);
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

interface ScheduleBlob {
  name: string;
  blobName: string;
  etag: string;
  lastModified: Date;
}

/**
 * Lists the schedules container: the schedule blobs, and the rejection records by schedule name with the
 * version each describes. Parsed blobs that are gone are forgotten.
 */
async function listScheduleBlobs(
  store: AppServices['store'],
  container: string,
  parsed: ScheduleBlobs,
): Promise<{ records: Map<string, string | undefined>; candidates: ScheduleBlob[] }> {
  const records = new Map<string, string | undefined>();
  const candidates: ScheduleBlob[] = [];
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
  for (const key of parsed.parsed.keys())
    if (key.startsWith(`${container}/`) && !listed.has(key)) parsed.parsed.delete(key);
  return { records, candidates };
}

/**
 * The tick's schedules: the blobs (parsed again only when their etag changed), then the entries of the
 * setting that no blob of the same name overrides. Bad ones come back as rejections; a blob that could
 * not be read is a failure of the tick.
 */
async function readSchedules(
  services: AppServices,
  candidates: ScheduleBlob[],
  tick: ScheduleTick,
  log: TriggerLog | undefined,
): Promise<{ schedules: Schedule[]; rejections: Rejection[] }> {
  const { store } = services;
  const container = services.containers.schedules;
  const schedules: Schedule[] = [];
  const rejections: Rejection[] = [];
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (seen.has(candidate.name)) {
      log?.warn(
        `Schedule '${candidate.name}' is declared twice; ${container}/${candidate.blobName} is ignored.`,
      );
      continue;
    }
    seen.add(candidate.name);
    const key = `${container}/${candidate.blobName}`;
    let cached = services.scheduleBlobs.parsed.get(key);
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
      services.scheduleBlobs.parsed.set(key, cached);
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
      log?.warn(
        `Schedule '${schedule.name}' is declared both as a blob and in ${SETTINGS_SOURCE}; the blob wins.`,
      );
      continue;
    }
    seen.add(schedule.name);
    schedules.push(schedule);
  }
  return { schedules, rejections };
}

/**
 * Submits the occurrences of one schedule due in the tick's window (those an earlier tick started are
 * listed, not submitted again). A job the spec checks refuse rejects the schedule; another error is a
 * failure of the tick.
 */
async function startDueJobs(
  client: DurableClient,
  services: AppServices,
  schedule: Schedule,
  window: { from: Date; now: Date; maxCatchUp: number },
  tick: ScheduleTick,
  rejections: Rejection[],
  log: TriggerLog | undefined,
): Promise<void> {
  const { from, now, maxCatchUp } = window;
  const windowStart = schedule.activeFrom && schedule.activeFrom > from ? schedule.activeFrom : from;
  const due = dueOccurrences(schedule.cron, windowStart, now, maxCatchUp, schedule.timeZone);
  if (due.truncated) {
    tick.truncated.push(schedule.name);
    log?.warn(
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
        log?.log(
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
    const record = rejectionRecordName(rejection.name);
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
    await store.delete(container, rejectionRecordName(name));
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
