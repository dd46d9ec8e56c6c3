import { ManagedIdentityCredential } from '@azure/identity';
import { ServiceBusClient } from '@azure/service-bus';
import { z } from 'zod';
import type { AppServices } from '../composition';
import { jobOutcomeSchema } from '../orchestration/contracts';

const notifyInputSchema = z.object({ jobId: z.string(), outcome: jobOutcomeSchema });

/** The event sent when a job ends: small, and enough to fetch everything else. */
export function jobEvent(input: z.infer<typeof notifyInputSchema>) {
  const { outcome } = input;
  return {
    id: input.jobId,
    status: outcome.status,
    reasons: outcome.reasons,
    counters: outcome.counters,
    outputs: outcome.outputs,
    log_files: outcome.logFiles,
    finished_at: outcome.finishedAt,
  };
}

/**
 * Sends the completion event to the configured Service Bus topic (or queue), with the app's managed
 * identity. Tested at its boundary only: no Service Bus emulator runs on our machines.
 */
export async function notifyActivity(services: AppServices, raw: unknown): Promise<void> {
  const input = notifyInputSchema.parse(raw);
  const namespace = services.settings.ServiceBusConnection__fullyQualifiedNamespace;
  if (!namespace) return;
  const credential = new ManagedIdentityCredential(
    services.settings.ServiceBusConnection__clientId
      ? { clientId: services.settings.ServiceBusConnection__clientId }
      : {},
  );
  const client = new ServiceBusClient(namespace, credential);
  try {
    const sender = client.createSender(services.settings.PARALLEL_JOB_EVENTS_TOPIC);
    await sender.sendMessages({
      body: jobEvent(input),
      contentType: 'application/json',
      messageId: `${input.jobId}:${input.outcome.status}`,
      subject: `job.${input.outcome.status.toLowerCase()}`,
    });
    await sender.close();
  } finally {
    await client.close();
  }
}
