import type { DurableClient } from 'durable-functions';
import { Events, shardInstanceId, stopShardsInputSchema } from '../orchestration/contracts';
import { jobFolder } from '../storage/layout';
import type { ActivityDeps } from './deps';

/**
 * Stops the running shards: writes the job's stop request, which running groups look for before they
 * start another attempt, then raises the stop event on each shard so that it dispatches nothing more.
 * Orchestrations cannot signal one another in this SDK, so the root asks this activity; a shard that has
 * already ended ignores the event.
 */
export async function stopShardsActivity(
  client: DurableClient,
  deps: Pick<ActivityDeps, 'store' | 'logsContainer'>,
  raw: unknown,
): Promise<number> {
  const input = stopShardsInputSchema.parse(raw);
  await deps.store
    .writeJson(deps.logsContainer, jobFolder(input.jobId).stopRequest, { at: new Date().toISOString() })
    // Without it, running groups stop at the end of their time budget instead: the events still stop the shards.
    .catch(() => undefined);
  await Promise.all(
    input.shards.map((shard) =>
      client.raiseEvent(shardInstanceId(input.jobId, shard), Events.cancel, {}).catch(() => undefined),
    ),
  );
  return input.shards.length;
}
