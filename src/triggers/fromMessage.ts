import type { InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppServices } from '../composition';
import {
  formatIssue,
  InputPathError,
  ServiceBusBindingError,
  SpecValidationError,
  StorageNotFoundError,
  type ValidationIssue,
} from '../errors';
import { MAX_SPEC_BYTES } from '../job/limits';
import { resolveInputLocation } from '../storage/inputs';
import { derivedJobId, ID_SOURCES } from '../submit/ids';
import { jobExists, submitJob } from '../submit/submit';

/** Stable codes a dead-lettered submission carries as its DeadLetterReason. */
export const deadLetterReasons = [
  /** The spec was read but is not a valid job (the description lists every problem with its field path). */
  'SPEC_INVALID',
  /** The message itself cannot be used: empty, not text, not a spec or a blob reference, no message id. */
  'MESSAGE_UNREADABLE',
  /** `spec_blob` names a blob (or container) that does not exist. */
  'SPEC_BLOB_NOT_FOUND',
  /** `spec_blob` is malformed or points outside the app's storage account and spec containers. */
  'SPEC_BLOB_REFUSED',
] as const;
export type DeadLetterReason = (typeof deadLetterReasons)[number];

export type MessageVerdict =
  | { action: 'complete'; jobId: string; created: boolean }
  | { action: 'deadLetter'; reason: DeadLetterReason; description: string };

/** The parts of a received Service Bus message that submission reads. */
export const submitMessageSchema = z.object({
  messageId: z.union([z.string(), z.number(), z.instanceof(Uint8Array)]).optional(),
  body: z.unknown(),
  contentType: z.string().optional(),
});
export type SubmitMessage = z.infer<typeof submitMessageSchema>;

/** A message that points at a spec stored as a blob instead of carrying it. */
const specBlobReferenceSchema = z.strictObject({ spec_blob: z.string().min(1) });

/** Service Bus limits DeadLetterErrorDescription (and the reason) to 4096 characters. */
export const MAX_DEAD_LETTER_DESCRIPTION = 4096;

/** Larger blobs are refused before download: the text limit is in characters, UTF-8 uses up to 4 bytes. */

function deadLetter(reason: DeadLetterReason, description: string): MessageVerdict {
  return { action: 'deadLetter', reason, description: capDescription(description) };
}

/** Cuts at a line boundary when possible and says how much was left out. */
export function capDescription(text: string, limit = MAX_DEAD_LETTER_DESCRIPTION): string {
  if (text.length <= limit) return text;
  const lines = text.split('\n');
  const kept: string[] = [];
  let length = 0;
  for (const [index, line] of lines.entries()) {
    const note = `\n(${lines.length - index} more line${lines.length - index === 1 ? '' : 's'} left out)`;
    if (length + line.length + 1 + note.length > limit) {
      if (kept.length === 0) return `${text.slice(0, limit - 1)}…`;
      return kept.join('\n') + note;
    }
    kept.push(line);
    length += line.length + 1;
  }
  return kept.join('\n');
}

/** `path: message` per problem, one a line, in the order the validator found them. */
export function describeIssues(issues: readonly ValidationIssue[]): string {
  const header = `${issues.length} problem${issues.length === 1 ? '' : 's'} in the job spec:`;
  return [header, ...issues.map(formatIssue)].join('\n');
}

function messageIdText(id: SubmitMessage['messageId']): string | undefined {
  if (id === undefined) return undefined;
  if (id instanceof Uint8Array) return Buffer.from(id).toString('hex');
  return String(id);
}

/** AMQP message ids are strings, numbers or bytes: `42`, `"42"` and the bytes 0x42 are three messages. */
function messageIdKind(id: NonNullable<SubmitMessage['messageId']>): string {
  return id instanceof Uint8Array ? 'binary' : typeof id;
}

/** The job id a message starts: derived from its message id alone, so a redelivery finds its job. */
export function jobIdForMessage(
  id: SubmitMessage['messageId'],
): { jobId: string; messageId: string } | MessageVerdict {
  const messageId = messageIdText(id);
  if (messageId === undefined || messageId.trim() === '') {
    return deadLetter('MESSAGE_UNREADABLE', 'the message has no message id; the job id is derived from it.');
  }
  const original = `${messageIdKind(id!)}:${messageId}`;
  return { jobId: derivedJobId(ID_SOURCES.message, original, { shownAs: messageId }), messageId };
}

export type MessageBody = { kind: 'spec'; spec: unknown } | { kind: 'blob'; reference: string };

const UNREADABLE_HINT =
  'send the job spec as YAML or JSON text, as a JSON object, or {"spec_blob": "<container>/<blob name>"}';

/** What the body carries: a spec (text or value) or a blob reference; a string when it is unusable. */
export function readMessageBody(body: unknown): MessageBody | string {
  if (body instanceof Uint8Array) {
    try {
      return readMessageBody(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch {
      return `the message body is binary data that is not UTF-8 text; ${UNREADABLE_HINT}.`;
    }
  }
  if (typeof body === 'string') {
    if (body.trim() === '') return `the message body is empty; ${UNREADABLE_HINT}.`;
    // A blob reference sent as JSON text (the @azure/service-bus sender serializes objects to text).
    if (body.trimStart().startsWith('{') && body.includes('spec_blob')) {
      try {
        return readMessageBody(JSON.parse(body) as unknown);
      } catch {
        // Not JSON after all: the spec parser reports where it breaks.
      }
    }
    return { kind: 'spec', spec: body };
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    if (!('spec_blob' in body)) return { kind: 'spec', spec: body };
    const reference = specBlobReferenceSchema.safeParse(body);
    if (!reference.success) {
      const problems = reference.error.issues
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      return `a blob reference must be exactly {"spec_blob": "<container>/<blob name>" or a blob URL} (${problems}).`;
    }
    return { kind: 'blob', reference: reference.data.spec_blob };
  }
  const kind = body === null || body === undefined ? 'empty' : Array.isArray(body) ? 'a list' : typeof body;
  return `the message body is ${kind === 'empty' ? 'empty' : `${kind}, not a job spec`}; ${UNREADABLE_HINT}.`;
}

/** Reads a referenced spec from the app's own account, only from the containers that hold specs. */
async function readSpecBlob(
  services: AppServices,
  reference: string,
): Promise<{ text: string; source: string } | MessageVerdict> {
  const accountUrl = services.store.accountUrl.replace(/\/+$/, '');
  let location;
  try {
    location = resolveInputLocation(reference, { accountUrl });
  } catch (error) {
    if (error instanceof InputPathError)
      return deadLetter('SPEC_BLOB_REFUSED', `spec_blob: ${error.message}`);
    throw error;
  }
  const allowed = [services.containers.jobs, services.containers.inputs];
  if (location.accountUrl.replace(/\/+$/, '').toLowerCase() !== accountUrl.toLowerCase()) {
    return deadLetter(
      'SPEC_BLOB_REFUSED',
      `spec_blob: '${reference}' is on another storage account; specs are read only from the app's account (${accountUrl}). Upload the spec to the '${services.containers.jobs}' container there.`,
    );
  }
  if (!allowed.includes(location.container)) {
    return deadLetter(
      'SPEC_BLOB_REFUSED',
      `spec_blob: container '${location.container}' is not one the app reads specs from; use ${allowed.map((name) => `'${name}'`).join(' or ')}.`,
    );
  }
  if (!location.prefix || location.prefix.endsWith('/')) {
    return deadLetter(
      'SPEC_BLOB_REFUSED',
      `spec_blob: '${reference}' names a container or folder, not a blob; write <container>/<blob name>.`,
    );
  }
  const source = `${location.container}/${location.prefix}`;
  const notFound = deadLetter(
    'SPEC_BLOB_NOT_FOUND',
    `spec_blob: the blob '${source}' does not exist in the app's storage account; upload it first or fix the name.`,
  );
  try {
    const info = await services.store.stat(location.container, location.prefix);
    if (!info) return notFound;
    if (info.size > MAX_SPEC_BYTES) {
      return deadLetter(
        'SPEC_INVALID',
        `spec_blob: '${source}' is ${info.size} bytes; a job spec may have at most ${MAX_SPEC_BYTES}.`,
      );
    }
    return { text: await services.store.readText(location.container, location.prefix), source };
  } catch (error) {
    // The container is missing, or the blob went away between stat and read.
    if (error instanceof StorageNotFoundError) return notFound;
    throw error;
  }
}

/**
 * Decides what happens to one submission message: start the job (or find it, for a duplicate delivery)
 * and complete the message, or dead-letter it with a stable reason and a description of every problem.
 * Transient storage and Durable errors are thrown, so the message is abandoned and redelivered.
 */
export async function submitFromMessage(
  client: DurableClient,
  services: AppServices,
  message: SubmitMessage,
): Promise<MessageVerdict> {
  const id = jobIdForMessage(message.messageId);
  if ('action' in id) return id;
  const { jobId, messageId } = id;
  // A redelivery finds the job it started, even if the referenced blob or task module changed since.
  if (await jobExists(client, jobId)) return { action: 'complete', jobId, created: false };

  const body = readMessageBody(message.body);
  if (typeof body === 'string') return deadLetter('MESSAGE_UNREADABLE', body);
  let spec: unknown;
  let source = `message ${messageId}`;
  if (body.kind === 'blob') {
    const read = await readSpecBlob(services, body.reference);
    if ('action' in read) return read;
    spec = read.text;
    source = read.source;
  } else {
    spec = body.spec;
  }
  try {
    const submitted = await submitJob(client, services, { spec, jobId, source });
    return { action: 'complete', jobId: submitted.jobId, created: submitted.created };
  } catch (error) {
    if (error instanceof SpecValidationError) return deadLetter('SPEC_INVALID', describeIssues(error.issues));
    throw error;
  }
}

type RawSettlement = (...args: unknown[]) => Promise<void>;
interface RawActions {
  complete: RawSettlement;
  deadletter: RawSettlement;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * What a handler receives from an SDK-type Service Bus binding (`sdkBinding: true`). Checked with
 * z.custom so the originals pass through: the actions' methods need their own `this`.
 */
export const serviceBusMessageContextSchema = z.object({
  messages: z.custom<object | object[]>(
    (value) => isObject(value) || (Array.isArray(value) && value.every(isObject)),
    'expected a received message or a list of them',
  ),
  actions: z.custom<RawActions>(
    (value) =>
      isObject(value) && typeof value.complete === 'function' && typeof value.deadletter === 'function',
    'expected the settlement actions (complete, deadletter)',
  ),
});

/**
 * The settlement calls of `@azure/functions-extensions-servicebus`. Its 0.2.0-preview passes the
 * dead-letter reason and description as plain strings to fields the proto declares as
 * google.protobuf.StringValue, which the gRPC serializer rejects ("object expected"); the wrapper
 * object is what goes over the wire, so that is what this sends.
 */
export interface SettlementActions {
  complete(message: object): Promise<void>;
  deadletter(message: object, reason: DeadLetterReason, description: string): Promise<void>;
}

export function settlementActions(raw: RawActions): SettlementActions {
  return {
    complete: (message) => raw.complete(message),
    deadletter: (message, reason, description) =>
      raw.deadletter(message, undefined, { value: reason }, { value: description }),
  };
}

/** Settles one message per its verdict. */
export async function settle(actions: SettlementActions, message: object, verdict: MessageVerdict) {
  if (verdict.action === 'complete') await actions.complete(message);
  else await actions.deadletter(message, verdict.reason, verdict.description);
}

/**
 * The `SubmitFromQueue` handler: each message becomes a job or a dead letter. A thrown error leaves the
 * message unsettled, so the host abandons it and Service Bus redelivers it.
 */
export function submitFromQueueHandler(services: () => AppServices) {
  return async (trigger: unknown, client: DurableClient, context: InvocationContext): Promise<void> => {
    const parsed = serviceBusMessageContextSchema.safeParse(trigger);
    if (!parsed.success) {
      throw new ServiceBusBindingError(
        context.functionName,
        parsed.error.issues.map((issue) => issue.message),
      );
    }
    const actions = settlementActions(parsed.data.actions);
    const received = parsed.data.messages;
    const messages: object[] = Array.isArray(received) ? (received as object[]) : [received];
    for (const message of messages) {
      const read = submitMessageSchema.safeParse(message);
      const verdict: MessageVerdict = read.success
        ? await submitFromMessage(client, services(), read.data)
        : deadLetter('MESSAGE_UNREADABLE', `the message has an unusable message id: ${read.error.message}`);
      if (verdict.action === 'complete') {
        context.log(
          `Message ${String(read.data?.messageId)}: job ${verdict.jobId} ${verdict.created ? 'started' : 'already exists'}`,
        );
      } else {
        context.warn(
          `Message ${String(read.data?.messageId)} dead-lettered (${verdict.reason}): ${verdict.description}`,
        );
      }
      await settle(actions, message, verdict);
    }
  };
}
