import type { JobView } from '../wire';
import { isTerminalStatus } from '../wire';
import { html, type SafeHtml } from './html';
import { renderPage, STATUS_PAGE_POLL_MS, timeHtml } from './layout';
import { progressSegments } from './progress';

/** Statuses the jobs page filters by, in the order a person looks for them. */
const FILTERS = [
  'Running',
  'Queued',
  'Preparing',
  'Finalizing',
  'CancelRequested',
  'Completed',
  'Failed',
  'Canceled',
] as const;

function duration(view: JobView, now: number): string {
  const end = view.finished_at ? Date.parse(view.finished_at) : now;
  const seconds = Math.max(0, Math.round((end - Date.parse(view.created_time)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function jobRow(job: JobView, now: number): SafeHtml {
  const c = job.counters;
  const bar = progressSegments(job).segments.map(
    (segment) => html`<div class="${segment.id}" style="width:${segment.percent}%"></div>`,
  );
  return html`<tr data-job="${job.id}"><td><a href="${`jobs/${encodeURIComponent(job.id)}/view`}">${job.display_name ?? job.name}</a><br><small class="muted">${job.id}</small></td><td><span class="status ${job.status}">${job.status}</span></td><td><div class="bar small" role="img" aria-label="${c.succeeded + c.failed} of ${c.miniBatches} done">${bar}</div><small>${c.succeeded + c.failed} / ${c.miniBatches}</small></td><td>${c.succeeded}</td><td>${c.failed}${
    c.partial ? html` <small class="muted">(${c.partial} partly)</small>` : undefined
  }</td><td>${duration(job, now)}</td><td><small>${timeHtml(job.created_time, { relative: true })}</small></td></tr>`;
}

/** A filter link, marked as the current page when it is the filter shown. */
const filterLink = (href: string, label: string, current: boolean): SafeHtml =>
  current ? html`<a href="${href}" aria-current="page">${label}</a>` : html`<a href="${href}">${label}</a>`;

/**
 * The jobs page: one row per job of the page (newest first) with its status, a small bar of its
 * mini-batches, counts, duration and start; status filters; the next page. Without JavaScript it is a
 * plain page (a refresh while jobs run); with it, it refreshes itself in place like the job page.
 */
export function renderJobsPage(page: {
  jobs: JobView[];
  status?: JobView['status'];
  nextHref?: string;
  nonce?: string;
  now?: number;
}): string {
  const now = page.now ?? Date.now();
  const running = page.jobs.some((job) => !isTerminalStatus(job.status));
  const filters = [
    filterLink('dashboard', 'All', !page.status),
    ...FILTERS.map((status) => [' ', filterLink(`?status=${status}`, status, page.status === status)]),
  ];
  const jobs = page.jobs.length
    ? html`<table id="jobs"><thead><tr><th>Job</th><th>Status</th><th>Mini-batches</th><th>Succeeded</th><th>Failed</th><th>Duration</th><th>Started</th></tr></thead><tbody>${page.jobs.map((job) => jobRow(job, now))}</tbody></table>`
    : html`<p id="no-jobs">No jobs${page.status ? ` with status ${page.status}` : undefined} yet.</p>`;
  const body = html`<main id="live" data-running="${String(running)}"><h1>Jobs${page.status ? html` <small>${page.status}</small>` : undefined}</h1>
<nav aria-label="filter by status">${filters}</nav>
${jobs}
${page.nextHref ? html`<p><a id="next" href="${page.nextHref}">Older jobs</a></p>` : undefined}
</main>`;
  return renderPage({
    title: 'Jobs',
    body,
    live: { nonce: page.nonce, pollMs: STATUS_PAGE_POLL_MS * 2 },
    refreshSeconds: running ? 5 : undefined,
  });
}
