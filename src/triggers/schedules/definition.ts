import { createHash } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ScheduleValidationError, type ValidationIssue } from '../../errors';
import { parseJobValue } from '../../job/load';
import { rejectionRecordSchema, specExtension, userInputIssues } from '../shared';

/**
 * What a schedule is: a `schedules/<name>.yml` blob or an entry of the PARALLEL_JOB_SCHEDULES setting,
 * validated into a Schedule (cron, time zone, the job template), and the record a bad one leaves.
 */

export const SETTINGS_SOURCE = 'PARALLEL_JOB_SCHEDULES';

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

function zodIssues(error: z.ZodError, prefix = ''): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message: issue.message,
  }));
}

/** The issues with `prefix.` before each path (a job template's problems under `job.`). */
export function prefixed(issues: readonly ValidationIssue[], prefix: string): ValidationIssue[] {
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
