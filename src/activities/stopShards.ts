import type { DurableClient } from 'durable-functions';
import { Events, shardInstanceId, stopShardsInputSchema } from '../orchestration/contracts';

/**
 * Raises the stop event on each running shard. Orchestrations cannot signal one another in this SDK, so
 * the root asks this activity; a shard that has already ended ignores the event.
 */
export async function stopShardsActivity(client: DurableClient, raw: unknown): Promise<number> {
  const input = stopShardsInputSchema.parse(raw);
  await Promise.all(
    input.shards.map((shard) =>
      client.raiseEvent(shardInstanceId(input.jobId, shard), Events.cancel, {}).catch(() => undefined),
    ),
  );
  return input.shards.length;
}
