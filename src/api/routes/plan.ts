import type { HttpRequest, InvocationContext } from '@azure/functions';
import type { AppServices } from '../../composition';
import { SpecValidationError } from '../../errors';
import { limitIssues } from '../../job/limits';
import { resolveJob } from '../../job/resolve';
import { previewPlan } from '../../plan/preview';
import { resolveInputLocation } from '../../storage/inputs';
import { jobPlaceIssues } from '../../submit/places';
import { parseSubmission } from '../../submit/submit';
import { handle, json } from './answers';
import { specBody } from './requests';

/** `POST /api/plan`: the plan preview of a spec (how its input is cut into mini-batches); runs no user code. */
export function planHandler(appServices: () => AppServices) {
  return (request: HttpRequest, context?: InvocationContext) =>
    handle(context, async () => {
      const services = appServices();
      const loaded = parseSubmission({ spec: await specBody(request), source: 'in the request body' });
      const job = resolveJob(loaded.spec, {
        jobId: 'plan-preview',
        outputRoot: `${services.containers.outputs}/plan-preview`,
      });
      // The preview lists the input with the app's identity: the same places and bounds as a submission.
      const issues = [
        ...limitIssues(job, services.functionTimeout),
        ...(await jobPlaceIssues(job, 'plan-preview', services)),
      ];
      if (issues.length) throw new SpecValidationError(issues, 'in the request body');
      const location = resolveInputLocation(job.inputData.path, { accountUrl: services.store.accountUrl });
      const preview = await previewPlan(services.store.forAccount(location.accountUrl), {
        jobId: 'plan-preview',
        input: location,
        inputType: job.inputData.type,
        miniBatchSize: job.miniBatchSize,
        miniBatchSizeUnit: job.miniBatchSizeUnit,
        partitionKeys: job.partitionKeys,
        logsContainer: services.containers.logs,
      });
      return json(200, { ...preview, warnings: [...loaded.warnings, ...preview.warnings] });
    });
}
