import type { JobView, MiniBatchReport, MiniBatchState } from '../wire';
import { isTerminalStatus } from '../wire';

/** The bar of a job's mini-batches by state, as the status page and the jobs page draw it. */

/** Done mini-batches as a percentage (of the planned ones; 100 for a finished job with none). */
export function percentDone(view: JobView): number {
  const c = view.counters;
  if (c.miniBatches > 0) return Math.min(100, Math.round((100 * (c.succeeded + c.failed)) / c.miniBatches));
  return isTerminalStatus(view.status) ? 100 : 0;
}

export interface Segment {
  /** Its CSS class (and the id suffix of its part of the bar). */
  id: 'ok' | 'partial' | 'bad' | 'retrying' | 'pending' | 'canceled' | 'earlier';
  state: MiniBatchState;
  label: string;
  count: number;
  percent: number;
}

/** How each state is drawn and named, in the order of the bar and the legend. */
export const STATE_LOOK: Array<{ state: MiniBatchState; id: Segment['id']; label: string }> = [
  { state: 'succeeded', id: 'ok', label: 'succeeded' },
  { state: 'partial', id: 'partial', label: 'partly failed' },
  { state: 'failed', id: 'bad', label: 'failed' },
  { state: 'retrying', id: 'retrying', label: 'retrying' },
  { state: 'pending', id: 'pending', label: 'pending' },
  { state: 'canceled', id: 'canceled', label: 'canceled (never ran)' },
  { state: 'earlier', id: 'earlier', label: 'done by an earlier run' },
];
export const LOOK = new Map(STATE_LOOK.map((look) => [look.state, look]));

/**
 * The bar's parts, each as a share of the mini-batches this job runs: with the mini-batch report,
 * succeeded, partly failed, failed, retrying, pending and canceled (a re-run's earlier ones are not part
 * of its bar); without it (the jobs page), the final outcomes from the counters and the rest left blank.
 */
export function progressSegments(
  view: JobView,
  report?: MiniBatchReport,
): { done: number; segments: Segment[]; legend: Segment[] } {
  const c = view.counters;
  const counts: Partial<Record<MiniBatchState, number>> = report
    ? report.counts
    : { succeeded: c.succeeded, partial: c.partial, failed: c.failed - c.partial };
  const total = report ? report.total - report.counts.earlier : c.miniBatches;
  const share = (n: number): number => (total > 0 ? Math.round((1000 * n) / total) / 10 : 0);
  const legend = STATE_LOOK.filter(
    (look) =>
      counts[look.state] !== undefined &&
      // Always name the final outcomes; the other states only when some mini-batch is in them.
      (['succeeded', 'partial', 'failed'].includes(look.state) || counts[look.state]! > 0),
  ).map((look) => ({ ...look, count: counts[look.state]!, percent: share(counts[look.state]!) }));
  const segments = legend.filter((segment) => segment.state !== 'earlier');
  return { done: percentDone(view), segments, legend };
}

/** `1 mini-batch`, `3 mini-batches`. */
export const plural = (n: number, one: string, many = `${one}es`): string => `${n} ${n === 1 ? one : many}`;
