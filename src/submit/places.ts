import type { Settings } from '../config';
import { DataPlaceRefusedError, InputPathError, SideInputError, type ValidationIssue } from '../errors';
import { pinSideInput, sideInputs } from '../storage/sideInputs';
import { claimOutputBlob } from '../storage/outputOwner';
import { appendRowBlob } from '../job/outputs';
import type { EffectiveJob } from '../job/effective';
import { sameAccount, type AccessPolicy } from '../storage/access';
import type { BlobStore } from '../storage/blobStore';
import { resolveInputLocation } from '../storage/inputs';
import type { InputLocation } from '../plan/descriptor';

/**
 * Every storage place a submitted job names, checked before it starts: data inputs must be readable,
 * outputs writable, and the append_row file must not be a blob that something else wrote. Each problem
 * names its field (`inputs.<name>.path`, `outputs.<name>.path`) and the places that are allowed.
 */
export async function jobPlaceIssues(
  job: EffectiveJob,
  jobId: string,
  services: {
    store: BlobStore;
    access: AccessPolicy;
    settings: Pick<Settings, 'PARALLEL_JOB_MAX_SIDE_INPUT_BYTES'>;
  },
): Promise<ValidationIssue[]> {
  const { store, access } = services;
  const maxSideInputBytes = services.settings.PARALLEL_JOB_MAX_SIDE_INPUT_BYTES;
  const issues: ValidationIssue[] = [];
  const locate = (path: string, field: string): InputLocation | undefined => {
    try {
      return resolveInputLocation(path, { accountUrl: store.accountUrl });
    } catch (error) {
      if (!(error instanceof InputPathError)) throw error;
      issues.push({ path: field, message: error.message });
      return undefined;
    }
  };
  const check = (field: string, path: string, mode: 'read' | 'write'): InputLocation | undefined => {
    const location = locate(path, field);
    const problem = location && access.problem(location, mode);
    if (problem) issues.push({ path: field, message: problem });
    return problem ? undefined : location;
  };

  for (const [name, input] of Object.entries(job.inputs))
    if (typeof input === 'object') check(`inputs.${name}.path`, input.path, 'read');
  // Side inputs are downloaded whole by every host: one too large (or a missing file) is refused now.
  for (const [name, input] of sideInputs(job)) {
    if (issues.some((issue) => issue.path === `inputs.${name}.path`)) continue;
    try {
      await pinSideInput(store, access, name, input, maxSideInputBytes);
    } catch (error) {
      if (!(error instanceof SideInputError)) throw error;
      issues.push({ path: error.field, message: error.problem });
    }
  }
  for (const [name, output] of Object.entries(job.outputs)) {
    const field = `outputs.${name}.path`;
    const location = check(field, output.path, 'write');
    if (location && !sameAccount(location.accountUrl, store.accountUrl)) {
      issues.push({
        path: field,
        message: `outputs are written to the app's own storage account (${store.accountUrl}); write <container>/<path> there`,
      });
      continue;
    }
    const appendRow = job.appendRowTo;
    if (!location || appendRow?.output !== name) continue;
    try {
      await claimOutputBlob(
        services,
        location.container,
        appendRowBlob(location.prefix, appendRow),
        jobId,
        field,
      );
    } catch (error) {
      if (!(error instanceof DataPlaceRefusedError)) throw error;
      issues.push({ path: field, message: error.problem });
    }
  }
  return issues;
}
