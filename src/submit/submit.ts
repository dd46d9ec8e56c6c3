import type { DurableClient } from 'durable-functions';
import type { AppServices } from '../composition';
import { JobStateError, SpecValidationError } from '../errors';
import { limitIssues, specSizeProblem } from '../job/limits';
import { checkClientJobId, checkJobId, newJobId, rerunJobId } from './ids';
import { jobPlaceIssues } from './places';
import { OrchestratorNames, runtimeOptionsSchema, type RootInput } from '../orchestration/contracts';
import { parseJobText, parseJobValue, type LoadedJob } from '../job/load';
import { resolveJob } from '../job/resolve';
import type { EffectiveJob } from '../job/effective';
import { isPythonModule, resolveTaskModule } from '../task/resolve';
import { hostingPlanProblem } from '../task/python/interpreter';
import { readJobRecord } from '../storage/jobRecord';
import { writeJobIndex } from '../storage/jobIndex';

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
  /** 'client' when `jobId` was chosen by the caller (`?id=`): it must follow the client id rule. */
  origin?: 'client' | 'trigger';
}

export interface Submitted {
  jobId: string;
  /** False when a job with this id already existed (a duplicate delivery): nothing was started. */
  created: boolean;
  warnings: string[];
  job: EffectiveJob;
}

export function parseSubmission(submission: Submission): LoadedJob {
  // Text is measured by parseJobText; an already-parsed value (a JSON body, a message) is measured here.
  const tooLarge = typeof submission.spec === 'string' ? undefined : specSizeProblem(submission.spec);
  if (tooLarge) throw new SpecValidationError([{ path: '', message: tooLarge }], submission.source);
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
  // Trigger-derived ids come from derivedJobId; an id a client chose must follow the client rule.
  if (submission.origin === 'client') checkClientJobId(jobId);
  else checkJobId(jobId);
  const job = resolveJob(spec, {
    jobId,
    outputRoot: `${services.containers.outputs}/${jobId}`,
    warnings: loaded.warnings,
  });
  const issues = limitIssues(job, services.functionTimeout);
  try {
    resolveTaskModule(services.tasksRoot, job.task.code, job.task.entryScript);
  } catch (error) {
    issues.push({ path: 'task.entry_script', message: (error as Error).message });
  }
  if (isPythonModule(job.task.entryScript)) {
    const problem =
      hostingPlanProblem(services.settings) ?? services.python.problem(services.settings.PARALLEL_JOB_PYTHON);
    if (problem) issues.push({ path: 'task.entry_script', message: problem });
  }
  if (issues.length) throw new SpecValidationError(issues, submission.source);
  // A duplicate delivery finds its job before the places are checked: its output now exists, as its own.
  if (await jobExists(client, jobId)) return { jobId, created: false, warnings: loaded.warnings, job };
  const placeIssues = await jobPlaceIssues(job, jobId, services);
  if (placeIssues.length) throw new SpecValidationError(placeIssues, submission.source);
  return start(client, services, jobId, job, loaded.warnings, options.rerunOf, spec);
}

/** Re-runs the FAILED and PENDING mini-batches of a finished job, with the deployed code. */
export async function rerunJob(
  client: DurableClient,
  services: AppServices,
  previousId: string,
  jobId?: string,
): Promise<Submitted> {
  checkJobId(previousId);
  if (jobId !== undefined) checkClientJobId(jobId);
  const status = await client.getStatus(previousId);
  if (!status || !['Completed', 'Failed', 'Terminated'].includes(String(status.runtimeStatus))) {
    throw new JobStateError(
      `Job '${previousId}' has not finished; re-run it once it has ended (or cancel it first).`,
    );
  }
  const record = await readJobRecord(services.store, services.containers.logs, previousId);
  const id = jobId ?? rerunJobId(previousId, record.generation + 1);
  if (await jobExists(client, id)) return { jobId: id, created: false, warnings: [], job: record.job };
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
  // The callers have found no job with this id; a delivery racing this one is caught below.
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
  // Indexed before it starts, so that every started job is listed; an entry whose start then fails
  // names no instance and the listing skips it.
  await writeJobIndex(services.store, services.containers.logs, {
    id: jobId,
    name: job.name,
    created: new Date().toISOString(),
  });
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
