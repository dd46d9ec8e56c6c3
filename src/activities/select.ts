import { selectActivityInputSchema } from '../orchestration/contracts';
import type { ActivityDeps } from './deps';
import { readJobRecord } from '../storage/jobRecord';
import type { JobFiles } from './runMiniBatch';
import { readManifest } from './manifest';

/** For a re-run: the indexes in [start, end) that the re-run job did not finish (FAILED or PENDING). */
export async function selectActivity(
  deps: ActivityDeps & { jobFiles: JobFiles },
  raw: unknown,
): Promise<number[]> {
  const input = selectActivityInputSchema.parse(raw);
  const record = await readJobRecord(deps.store, deps.logsContainer, input.jobId);
  if (!record.rerunOf) return Array.from({ length: input.end - input.start }, (_, i) => input.start + i);
  const previous = record.rerunOf;
  const manifest = await deps.jobFiles.manifests.get(previous, () =>
    readManifest(deps.store, deps.logsContainer, previous),
  );
  return manifest.miniBatches
    .filter((entry) => entry.index >= input.start && entry.index < input.end && entry.status !== 'SUCCEEDED')
    .map((entry) => entry.index);
}
