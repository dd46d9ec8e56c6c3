import { selectActivityInputSchema } from '../orchestration/contracts';
import { BoundedCache } from './cache';
import { readJobRecord, type ActivityDeps } from './jobRecord';
import { readManifest, type Manifest } from './manifest';

const manifests = new BoundedCache<Manifest>(4);

/** For a re-run: the indexes in [start, end) that the re-run job did not finish (FAILED or PENDING). */
export async function selectActivity(deps: ActivityDeps, raw: unknown): Promise<number[]> {
  const input = selectActivityInputSchema.parse(raw);
  const record = await readJobRecord(deps.store, deps.logsContainer, input.jobId);
  if (!record.rerunOf) return Array.from({ length: input.end - input.start }, (_, i) => input.start + i);
  const previous = record.rerunOf;
  const manifest = await manifests.get(previous, () =>
    readManifest(deps.store, deps.logsContainer, previous),
  );
  return manifest.miniBatches
    .filter((entry) => entry.index >= input.start && entry.index < input.end && entry.status !== 'SUCCEEDED')
    .map((entry) => entry.index);
}
