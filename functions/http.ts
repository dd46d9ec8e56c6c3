import * as df from 'durable-functions';
import { app, type HttpMethod } from '@azure/functions';
import { appServices } from '../src/composition';
import * as api from '../src/submit/httpApi';

// Function-level keys protect every route in Azure (the local host accepts calls without a key).
const authLevel = 'function';

type JobRoute = [name: string, method: HttpMethod, route: string, handler: df.HttpDurableClientHandler];

const jobRoutes: JobRoute[] = [
  ['SubmitJob', 'POST', 'jobs', api.submitHandler(appServices)],
  ['ListJobs', 'GET', 'jobs', api.listHandler()],
  ['GetJob', 'GET', 'jobs/{id}', api.getHandler()],
  ['CancelJob', 'POST', 'jobs/{id}/cancel', api.cancelHandler()],
  ['RerunJob', 'POST', 'jobs/{id}/rerun', api.rerunHandler(appServices)],
  ['GetJobSpec', 'GET', 'jobs/{id}/spec', api.specHandler()],
  ['JobStatusPage', 'GET', 'jobs/{id}/view', api.viewHandler()],
  ['GetJobFile', 'GET', 'jobs/{id}/files/{kind}/{name}/{*rest}', api.fileHandler(appServices)],
];
for (const [name, method, route, handler] of jobRoutes)
  df.app.client.http(name, { route, methods: [method], authLevel, handler });

// The plan preview needs no durable client.
app.http('PlanJob', { route: 'plan', methods: ['POST'], authLevel, handler: api.planHandler(appServices) });
