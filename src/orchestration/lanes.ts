/** How a job's concurrency is laid out: lanes of mini-batches in flight, shards of the plan, a group's time budget. Pure. */

/**
 * Splits the job's concurrency (instance_count x max_concurrency_per_instance) into lanes. Each lane
 * runs one shard at a time; a shard keeps up to its lane's width of mini-batches in flight.
 */
export const MAX_LANE_WIDTH = 8;

export function laneWidths(concurrency: number): number[] {
  const lanes = Math.ceil(concurrency / MAX_LANE_WIDTH);
  const widths: number[] = [];
  for (let lane = 0; lane < lanes; lane += 1) {
    widths.push(Math.floor(concurrency / lanes) + (lane < concurrency % lanes ? 1 : 0));
  }
  return widths;
}

/**
 * Mini-batches per shard. A shard's history grows by a few events per group call, not per mini-batch, so
 * shards can be long; they stay short enough that lanes finishing early take the next shard (the load
 * balances) and that a small job is spread over every lane instead of filling the first one.
 */
export function shardSize(laneWidth: number, miniBatches: number, lanes: number): number {
  return Math.max(1, Math.min(256 * laneWidth, Math.ceil(miniBatches / lanes)));
}

/** Time budget of the first group of a shard, before any attempt has been timed. */
export const FIRST_GROUP_BUDGET_MS = 1000;
export const MAX_GROUP_BUDGET_MS = 20_000;

/**
 * How long a group call starts new attempts: about 30 attempts' worth per lane, between one and twenty
 * seconds, and at most a quarter of progress_update_timeout. Short tasks: one call runs hundreds of
 * mini-batches; long tasks: a call is a wave or a few. The tail (lanes waiting for the last attempts
 * before the call returns) is at most one attempt long, so a longer budget wastes less of it.
 */
export function groupBudgetMs(
  meanAttemptMs: number | undefined,
  progressUpdateTimeoutSeconds: number,
): number {
  const wanted =
    meanAttemptMs === undefined
      ? FIRST_GROUP_BUDGET_MS
      : Math.min(MAX_GROUP_BUDGET_MS, Math.max(FIRST_GROUP_BUDGET_MS, 30 * meanAttemptMs));
  return Math.max(1, Math.round(Math.min(wanted, (progressUpdateTimeoutSeconds * 1000) / 4)));
}
