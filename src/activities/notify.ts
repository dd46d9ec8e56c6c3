import { ManagedIdentityCredential } from '@azure/identity';
import { ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
import type { AppServices } from '../composition';
import { notifyInputSchema, type NotifyInput } from '../orchestration/contracts';

/** The event body sent when a job ends: small, and enough to fetch everything else. */
export function jobEvent(input: NotifyInput) {
  const { outcome } = input;
  return {
    id: input.jobId,
    status: outcome.status,
    reasons: outcome.reasons,
    counters: outcome.counters,
    outputs: outcome.outputs,
    log_files: outcome.logFiles,
    started_at: outcome.startedAt,
    finished_at: outcome.finishedAt,
  };
}
export type JobEvent = ReturnType<typeof jobEvent>;

/**
 * The Service Bus message for a job's end. The message id is fixed by job and status, so a replayed
 * activity that sends twice is dropped by duplicate detection; subject and the `status` property let
 * subscriptions filter without reading the body.
 */
export function jobEventMessage(input: NotifyInput): ServiceBusMessage & { body: JobEvent } {
  return {
    body: jobEvent(input),
    contentType: 'application/json',
    messageId: `${input.jobId}:${input.outcome.status}`,
    subject: `job.${input.outcome.status.toLowerCase()}`,
    applicationProperties: { jobId: input.jobId, status: input.outcome.status },
  };
}

/** Where job events go: a topic or queue. The real one is Service Bus; tests pass their own. */
export interface JobEventSender {
  send(message: ServiceBusMessage): Promise<void>;
  close(): Promise<void>;
}

/** A sender to `entity` on the configured namespace, with the app's managed identity. */
export function serviceBusEventSender(namespace: string, entity: string, clientId?: string): JobEventSender {
  const client = new ServiceBusClient(namespace, new ManagedIdentityCredential(clientId ? { clientId } : {}));
  const sender = client.createSender(entity);
  return {
    send: (message) => sender.sendMessages(message),
    async close() {
      try {
        await sender.close();
      } finally {
        await client.close();
      }
    },
  };
}

/** Builds and sends one job event; the sender is closed whatever happens. */
export async function sendJobEvent(sender: JobEventSender, input: NotifyInput): Promise<void> {
  try {
    await sender.send(jobEventMessage(input));
  } finally {
    await sender.close();
  }
}

/**
 * Activity: sends the completion event to the configured Service Bus topic (or queue). Does nothing when
 * no namespace is configured. Tested at its boundary only (the message and the sender interface): no
 * Service Bus emulator runs on our machines.
 */
export async function notifyActivity(
  services: AppServices,
  raw: unknown,
  createSender: (
    namespace: string,
    entity: string,
    clientId?: string,
  ) => JobEventSender = serviceBusEventSender,
): Promise<void> {
  const input = notifyInputSchema.parse(raw);
  const namespace = services.settings.ServiceBusConnection__fullyQualifiedNamespace;
  if (!namespace) return;
  const sender = createSender(
    namespace,
    services.settings.PARALLEL_JOB_EVENTS_TOPIC,
    services.settings.ServiceBusConnection__clientId,
  );
  await sendJobEvent(sender, input);
}
