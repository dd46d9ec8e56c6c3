import type { ServiceBusMessage } from '@azure/service-bus';
import { jobEventMessage, notifyActivity, type JobEventSender } from '../../../src/activities/notify';
import type { NotifyInput } from '../../../src/orchestration/contracts';
import type { AppServices } from '../../../src/composition';
import { settingsSchema } from '../../../src/config';

/**
 * The completion event at its boundary: the ServiceBusMessage handed to a sender. No Service Bus
 * emulator runs on our machines, so the send itself (ServiceBusClient with managed identity) is not
 * exercised here.
 */

const outcome: NotifyInput['outcome'] = {
  status: 'Failed',
  reasons: ['error_threshold 2 exceeded: 3 failed items'],
  counters: {
    miniBatches: 4,
    scheduled: 4,
    succeeded: 3,
    failed: 1,
    partial: 0,
    retried: 2,
    itemsSucceeded: 37,
    itemsFailed: 3,
    rows: 37,
    busyMs: 1234,
  },
  errors: [],
  startedAt: '2026-11-24T10:00:00.000Z',
  finishedAt: '2026-11-24T10:05:00.000Z',
  outputs: { scores: 'https://acct.blob.core.windows.net/outputs/job-7/scores/parallel_run_step.txt' },
  logFiles: { 'job_result.json': 'https://acct.blob.core.windows.net/logs/job-7/job_result.json' },
};

function recordingSender() {
  const sent: ServiceBusMessage[] = [];
  let closed = 0;
  const sender: JobEventSender = {
    send: (message) => {
      sent.push(message);
      return Promise.resolve();
    },
    close: () => {
      closed += 1;
      return Promise.resolve();
    },
  };
  return { sender, sent, closed: () => closed };
}

function services(settings: Record<string, string>): AppServices {
  return { settings: settingsSchema.parse(settings) } as AppServices;
}

test('the event message names the job, its status, counters, output and log URLs', () => {
  const message = jobEventMessage({ jobId: 'job-7', outcome });

  expect(message).toEqual({
    contentType: 'application/json',
    messageId: 'job-7:Failed',
    subject: 'job.failed',
    applicationProperties: { jobId: 'job-7', status: 'Failed' },
    body: {
      id: 'job-7',
      status: 'Failed',
      reasons: outcome.reasons,
      counters: outcome.counters,
      outputs: outcome.outputs,
      log_files: outcome.logFiles,
      started_at: outcome.startedAt,
      finished_at: outcome.finishedAt,
    },
  });
  // The body survives the JSON the sender puts on the wire.
  expect(JSON.parse(JSON.stringify(message.body))).toEqual(message.body);
});

test('the activity sends one event to the configured topic with the identity client id, then closes', async () => {
  const recorder = recordingSender();
  const created: string[][] = [];

  await notifyActivity(
    services({
      ServiceBusConnection__fullyQualifiedNamespace: 'pj.servicebus.windows.net',
      ServiceBusConnection__clientId: 'client-1',
      PARALLEL_JOB_EVENTS_TOPIC: 'events-x',
    }),
    { jobId: 'job-7', outcome },
    (namespace, entity, clientId) => {
      created.push([namespace, entity, clientId ?? '']);
      return recorder.sender;
    },
  );

  expect(created).toEqual([['pj.servicebus.windows.net', 'events-x', 'client-1']]);
  expect(recorder.sent).toEqual([jobEventMessage({ jobId: 'job-7', outcome })]);
  expect(recorder.closed()).toBe(1);
});

test('without a namespace nothing is sent; a malformed input is refused either way', async () => {
  let created = 0;
  const factory = () => {
    created += 1;
    return recordingSender().sender;
  };
  await notifyActivity(services({}), { jobId: 'job-7', outcome }, factory);
  expect(created).toBe(0);
  await expect(notifyActivity(services({}), { jobId: 'job-7' }, factory)).rejects.toThrow(/outcome/);
});

test('the sender is closed when sending fails', async () => {
  let closed = 0;
  const failing: JobEventSender = {
    send: () => Promise.reject(new Error('ServiceUnavailable')),
    close: () => {
      closed += 1;
      return Promise.resolve();
    },
  };
  await expect(
    notifyActivity(
      services({ ServiceBusConnection__fullyQualifiedNamespace: 'pj.servicebus.windows.net' }),
      { jobId: 'job-7', outcome },
      () => failing,
    ),
  ).rejects.toThrow('ServiceUnavailable');
  expect(closed).toBe(1);
});
