import * as df from 'durable-functions';
import type { HttpHandler } from '@azure/functions';
import { app } from '@azure/functions';
import { appServices } from '../src/composition';
import * as api from '../src/submit/httpApi';

// Function-level keys protect every route in Azure (the local host accepts calls without a key).
const authLevel = 'function';

df.app.client.http('SubmitJob', {
  route: 'jobs',
  methods: ['POST'],
  authLevel,
  handler: api.submitHandler(appServices),
});
df.app.client.http('ListJobs', { route: 'jobs', methods: ['GET'], authLevel, handler: api.listHandler() });
df.app.client.http('GetJob', { route: 'jobs/{id}', methods: ['GET'], authLevel, handler: api.getHandler() });
df.app.client.http('CancelJob', {
  route: 'jobs/{id}/cancel',
  methods: ['POST'],
  authLevel,
  handler: api.cancelHandler(),
});
df.app.client.http('RerunJob', {
  route: 'jobs/{id}/rerun',
  methods: ['POST'],
  authLevel,
  handler: api.rerunHandler(appServices),
});
df.app.client.http('GetJobSpec', {
  route: 'jobs/{id}/spec',
  methods: ['GET'],
  authLevel,
  handler: api.specHandler(),
});
df.app.client.http('JobStatusPage', {
  route: 'jobs/{id}/view',
  methods: ['GET'],
  authLevel,
  handler: api.viewHandler(),
});

df.app.client.http('GetJobFile', {
  route: 'jobs/{id}/files/{kind}/{name}/{*rest}',
  methods: ['GET'],
  authLevel,
  handler: api.fileHandler(appServices),
});

const plan: HttpHandler = api.planHandler(appServices);
app.http('PlanJob', { route: 'plan', methods: ['POST'], authLevel, handler: plan });
