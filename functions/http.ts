import * as df from 'durable-functions';
import { app, type HttpMethod } from '@azure/functions';
import { appServices } from '../src/composition';
import * as api from '../src/api/httpApi';

// Function-level keys protect every route but the signed download links, in Azure and on the local host
// when it is given keys.
const authLevel = 'function';

type JobRoute = [name: string, method: HttpMethod, route: string, handler: df.HttpDurableClientHandler];

const jobRoutes: JobRoute[] = [
  ['SubmitJob', 'POST', 'jobs', api.submitHandler(appServices)],
  ['ListJobs', 'GET', 'jobs', api.listHandler(appServices)],
  ['GetJob', 'GET', 'jobs/{id}', api.getHandler()],
  ['CancelJob', 'POST', 'jobs/{id}/cancel', api.cancelHandler()],
  ['RerunJob', 'POST', 'jobs/{id}/rerun', api.rerunHandler(appServices)],
  ['GetJobSpec', 'GET', 'jobs/{id}/spec', api.specHandler()],
  ['JobStatusPage', 'GET', 'jobs/{id}/view', api.viewHandler(appServices)],
  ['JobMiniBatches', 'GET', 'jobs/{id}/mini-batches', api.miniBatchesHandler(appServices)],
  ['JobsPage', 'GET', 'dashboard', api.dashboardHandler(appServices)],
  ['GetJobFile', 'GET', 'jobs/{id}/files/{kind}/{name}/{*rest}', api.fileHandler(appServices)],
];
for (const [name, method, route, handler] of jobRoutes)
  df.app.client.http(name, { route, methods: [method], authLevel, handler });

// Signed links from the status page: the token in the path is the credential (src/api/links.ts).
df.app.client.http('DownloadJobFile', {
  route: 'download/{token}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: api.downloadHandler(appServices),
});

// The plan preview needs no durable client.
app.http('PlanJob', { route: 'plan', methods: ['POST'], authLevel, handler: api.planHandler(appServices) });
