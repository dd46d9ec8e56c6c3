import { planProgressInputSchema, type PlanProgressOutput } from '../orchestration/contracts';
import { readPlanProgress } from '../plan/progress';
import type { ActivityDeps } from './deps';

/**
 * How far planning got, for the root's reason when planning outlives --first_task_creation_timeout.
 * Null when planning recorded nothing (or it cannot be read): the reason then goes without figures.
 */
export async function planProgressActivity(deps: ActivityDeps, raw: unknown): Promise<PlanProgressOutput> {
  const { jobId } = planProgressInputSchema.parse(raw);
  return (await readPlanProgress(deps.store, deps.logsContainer, jobId)) ?? null;
}
