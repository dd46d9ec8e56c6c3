import * as df from 'durable-functions';
import { ActivityNames } from '../src/activities/contracts';
import { finalizeActivity } from '../src/activities/finalize';
import { notifyActivity } from '../src/activities/notify';
import { planActivity } from '../src/activities/plan';
import { recordGroupFault, runMiniBatchGroup } from '../src/activities/runGroup';
import { selectActivity } from '../src/activities/select';
import { stopShardsActivity } from '../src/activities/stopShards';
import { appServices } from '../src/composition';

const deps = () => {
  const services = appServices();
  return { store: services.store, logsContainer: services.containers.logs, access: services.access };
};

df.app.activity(ActivityNames.plan, { handler: (input: unknown) => planActivity(deps(), input) });
df.app.activity(ActivityNames.select, { handler: (input: unknown) => selectActivity(deps(), input) });
df.app.activity(ActivityNames.runGroup, { handler: (input: unknown) => runMiniBatchGroup(deps(), input) });
df.app.activity(ActivityNames.recordGroupFault, {
  handler: (input: unknown) => recordGroupFault(deps(), input),
});
df.app.activity(ActivityNames.finalize, { handler: (input: unknown) => finalizeActivity(deps(), input) });
df.app.activity(ActivityNames.notify, { handler: (input: unknown) => notifyActivity(appServices(), input) });
df.app.activity(ActivityNames.stopShards, {
  extraInputs: [df.input.durableClient()],
  handler: (input: unknown, context) => stopShardsActivity(df.getClient(context), deps(), input),
});
