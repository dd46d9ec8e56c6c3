import * as df from 'durable-functions';
import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appServices } from '../src/composition';
import { triggerSettings } from '../src/config';
import { blobUploadFromTrigger, submitFromBlob } from '../src/triggers/fromBlob';
import { runSchedulesOnTimer } from '../src/triggers/schedules/tick';

const { jobsContainer } = triggerSettings();

// app.storageBlob with an explicit durable client input is what df.app.client.storageBlob registers; written
// out so the declaration Flex Consumption needs (source: 'EventGrid') is the one test/unit/infra checks.
app.storageBlob('SubmitFromBlob', {
  path: `${jobsContainer}/{name}`,
  source: 'EventGrid',
  connection: 'AzureWebJobsStorage',
  extraInputs: [df.input.durableClient()],
  handler: async (blob: unknown, context: InvocationContext) => {
    const services = appServices();
    const upload = blobUploadFromTrigger(blob, context.triggerMetadata, services.containers.jobs);
    await submitFromBlob(df.getClient(context), services, upload, { log: context });
  },
});

df.app.client.timer('RunSchedules', {
  schedule: '0 */1 * * * *',
  handler: async (timer: Timer, client, context) => {
    await runSchedulesOnTimer(client, appServices(), timer, context);
  },
});
