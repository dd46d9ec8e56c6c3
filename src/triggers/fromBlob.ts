import { createHash } from 'node:crypto';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppServices } from '../composition';
import { BlobTriggerBindingError, type ValidationIssue } from '../errors';
import { derivedJobId, ID_SOURCES } from '../submit/ids';
import { submitJob } from '../submit/submit';
import {
  defaultJobName,
  REJECTED_PREFIX,
  rejectionRecordName,
  specExtension,
  SPEC_EXTENSIONS,
  userInputIssues,
  type RejectionRecord,
  type TriggerLog,
} from './shared';

/** One upload as the trigger sees it: the name inside the jobs container, its etag and its bytes. */
export interface BlobUpload {
  name: string;
  etag: string;
  content: Buffer | string;
}

/** What became of one delivery. `started` with created false is a re-delivery that started nothing. */
export type BlobOutcome =
  | { action: 'started'; jobId: string; created: boolean }
  | { action: 'ignored'; reason: string }
  | { action: 'rejected'; jobId: string; record: string; code: string; issues: ValidationIssue[] };

/** Why a blob name does not start a job, or undefined when it does. */
export function ignoreReason(name: string): string | undefined {
  if (name.startsWith(REJECTED_PREFIX)) return `'${name}' is a rejection record`;
  if (!specExtension(name)) {
    return `'${name}' is not a job spec (only ${SPEC_EXTENSIONS.join(', ')} blobs start jobs)`;
  }
  return undefined;
}

/**
 * Job id of an upload: `blob.<name>.<hash of name and etag>`. The same upload delivered again has the
 * same id (nothing new starts); a new upload of the same name has a new etag, so a new id.
 */
export function blobJobId(name: string, etag: string): string {
  const extension = specExtension(name);
  const stem = extension ? name.slice(0, -extension.length) : name;
  return derivedJobId(ID_SOURCES.blob, `${stem}\n${plainEtag(etag)}`);
}

/** Listings give etags bare, uploads and events quoted (`"0x8DC..."`): one upload, one form. */
export function plainEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
}

/**
 * Starts the job a spec upload describes. Names that are not specs (and rejection records) are ignored;
 * a bad spec writes `<jobs container>/_rejected/<name>.json` and starts nothing; storage or Durable
 * failures are thrown so the host retries the delivery.
 */
export async function submitFromBlob(
  client: DurableClient,
  services: AppServices,
  upload: BlobUpload,
  options: { now?: () => Date; log?: TriggerLog } = {},
): Promise<BlobOutcome> {
  const container = services.containers.jobs;
  const skip = ignoreReason(upload.name);
  if (skip) {
    options.log?.log(`Ignored ${container}/${upload.name}: ${skip}.`);
    return { action: 'ignored', reason: skip };
  }
  const jobId = blobJobId(upload.name, upload.etag);
  try {
    const submitted = await submitJob(client, services, {
      spec: typeof upload.content === 'string' ? upload.content : upload.content.toString('utf8'),
      jobId,
      source: `in blob '${container}/${upload.name}'`,
      defaultName: defaultJobName(upload.name),
    });
    options.log?.log(
      submitted.created
        ? `Started job '${jobId}' from ${container}/${upload.name}.`
        : `Job '${jobId}' already exists for this upload of ${container}/${upload.name}; nothing started.`,
    );
    return { action: 'started', jobId, created: submitted.created };
  } catch (error) {
    const problem = userInputIssues(error);
    if (!problem) throw error;
    const record: RejectionRecord = {
      blob: `${container}/${upload.name}`,
      etag: upload.etag,
      rejected_at: (options.now?.() ?? new Date()).toISOString(),
      code: problem.code,
      message: (error as Error).message,
      issues: problem.issues,
    };
    const recordName = rejectionRecordName(upload.name);
    await services.store.writeJson(container, recordName, record);
    options.log?.warn(
      `Rejected ${container}/${upload.name}; no job started. The problems are in ${container}/${recordName}.`,
    );
    return { action: 'rejected', jobId, record: recordName, code: problem.code, issues: problem.issues };
  }
}

/** The parts of the blob trigger's metadata we read; the Functions host camel-cases `ETag` to `eTag`. */
const blobTriggerMetadataSchema = z.object({
  name: z.string().min(1).optional(),
  blobTrigger: z.string().min(1).optional(),
  properties: z
    .object({ etag: z.string().optional(), eTag: z.string().optional(), ETag: z.string().optional() })
    .optional(),
});

/**
 * The upload a blob trigger delivered. Without an etag in the metadata (not seen from the hosts we know)
 * the content's hash stands in: re-deliveries still start nothing, but re-uploading identical bytes does
 * not start a new run.
 */
export function blobUploadFromTrigger(
  blob: unknown,
  triggerMetadata: Record<string, unknown> | undefined,
  jobsContainer: string,
  functionName = 'SubmitFromBlob',
): BlobUpload {
  const metadata = blobTriggerMetadataSchema.parse(triggerMetadata ?? {});
  const content = Buffer.isBuffer(blob)
    ? blob
    : typeof blob === 'string'
      ? Buffer.from(blob, 'utf8')
      : Buffer.from(JSON.stringify(blob ?? null), 'utf8');
  const fromPath = metadata.blobTrigger?.startsWith(`${jobsContainer}/`)
    ? metadata.blobTrigger.slice(jobsContainer.length + 1)
    : metadata.blobTrigger;
  const name = metadata.name ?? fromPath;
  if (!name) {
    throw new BlobTriggerBindingError(functionName);
  }
  const properties = metadata.properties ?? {};
  const etag =
    properties.etag ??
    properties.eTag ??
    properties.ETag ??
    `sha-${createHash('sha256').update(content).digest('hex').slice(0, 16)}`;
  return { name, etag, content };
}
