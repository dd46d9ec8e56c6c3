import { selectActivityInputSchema } from '../orchestration/contracts';
import type { Manifest } from './manifest';
import { readManifest } from './manifest';
import { readJobRecord, type ActivityDeps } from './plan';

const manifests = new Map<string, Promise<Manifest>>();

/** For a re-run: the indexes in [start, end) that the re-run job did not finish (FAILED or PENDING). */
export async function selectActivity(deps: ActivityDeps, raw: unknown): Promise<number[]> {
  const input = selectActivityInputSchema.parse(raw);
  const record = await readJobRecord(deps.store, deps.logsContainer, input.jobId);
  if (!record.rerunOf) return Array.from({ length: input.end - input.start }, (_, i) => input.start + i);
  let manifest = manifests.get(record.rerunOf);
  if (!manifest) {
    manifest = readManifest(deps.store, deps.logsContainer, record.rerunOf);
    manifests.set(record.rerunOf, manifest);
    manifest.catch(() => manifests.delete(record.rerunOf!));
  }
  return (await manifest).miniBatches
    .filter((entry) => entry.index >= input.start && entry.index < input.end && entry.status !== 'SUCCEEDED')
    .map((entry) => entry.index);
}
