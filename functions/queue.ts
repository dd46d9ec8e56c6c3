import { createRequire } from 'node:module';
import * as df from 'durable-functions';
import { appServices } from '../src/composition';
import { submitFromQueueHandler } from '../src/triggers/fromMessage';

// Registers the SDK binding's message factory. Loading it connects nowhere: the settlement client is
// created with the first delivered message, from the worker's --host/--port arguments. Required by
// name because the package's types point at its TypeScript sources, which would join our compilation.
createRequire(__filename)('@azure/functions-extensions-servicebus');

// sdkBinding hands the handler the message and the settlement actions, so a bad message is
// dead-lettered with its reason at once instead of being retried until MaxDeliveryCountExceeded.
df.app.client.serviceBusQueue('SubmitFromQueue', {
  queueName: '%PARALLEL_JOB_SUBMIT_QUEUE%',
  connection: 'ServiceBusConnection',
  sdkBinding: true,
  autoCompleteMessages: false,
  handler: submitFromQueueHandler(appServices),
});
