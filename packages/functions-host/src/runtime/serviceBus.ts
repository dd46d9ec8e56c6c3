import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { inspect } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { message as amqp } from 'rhea';
import { z } from 'zod';
import { LocalHostServiceBusError } from '../errors';
import type { Registration } from './types';

/**
 * SDK-type Service Bus bindings (`sdkBinding: true`) on the local host, the way the Functions host and
 * the Node worker do them: the message travels as ModelBindingData (lock token + AMQP bytes), the
 * `@azure/functions-extensions-servicebus` factory turns it into `{ messages, actions }`, and the
 * actions settle the message over gRPC (the `Settlement` service) on the host. No Service Bus runs
 * here: the admin endpoint plays the part of the broker and answers with how the function settled.
 */

/** `source` of the ModelBindingData the Service Bus extension produces for a received message. */
export const SERVICE_BUS_SOURCE = 'AzureServiceBusReceivedMessage';
/** The extension's decoder finds the lock token by this marker: `<16 token bytes><marker><AMQP message>`. */
const LOCK_TOKEN_MARKER = Buffer.from('x-opt-lock-token');
/** What the Functions host passes as --functions-grpc-max-message-length. */
const GRPC_MAX_MESSAGE_LENGTH = 2_147_483_647;
const GRPC_HOST = '127.0.0.1';

export type SettlementKind = 'completed' | 'deadLettered' | 'abandoned' | 'deferred';

/** What the admin endpoint answers for a Service Bus delivery. */
export interface SettlementOutcome {
  settlement: SettlementKind;
  reason?: string;
  description?: string;
  /** The invocation's error, when it failed (the host then abandons the message). */
  error?: string;
}

/** True for a serviceBusTrigger registered with `sdkBinding: true`. */
export function usesServiceBusSdkBinding(registration: Registration): boolean {
  return Object.values(registration.metadata.bindings).some((binding) => {
    if (binding.type !== 'serviceBusTrigger') return false;
    const properties = binding.properties as { supportsDeferredBinding?: unknown } | undefined;
    return properties?.supportsDeferredBinding === 'true' || binding.sdkBinding === true;
  });
}

const admitMetadataSchema = z
  .looseObject({
    messageId: z.union([z.string().min(1), z.number()]).optional(),
    contentType: z.string().optional(),
    correlationId: z.string().optional(),
    subject: z.string().optional(),
    deliveryCount: z.number().int().positive().optional(),
    applicationProperties: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .optional();

/** A lock token as .NET's Guid.ToByteArray lays it out (the first three groups little-endian). */
function lockTokenBytes(lockToken: string): Buffer {
  const hex = lockToken.replace(/-/g, '');
  const group = (start: number, end: number) => Buffer.from(hex.slice(start, end), 'hex');
  return Buffer.concat([
    group(0, 8).reverse(),
    group(8, 12).reverse(),
    group(12, 16).reverse(),
    group(16, 32),
  ]);
}

export interface ReceivedMessageInit {
  body: unknown;
  messageId: string;
  lockToken: string;
  contentType?: string;
  correlationId?: string;
  subject?: string;
  deliveryCount?: number;
  applicationProperties?: Record<string, string | number | boolean>;
}

/**
 * The ModelBindingData content of one received message. A string body goes as UTF-8 text, anything else
 * as JSON with content type application/json (as @azure/service-bus senders do), in an AMQP data section.
 */
export function encodeReceivedMessage(init: ReceivedMessageInit): Buffer {
  const text = typeof init.body === 'string' ? init.body : JSON.stringify(init.body ?? null);
  const contentType = init.contentType ?? (typeof init.body === 'string' ? 'text/plain' : 'application/json');
  const encoded: Buffer = amqp.encode({
    message_id: init.messageId,
    content_type: contentType,
    ...(init.correlationId ? { correlation_id: init.correlationId } : {}),
    ...(init.subject ? { subject: init.subject } : {}),
    ...(init.applicationProperties ? { application_properties: init.applicationProperties } : {}),
    delivery_count: (init.deliveryCount ?? 1) - 1,
    body: amqp.data_section(Buffer.from(text, 'utf8')) as unknown,
  });
  return Buffer.concat([lockTokenBytes(init.lockToken), LOCK_TOKEN_MARKER, encoded]);
}

interface Pending {
  outcome?: SettlementOutcome;
}

interface SettlementState {
  server?: grpc.Server;
  /** Fixed for the process once chosen: the extension's settlement client is a singleton bound to it. */
  port?: number;
  users: number;
  starting?: Promise<void>;
  pending: Map<string, Pending>;
}

/**
 * One settlement server per process, shared by every host in it: the extension keeps one client for the
 * life of the process.
 */
const settlement: SettlementState = { users: 0, pending: new Map() };

function protoPath(appDir: string): string {
  const candidates = [createRequire(path.join(appDir, 'package.json')), require];
  for (const from of candidates) {
    try {
      return path.join(
        path.dirname(from.resolve('@azure/functions-extensions-servicebus')),
        'proto',
        'settlement.proto',
      );
    } catch {
      // Try the next place.
    }
  }
  throw new LocalHostServiceBusError(
    `No settlement.proto found: install @azure/functions-extensions-servicebus in ${appDir} to use sdkBinding Service Bus triggers.`,
  );
}

const settlementRequestSchema = z.object({
  locktoken: z.string(),
  deadletterReason: z.object({ value: z.string() }).nullish(),
  deadletterErrorDescription: z.object({ value: z.string() }).nullish(),
});

function settlementService(appDir: string, state: SettlementState) {
  const file = protoPath(appDir);
  const definition = protoLoader.loadSync(file, {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [path.dirname(file)],
  });
  const loaded = grpc.loadPackageDefinition(definition) as { Settlement?: grpc.ServiceClientConstructor };
  if (!loaded.Settlement) throw new LocalHostServiceBusError(`${file} defines no Settlement service.`);

  type Callback = grpc.sendUnaryData<Record<string, never>>;
  const settleWith =
    (kind: SettlementKind) =>
    (call: grpc.ServerUnaryCall<unknown, unknown>, callback: Callback): void => {
      const request = settlementRequestSchema.safeParse(call.request);
      if (!request.success) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: request.error.message });
        return;
      }
      const pending = state.pending.get(request.data.locktoken);
      if (!pending) {
        callback({
          code: grpc.status.NOT_FOUND,
          details: 'The lock token is unknown or its lock has expired.',
        });
        return;
      }
      if (pending.outcome) {
        callback({
          code: grpc.status.FAILED_PRECONDITION,
          details: `The message was already settled (${pending.outcome.settlement}).`,
        });
        return;
      }
      const reason = request.data.deadletterReason?.value;
      const description = request.data.deadletterErrorDescription?.value;
      pending.outcome = {
        settlement: kind,
        ...(kind === 'deadLettered' && reason !== undefined ? { reason } : {}),
        ...(kind === 'deadLettered' && description !== undefined ? { description } : {}),
      };
      callback(null, {});
    };
  const renewLock = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: Callback): void => {
    const request = settlementRequestSchema.safeParse(call.request);
    if (request.success && state.pending.has(request.data.locktoken)) callback(null, {});
    else
      callback({
        code: grpc.status.NOT_FOUND,
        details: 'The lock token is unknown or its lock has expired.',
      });
  };
  const noSessions = (_call: unknown, callback: grpc.sendUnaryData<unknown>): void =>
    callback({
      code: grpc.status.UNIMPLEMENTED,
      details: 'The local host delivers messages without sessions; session operations are not available.',
    });
  const implementation: grpc.UntypedServiceImplementation = {
    complete: settleWith('completed'),
    abandon: settleWith('abandoned'),
    deadletter: settleWith('deadLettered'),
    defer: settleWith('deferred'),
    renewMessageLock: renewLock,
    getSessionState: noSessions,
    setSessionState: noSessions,
    releaseSession: noSessions,
    renewSessionLock: noSessions,
  };
  return { service: loaded.Settlement.service, implementation };
}

/**
 * Starts (or joins) the process's settlement server. The returned function leaves it; the last host to
 * leave shuts it down, and a later host binds the same port again, where the extension's client reconnects.
 */
export async function acquireSettlementServer(appDir: string): Promise<() => Promise<void>> {
  settlement.users += 1;
  try {
    if (!settlement.server) {
      settlement.starting ??= bindServer(appDir, settlement).finally(() => {
        settlement.starting = undefined;
      });
      await settlement.starting;
    }
  } catch (error) {
    settlement.users -= 1;
    throw error;
  }
  let released = false;
  return () => {
    if (released) return Promise.resolve();
    released = true;
    settlement.users -= 1;
    if (settlement.users > 0 || !settlement.server) return Promise.resolve();
    const server = settlement.server;
    settlement.server = undefined;
    server.forceShutdown();
    return Promise.resolve();
  };
}

async function bindServer(appDir: string, state: SettlementState): Promise<void> {
  const { service, implementation } = settlementService(appDir, state);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_LENGTH,
    'grpc.max_send_message_length': GRPC_MAX_MESSAGE_LENGTH,
  });
  server.addService(service, implementation);
  const wanted = state.port ?? 0;
  state.port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${GRPC_HOST}:${wanted}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) {
        reject(
          new LocalHostServiceBusError(
            `The Service Bus settlement server cannot listen on ${GRPC_HOST}:${wanted} (${error.message}). ` +
              'The settlement client in this process is bound to that port; free it or restart the process.',
          ),
        );
      } else resolve(port);
    });
  });
  state.server = server;
}

/**
 * Runs `build` while process.argv carries the arguments the Functions host gives the worker
 * (--host, --port, --functions-grpc-max-message-length); the extension reads them when it creates its
 * settlement client. They are set only around this synchronous call and then restored, because
 * appending them for good would clash with the local host's own command line (`--port` there is the
 * HTTP port, and minimist turns a repeated flag into a list).
 */
function withWorkerArguments<T>(port: number, build: () => T): T {
  const saved = process.argv;
  process.argv = [
    saved[0] ?? 'node',
    saved[1] ?? 'worker',
    '--host',
    GRPC_HOST,
    '--port',
    String(port),
    '--functions-grpc-max-message-length',
    String(GRPC_MAX_MESSAGE_LENGTH),
  ];
  try {
    return build();
  } finally {
    process.argv = saved;
  }
}

interface ResourceFactoryResolver {
  createClient(source: string, data: unknown): unknown;
}

/**
 * Converts ModelBindingData the way the worker does (`fromRpcTypedData` in @azure/functions): through
 * the ResourceFactoryResolver of the `@azure/functions-extensions-base` that @azure/functions itself
 * loads, so an extension registered on another copy of that package fails here as it would in Azure.
 */
function createSdkClient(appDir: string, data: { source: string }): unknown {
  const functionsMain = createRequire(path.join(appDir, 'package.json')).resolve('@azure/functions');
  const base = createRequire(functionsMain)('@azure/functions-extensions-base') as {
    ResourceFactoryResolver: { getInstance(): ResourceFactoryResolver };
  };
  try {
    return base.ResourceFactoryResolver.getInstance().createClient(data.source, data);
  } catch (error) {
    throw new LocalHostServiceBusError(
      'Unable to create client. Please register the extensions library with your function app. ' +
        `Error: ${(error as Error)?.message ?? String(error)}`,
    );
  }
}

export interface ServiceBusDelivery {
  appDir: string;
  registration: Registration;
  /** The message body from the admin call. */
  input: unknown;
  triggerMetadata?: Record<string, unknown>;
  /** Runs the function with the converted trigger value. */
  invoke(trigger: unknown, triggerMetadata: Record<string, unknown>): Promise<unknown>;
}

/**
 * Delivers one message to an sdkBinding Service Bus function and reports how it was settled. Unsettled
 * after a failure: abandoned (redelivered). Unsettled after success: completed when the trigger
 * auto-completes, else abandoned (in Azure the lock expires and the message comes back).
 */
export async function deliverServiceBusMessage(delivery: ServiceBusDelivery): Promise<SettlementOutcome> {
  if (!settlement.server || settlement.port === undefined) {
    throw new LocalHostServiceBusError('The Service Bus settlement server is not running on this host.');
  }
  const metadata = admitMetadataSchema.safeParse(delivery.triggerMetadata);
  if (!metadata.success) {
    throw new LocalHostServiceBusError(`triggerMetadata is not valid: ${metadata.error.message}`);
  }
  const given = metadata.data ?? {};
  const lockToken = randomUUID();
  const messageId = given.messageId === undefined ? randomUUID().replace(/-/g, '') : String(given.messageId);
  const content = encodeReceivedMessage({
    body: delivery.input,
    messageId,
    lockToken,
    contentType: given.contentType,
    correlationId: given.correlationId,
    subject: given.subject,
    deliveryCount: given.deliveryCount,
    applicationProperties: given.applicationProperties,
  });
  const pending: Pending = {};
  settlement.pending.set(lockToken, pending);
  try {
    const port = settlement.port;
    const data = {
      version: '1.0',
      source: SERVICE_BUS_SOURCE,
      contentType: 'application/octet-stream',
      content,
    };
    let failure: unknown;
    try {
      const trigger = withWorkerArguments(port, () => createSdkClient(delivery.appDir, data));
      await delivery.invoke(trigger, {
        ...given,
        messageId,
        lockToken,
        deliveryCount: given.deliveryCount ?? 1,
      });
    } catch (error) {
      failure = error;
    }
    if (pending.outcome) return pending.outcome;
    if (failure !== undefined) {
      return {
        settlement: 'abandoned',
        error: failure instanceof Error ? failure.message : inspect(failure),
      };
    }
    const trigger = Object.values(delivery.registration.metadata.bindings).find(
      (binding) => binding.type === 'serviceBusTrigger',
    );
    return trigger?.autoCompleteMessages === false
      ? {
          settlement: 'abandoned',
          description:
            'The function returned without settling the message; its lock expires and it is redelivered.',
        }
      : { settlement: 'completed' };
  } finally {
    settlement.pending.delete(lockToken);
  }
}
