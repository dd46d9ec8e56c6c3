import * as df from 'durable-functions';
import { finalizeActivity } from '../src/activities/finalize';
import { notifyActivity } from '../src/activities/notify';
import { planActivity } from '../src/activities/plan';
import { planProgressActivity } from '../src/activities/planProgress';
import { recordGroupFault, runGroup } from '../src/activities/runGroup';
import { selectActivity } from '../src/activities/select';
import { stopShardsActivity } from '../src/activities/stopShards';
import { activityDeps, appServices } from '../src/composition';
import { failureCodeProvider, withFaultsShown } from '../src/activities/faults';
import { activities, type ActivityKey } from '../src/orchestration/activities';
import { EarlierActivityNames } from '../src/activities/contracts';

const deps = () => activityDeps(appServices());

// A ParallelJobError's code travels in the activity's failure details, for the job's reasons.
df.app.setExceptionPropertiesProvider(failureCodeProvider);

/** Registers the handler of every activity in the registry (a missing one is a compile error). */
const handlers: { [K in ActivityKey]: df.ActivityOptions } = {
  plan: {
    handler: (input: unknown) => {
      const services = appServices();
      const maxSideInputBytes = services.settings.PARALLEL_JOB_MAX_SIDE_INPUT_BYTES;
      return planActivity({ ...activityDeps(services), maxSideInputBytes }, input);
    },
  },
  planProgress: { handler: (input: unknown) => planProgressActivity(deps(), input) },
  select: { handler: (input: unknown) => selectActivity(deps(), input) },
  runGroup: { handler: (input: unknown) => runGroup(deps(), input) },
  recordGroupFault: { handler: (input: unknown) => recordGroupFault(deps(), input) },
  finalize: { handler: (input: unknown) => finalizeActivity(deps(), input) },
  notify: { handler: (input: unknown) => notifyActivity(appServices(), input) },
  stopShards: {
    extraInputs: [df.input.durableClient()],
    handler: (input: unknown, context) => stopShardsActivity(df.getClient(context), deps(), input),
  },
};
for (const key of Object.keys(handlers) as ActivityKey[]) {
  for (const name of [activities[key].name, EarlierActivityNames[key]]) {
    if (name)
      df.app.activity(name, { ...handlers[key], handler: withFaultsShown(name, handlers[key].handler) });
  }
}
