import * as df from 'durable-functions';
import { app, type HttpMethod } from '@azure/functions';
import { appServices } from '../src/composition';
import { downloadHandler, fileHandler } from '../src/api/routes/files';
import {
  cancelHandler,
  getHandler,
  listHandler,
  miniBatchesHandler,
  rerunHandler,
  specHandler,
  submitHandler,
} from '../src/api/routes/jobs';
import { dashboardHandler, viewHandler } from '../src/api/routes/pages';
import { planHandler } from '../src/api/routes/plan';

// Function-level keys protect every route but the signed download links, in Azure and on the local host
// when it is given keys.
const authLevel = 'function';

type JobRoute = [name: string, method: HttpMethod, route: string, handler: df.HttpDurableClientHandler];

const jobRoutes: JobRoute[] = [
  ['SubmitJob', 'POST', 'jobs', submitHandler(appServices)],
  ['ListJobs', 'GET', 'jobs', listHandler(appServices)],
  ['GetJob', 'GET', 'jobs/{id}', getHandler(appServices)],
  ['CancelJob', 'POST', 'jobs/{id}/cancel', cancelHandler()],
  ['RerunJob', 'POST', 'jobs/{id}/rerun', rerunHandler(appServices)],
  ['GetJobSpec', 'GET', 'jobs/{id}/spec', specHandler()],
  ['JobStatusPage', 'GET', 'jobs/{id}/view', viewHandler(appServices)],
  ['JobMiniBatches', 'GET', 'jobs/{id}/mini-batches', miniBatchesHandler(appServices)],
  ['JobsPage', 'GET', 'dashboard', dashboardHandler(appServices)],
  ['GetJobFile', 'GET', 'jobs/{id}/files/{kind}/{name}/{*rest}', fileHandler(appServices)],
];
for (const [name, method, route, handler] of jobRoutes)
  df.app.client.http(name, { route, methods: [method], authLevel, handler });

// Signed links from the status page: the token in the path is the credential (src/api/links.ts).
df.app.client.http('DownloadJobFile', {
  route: 'download/{token}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: downloadHandler(appServices),
});

// The plan preview needs no durable client.
app.http('PlanJob', { route: 'plan', methods: ['POST'], authLevel, handler: planHandler(appServices) });
