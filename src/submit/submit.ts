import { createHash, randomBytes } from 'node:crypto';
import type { DurableClient } from 'durable-functions';
import type { AppServices } from '../composition';
import { JobStateError, SpecValidationError } from '../errors';
import { OrchestratorNames, runtimeOptionsSchema, type RootInput } from '../orchestration/contracts';
import { parseJobText, parseJobValue, type LoadedJob } from '../spec/load';
import { resolveJob } from '../spec/resolve';
import type { EffectiveJob } from '../spec/effective';
import { resolveTaskModule } from '../task/resolve';
import { readJobRecord } from '../activities/jobRecord';

/** What a trigger hands to the one submission path. */
export interface Submission {
  /** The spec as text (YAML or JSON) or an already-parsed value (an HTTP JSON body). */
  spec: unknown;
  /** Deterministic id from the trigger (blob name + etag, message id, schedule + occurrence) or the client. */
  jobId?: string;
  /** Where the spec came from, for messages. */
  source?: string;
  /** Name used when the spec has none (e.g. the blob's file name). */
  defaultName?: string;
}

export interface Submitted {
  jobId: string;
  /** False when a job with this id already existed (a duplicate delivery): nothing was started. */
  created: boolean;
  warnings: string[];
  job: EffectiveJob;
}

const MAX_JOB_ID = 100;
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** A readable, unique id: the job's name and a random suffix. */
export function newJobId(name: string | undefined): string {
  const stem = (name ?? 'job').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 60);
  return `${stem}-${randomBytes(4).toString('hex')}`;
}

/**
 * Turns any text into a valid job id that is the same for the same text (trigger-derived ids). Text that
 * does not fit keeps its start and gains a hash of the whole, so long ids that share a prefix stay apart.
 */
export function stableJobId(...parts: string[]): string {
  const text = parts.join('-');
  const id = text.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  if (id.length <= MAX_JOB_ID && id.length > 0) return id;
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 16);
  return `${id.slice(0, MAX_JOB_ID - digest.length - 1)}-${digest}`.replace(/^-+/, '');
}

export function parseSubmission(submission: Submission): LoadedJob {
  return typeof submission.spec === 'string'
    ? parseJobText(submission.spec, { source: submission.source })
    : parseJobValue(submission.spec, submission.source);
}

/**
 * Validate, resolve, derive the id, start. Bad input throws SpecValidationError before anything starts;
 * a duplicate delivery (same id) finds the existing job and starts nothing.
 */
export async function submitJob(
  client: DurableClient,
  services: AppServices,
  submission: Submission,
  options: { rerunOf?: string } = {},
): Promise<Submitted> {
  const loaded = parseSubmission(submission);
  const spec =
    loaded.spec.name || !submission.defaultName
      ? loaded.spec
      : { ...loaded.spec, name: submission.defaultName };
  const jobId = submission.jobId ?? newJobId(spec.name);
  if (!JOB_ID.test(jobId)) {
    throw new SpecValidationError([
      {
        path: 'id',
        message: `'${jobId}' is not a valid job id: use letters, digits, '-', '_' and '.', up to 100 characters`,
      },
    ]);
  }
  const job = resolveJob(spec, {
    jobId,
    outputRoot: `${services.containers.outputs}/${jobId}`,
    warnings: loaded.warnings,
  });
  try {
    resolveTaskModule(services.tasksRoot, job.task.code, job.task.entryScript);
  } catch (error) {
    throw new SpecValidationError(
      [{ path: 'task.entry_script', message: (error as Error).message }],
      submission.source,
    );
  }
  return start(client, services, jobId, job, loaded.warnings, options.rerunOf, spec);
}

/** Re-runs the FAILED and PENDING mini-batches of a finished job, with the deployed code. */
export async function rerunJob(
  client: DurableClient,
  services: AppServices,
  previousId: string,
  jobId?: string,
): Promise<Submitted> {
  const status = await client.getStatus(previousId);
  if (!status || !['Completed', 'Failed', 'Terminated'].includes(String(status.runtimeStatus))) {
    throw new JobStateError(
      `Job '${previousId}' has not finished; re-run it once it has ended (or cancel it first).`,
    );
  }
  const record = await readJobRecord(services.store, services.containers.logs, previousId);
  const id = jobId ?? `${previousId.replace(/-r\d+$/, '')}-r${record.generation + 1}`;
  return start(client, services, id, record.job, [], previousId);
}

async function start(
  client: DurableClient,
  services: AppServices,
  jobId: string,
  job: EffectiveJob,
  warnings: string[],
  rerunOf: string | undefined,
  spec?: Record<string, unknown>,
): Promise<Submitted> {
  if (await jobExists(client, jobId)) return { jobId, created: false, warnings, job };
  const input: RootInput = {
    jobId,
    job,
    tasksRoot: services.tasksRoot,
    rerunOf,
    spec,
    options: runtimeOptionsSchema.parse({
      retryBaseDelayMs: services.settings.PARALLEL_JOB_RETRY_BASE_DELAY_MS,
      notify: Boolean(services.settings.ServiceBusConnection__fullyQualifiedNamespace),
    }),
  };
  try {
    await client.startNew(OrchestratorNames.root, { instanceId: jobId, input });
  } catch (error) {
    // Two deliveries of the same trigger can race; the loser finds the winner's instance.
    if (await jobExists(client, jobId)) return { jobId, created: false, warnings, job };
    throw error;
  }
  return { jobId, created: true, warnings, job };
}

/** Whether the job exists; only "no such instance" means no, any other failure is thrown (a retry). */
export async function jobExists(client: DurableClient, jobId: string): Promise<boolean> {
  try {
    const status = await client.getStatus(jobId);
    return Boolean(status?.runtimeStatus);
  } catch (error) {
    // durable-functions reports a missing instance as an error naming the 404 the extension answered.
    if (error instanceof Error && /\bHTTP 404\b/.test(error.message)) return false;
    throw error;
  }
}
