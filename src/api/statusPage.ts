import { jobFolder } from '../storage/layout';
import type { FailureGroup, JobView, MiniBatchBand, MiniBatchReport, MiniBatchState } from './wire';
import { isTerminalStatus, planningSummary } from './wire';

const escape = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** While a job runs, the page asks for its status this often and updates in place. */
export const STATUS_PAGE_POLL_MS = 1000;

export interface StatusPageOptions {
  /**
   * The href of a job file or folder (`rest` is a path inside it). Default: the job-file route relative
   * to the page; the app passes signed download links, which open without a key.
   */
  fileHref?: (kind: 'outputs' | 'logs', name: string, rest?: string) => string;
  /** Nonce of the page's script, named by the Content-Security-Policy the page is served with. */
  nonce?: string;
  /** The time throughput and the finish estimate are computed at (default: now). */
  now?: number;
  /**
   * The job's mini-batches by state (GET /api/jobs/{id}/mini-batches), for the grid, the bar and the
   * failure groups; a string says why it could not be read. Without it the page shows the counters only.
   */
  miniBatches?: MiniBatchReport | string;
  /**
   * True when the report is still being read (a large job's first listing): the page says so and
   * refreshes itself until it has the report, even when the job has ended.
   */
  miniBatchesReading?: boolean;
}

const STYLE = `body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem;margin-bottom:.25rem}h1 small{color:#666;font-weight:400}h2{font-size:1.1rem;margin-top:1.5rem}
.bar{background:#e6e6e6;border-radius:4px;height:14px;overflow:hidden;display:flex}
.bar>div{height:14px}.ok{background:#0a7d3b}.partial{background:#c77c00}.bad{background:#b00020}
.retrying{background:repeating-linear-gradient(135deg,#5b2d9e 0 3px,#8e6cc8 3px 6px)}.pending{background:#7a8594}
.canceled{background:#3d3d3d}.earlier{background:#fff;box-shadow:inset 0 0 0 2px #0a7d3b}
.legend{font-size:13px;color:#333;list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem}.legend li{margin:0}
.key{display:inline-block;width:10px;height:10px;margin-right:.3rem;border-radius:2px;vertical-align:-1px}
.grid{display:flex;flex-wrap:wrap;gap:2px;margin:.5rem 0}.grid>span{width:12px;height:12px;border-radius:2px}
.grid.dense>span{width:7px;height:7px;border-radius:1px}.examples{margin:.2rem 0 .6rem;padding-left:1.2rem}
button{font:inherit;margin-left:.75rem;padding:.15rem .6rem}
table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.25rem 1.5rem .25rem 0}
th{font-weight:500;color:#444}td{font-variant-numeric:tabular-nums}
.status{font-weight:600;padding:.1rem .5rem;border-radius:4px;background:#eef}
.Failed{color:#fff;background:#b00020}.Completed{color:#fff;background:#0a7d3b}.Canceled{background:#ddd}
code,pre{font:13px ui-monospace,monospace}pre{white-space:pre-wrap;margin:.25rem 0 0;color:#444}
li{margin:.35rem 0}.muted{color:#666}`;

/** Done mini-batches as a percentage (of the planned ones; 100 for a finished job with none). */
function percentDone(view: JobView): number {
  const c = view.counters;
  if (c.miniBatches > 0) return Math.min(100, Math.round((100 * (c.succeeded + c.failed)) / c.miniBatches));
  return isTerminalStatus(view.status) ? 100 : 0;
}

function progressText(view: JobView): string {
  const c = view.counters;
  if (c.miniBatches === 0 && !isTerminalStatus(view.status))
    return view.planning
      ? `Planning the mini-batches: ${planningSummary(view.planning)}.`
      : 'Planning the mini-batches...';
  const total = `${c.miniBatches} mini-batch${c.miniBatches === 1 ? '' : 'es'}`;
  return `${c.succeeded + c.failed} of ${total} done (${percentDone(view)}%)`;
}

/**
 * The status page of one job: status, a progress bar and legend, the grid of its mini-batches, counters,
 * why it failed (failures by error code with examples and their attempt and bad-records logs), and links
 * to outputs and logs. With `miniBatches` (the report of GET /api/jobs/{id}/mini-batches) the bar, legend,
 * grid and failure groups come from it; without it, from the counters and the first errors. While the job
 * runs (or its grid is being counted) the page fetches itself and swaps its live part.
 * Links carry no host name (relative, or signed download paths), so they work behind any; none carries a
 * key. Served with pageHeaders(nonce) (src/api/serving.ts), whose CSP admits only this page's script.
 */
export function renderStatusPage(view: JobView, options: StatusPageOptions = {}): string {
  const c = view.counters;
  const finished = isTerminalStatus(view.status);
  const report = typeof options.miniBatches === 'object' ? options.miniBatches : undefined;
  const fileHref =
    options.fileHref ??
    ((kind: 'outputs' | 'logs', name: string, rest = ''): string =>
      `files/${kind}/${encodeURIComponent(name)}${rest ? `/${rest}` : ''}`);
  const linkList = (id: string, kind: 'outputs' | 'logs', entries: Record<string, string>) =>
    `<ul id="${id}">${Object.keys(entries)
      .map((name) => `<li><a href="${escape(fileHref(kind, name))}">${escape(name)}</a></li>`)
      .join('')}</ul>`;

  const folder = jobFolder(view.id);
  const userLogsPrefix = `${folder.root}user/`;
  /** A link to a file under the job's user logs, once the job has them (after it ended). */
  const userLogHref = (name: string): string | undefined =>
    view.log_files.user_logs ? fileHref('logs', 'user_logs', name.slice(userLogsPrefix.length)) : undefined;
  const attemptLogHref = (index: number, attempt: number): string | undefined =>
    userLogHref(folder.attemptLog(index, attempt));
  const badRecordsHref = (index: number, attempt: number): string | undefined =>
    userLogHref(folder.badRecords(index, attempt));
  const failures = report
    ? renderFailureGroups(report.failures.groups, attemptLogHref, badRecordsHref)
    : renderFirstFailures(view, attemptLogHref);
  const failedItemsLink =
    c.itemsFailed > 0 && view.log_files.failed_items
      ? `<p>Every failed item with its error: <a href="${escape(fileHref('logs', 'failed_items'))}">failed_items</a>.</p>`
      : '';
  const grid = renderGridSection(options, report);
  const pace = paceOf(view, options.now ?? Date.now());
  const actions = renderActions(view);

  const script = statusPageScript(view.id, options.nonce);
  const waiting = options.miniBatchesReading === true;
  const refresh = finished && !waiting ? '' : '<noscript><meta http-equiv="refresh" content="3"></noscript>';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(view.name)}: ${view.status}</title>
<style>${STYLE}</style>${refresh}</head>
<body><main id="live" data-finished="${finished}"${waiting ? ' data-waiting="true"' : ''}><h1>${escape(view.display_name ?? view.name)} <small>${escape(view.id)}</small></h1>
<p>Status: <span id="status" class="status ${view.status}">${view.status}</span>${
    view.rerun_of
      ? ` <span class="muted">re-run of <a href="${escape(`../${encodeURIComponent(view.rerun_of)}/view`)}">${escape(view.rerun_of)}</a></span>`
      : ''
  }${finished ? '' : ' <span class="muted">(updates itself)</span>'} ${actions}</p>
${renderProgress(view, report)}
${grid}
${renderCounters(view, pace)}
${view.reasons.length ? `<h2>Why</h2><ul id="reasons">${view.reasons.map((r) => `<li>${escape(r)}</li>`).join('')}</ul>` : ''}
${failures || failedItemsLink ? `<h2>Failures</h2>${failures ? `<p class="muted">${report ? `${report.failures.total} mini-batch${report.failures.total === 1 ? '' : 'es'} failed for good, by error code (up to 3 examples each):` : 'The first failures, alike ones together:'}</p><ul id="failures">${failures}</ul>` : ''}${failedItemsLink}` : ''}
${report ? renderBadRecords(report, badRecordsHref) : ''}
${Object.keys(view.outputs).length ? `<h2>Outputs</h2>${linkList('outputs', 'outputs', view.outputs)}` : ''}
${Object.keys(view.log_files).length ? `<h2>Logs</h2>${linkList('logs', 'logs', view.log_files)}` : ''}
</main>
${script}
</body></html>`;
}

/** The progress bar, its text and its legend. */
function renderProgress(view: JobView, report: MiniBatchReport | undefined): string {
  const bar = progressSegments(view, report);
  const barText = bar.segments.map((segment) => `${segment.count} ${segment.label}`).join(', ');
  return `<div id="progress" class="bar" role="progressbar" aria-label="mini-batches done" aria-valuenow="${bar.done}" aria-valuemin="0" aria-valuemax="100" aria-valuetext="${escape(barText)}">${bar.segments
    .map(
      (segment) =>
        `<div id="progress-${segment.id}" class="${segment.id}" style="width:${segment.percent}%" title="${segment.label} ${segment.count}"></div>`,
    )
    .join('')}</div>
<p id="progress-text">${escape(progressText(view))}</p>
<ul id="legend" class="legend" aria-label="mini-batches by state">${bar.legend
    .map(
      (segment) =>
        `<li data-state="${segment.state}"><span class="key ${segment.id}" aria-hidden="true"></span>${segment.label} <span id="count-${segment.state}">${segment.count}</span></li>`,
    )
    .join('')}</ul>`;
}

const row = (label: string, value: string | number, id: string): string =>
  `<tr><th>${label}</th><td id="${id}">${escape(String(value))}</td></tr>`;

/** The table of counters, pace and times. */
function renderCounters(view: JobView, pace: { rate?: string; eta?: string }): string {
  const c = view.counters;
  return `<table>
${row('Mini-batches', c.miniBatches, 'mini-batches')}${row('Succeeded', c.succeeded, 'succeeded')}${row('Failed', c.failed, 'failed')}
${row('Of which partly failed', c.partial, 'partial')}${row('Retries', c.retried, 'retried')}${row('Items succeeded', c.itemsSucceeded, 'items-succeeded')}
${row('Items failed', c.itemsFailed, 'items-failed')}${row('Output rows', c.rows, 'rows')}
${pace.rate ? row('Throughput', pace.rate, 'throughput') : ''}${pace.eta ? row('Estimated finish', pace.eta, 'eta') : ''}
${row('Created', view.created_time, 'created')}${row('Last update', view.last_updated_time, 'updated')}
${view.finished_at ? row('Finished', view.finished_at, 'finished') : ''}
</table>`;
}

/** Failure groups from the job's first errors, when the mini-batch report is not at hand. */
function renderFirstFailures(
  view: JobView,
  attemptLogHref: (index: number, attempt: number) => string | undefined,
): string {
  return failureGroups(view)
    .map((group) => {
      const first = group.examples[0]!;
      const log = attemptLogHref(first.index, first.attempt);
      const [headline, ...detail] = first.message.split('\n');
      const where =
        group.examples.length === 1
          ? `mini-batch ${first.index}, attempt ${first.attempt}`
          : `${group.examples.length} mini-batches (${group.examples.map((e) => e.index).join(', ')})`;
      return `<li data-mini-batch="${first.index}" data-code="${escape(first.code)}">${where}: <code>${escape(first.code)}</code> ${escape(headline ?? '')}${log ? ` (<a href="${escape(log)}">attempt log</a>)` : ''}${detail.length ? `<pre>${escape(detail.slice(0, 6).join('\n'))}</pre>` : ''}</li>`;
    })
    .join('');
}

/** The grid of mini-batches, or why it is not (yet) there. */
function renderGridSection(options: StatusPageOptions, report: MiniBatchReport | undefined): string {
  return options.miniBatchesReading
    ? '<p id="grid-reading" class="muted" role="status">Counting the mini-batches by state: a large job takes a few seconds; this page updates itself.</p>'
    : typeof options.miniBatches === 'string'
      ? `<p id="grid-error" class="muted">The mini-batch grid is not available: ${escape(options.miniBatches)}</p>`
      : report
        ? renderGrid(report)
        : '';
}

/** The button of what can be done to the job now: cancel it while it runs, re-run what did not succeed. */
function renderActions(view: JobView): string {
  const c = view.counters;
  const finished = isTerminalStatus(view.status);
  const canRerun = finished && (c.failed > 0 || view.status !== 'Completed');
  return finished
    ? canRerun
      ? '<button type="button" data-action="rerun">Re-run failed and pending mini-batches</button>'
      : ''
    : view.status === 'CancelRequested'
      ? ''
      : '<button type="button" data-action="cancel">Cancel</button>';
}

/**
 * The page's script. The function key stays in the page's own address (?code=), where the person who
 * opened the page put it: it is never written into the HTML nor into any link. The script reads it from
 * there only to send it as a header. It refreshes the page by fetching this same page and swapping its
 * live part, so the page has one renderer (renderStatusPage) and keeps its scroll position.
 */
function statusPageScript(jobId: string, nonce: string | undefined): string {
  const nonceAttribute = nonce ? ` nonce="${escape(nonce)}"` : '';
  return `<script${nonceAttribute}>
(() => {
  const key = new URLSearchParams(location.search).get('code');
  const headers = key ? { 'x-functions-key': key } : {};
  const jobUrl = ${JSON.stringify(`../${encodeURIComponent(jobId)}`).replace(/</g, '\\u003c')};
  const live = () => document.getElementById('live');
  const more = () => live().dataset.finished !== 'true' || live().dataset.waiting === 'true';
  const refresh = async () => {
    try {
      const response = await fetch(location.pathname, { cache: 'no-store', headers });
      if (response.ok) {
        const next = new DOMParser().parseFromString(await response.text(), 'text/html');
        const fresh = next.getElementById('live');
        if (fresh) {
          live().replaceWith(document.adoptNode(fresh));
          document.title = next.title;
        }
      }
    } catch (error) {
      // A dropped request: try again on the next tick.
    }
  };
  const tick = async () => {
    await refresh();
    if (more()) setTimeout(tick, ${STATUS_PAGE_POLL_MS});
  };
  document.addEventListener('click', async (event) => {
    const button = event.target.closest && event.target.closest('button[data-action]');
    if (!button) return;
    button.disabled = true;
    const response = await fetch(jobUrl + '/' + button.dataset.action, { method: 'POST', headers });
    const answer = await response.json().catch(() => ({}));
    if (button.dataset.action === 'rerun' && response.ok && answer.id) {
      location.assign('../' + encodeURIComponent(answer.id) + '/view' + location.search);
      return;
    }
    if (!response.ok) button.textContent = (answer.error && answer.error.message) || 'The app refused: ' + response.status;
    await refresh();
    if (more()) setTimeout(tick, ${STATUS_PAGE_POLL_MS});
  });
  if (more()) setTimeout(tick, ${STATUS_PAGE_POLL_MS});
})();
</script>`;
}

/** The first errors grouped by code and headline (in mini-batch order), so a repeated failure reads once. */
function failureGroups(view: JobView): Array<{ examples: JobView['first_errors'] }> {
  const groups = new Map<string, JobView['first_errors']>();
  const sorted = [...view.first_errors].sort((a, b) => a.index - b.index || a.attempt - b.attempt);
  for (const error of sorted) {
    const key = `${error.code}\n${error.message.split('\n')[0] ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), error]);
  }
  return [...groups.values()].map((examples) => ({ examples }));
}

interface Segment {
  /** Its CSS class (and the id suffix of its part of the bar). */
  id: 'ok' | 'partial' | 'bad' | 'retrying' | 'pending' | 'canceled' | 'earlier';
  state: MiniBatchState;
  label: string;
  count: number;
  percent: number;
}

/** How each state is drawn and named, in the order of the bar and the legend. */
const STATE_LOOK: Array<{ state: MiniBatchState; id: Segment['id']; label: string }> = [
  { state: 'succeeded', id: 'ok', label: 'succeeded' },
  { state: 'partial', id: 'partial', label: 'partly failed' },
  { state: 'failed', id: 'bad', label: 'failed' },
  { state: 'retrying', id: 'retrying', label: 'retrying' },
  { state: 'pending', id: 'pending', label: 'pending' },
  { state: 'canceled', id: 'canceled', label: 'canceled (never ran)' },
  { state: 'earlier', id: 'earlier', label: 'done by an earlier run' },
];
const LOOK = new Map(STATE_LOOK.map((look) => [look.state, look]));

/**
 * The bar's parts, each as a share of the mini-batches this job runs: with the mini-batch report,
 * succeeded, partly failed, failed, retrying, pending and canceled (a re-run's earlier ones are not part
 * of its bar); without it (the jobs page), the final outcomes from the counters and the rest left blank.
 */
function progressSegments(
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

const plural = (n: number, one: string, many = `${one}es`): string => `${n} ${n === 1 ? one : many}`;

/** What a cell stands for, for its title and for people who read the counts. */
function describeBand(band: MiniBatchBand): string {
  const where =
    band.first === band.last ? `mini-batch ${band.first}` : `mini-batches ${band.first}-${band.last}`;
  const counts = STATE_LOOK.filter((look) => band.counts[look.state])
    .map((look) => `${band.counts[look.state]} ${look.label}`)
    .join(', ');
  return band.first === band.last ? `${where}: ${LOOK.get(band.state)!.label}` : `${where}: ${counts}`;
}

/**
 * The grid: one cell per mini-batch, or per band of consecutive mini-batches for a large job (at most
 * MAX_GRID_CELLS cells), coloured by its worst state; each cell's title gives its counts. For assistive
 * technology it is one image whose label is the counts (the legend names the colours).
 */
function renderGrid(report: MiniBatchReport): string {
  if (report.total === 0) return '';
  const summary = STATE_LOOK.filter((look) => report.counts[look.state] > 0)
    .map((look) => `${report.counts[look.state]} ${look.label}`)
    .join(', ');
  const note =
    report.band_size === 1
      ? 'One cell per mini-batch, in order.'
      : `Each cell is ${report.band_size} consecutive mini-batches, coloured by the worst state among them; hover over a cell for its counts.`;
  const cells = report.bands
    .map(
      (band) =>
        `<span class="${LOOK.get(band.state)!.id}" data-state="${band.state}" data-first="${band.first}" title="${escape(describeBand(band))}"></span>`,
    )
    .join('');
  return `<h2 id="grid-title">Mini-batches</h2>
<p class="muted" id="grid-note">${note}</p>
<div id="grid" class="grid${report.bands.length > 300 ? ' dense' : ''}" role="img" aria-labelledby="grid-title" aria-describedby="grid-summary" data-band-size="${report.band_size}">${cells}</div>
<p id="grid-summary" class="muted">${escape(`${plural(report.total, 'mini-batch')}: ${summary}.`)}</p>`;
}

/** Failure groups of the report: code, how many mini-batches, up to 3 examples with their logs. */
function renderFailureGroups(
  groups: FailureGroup[],
  attemptLogHref: (index: number, attempt: number) => string | undefined,
  badRecordsHref: (index: number, attempt: number) => string | undefined,
): string {
  return groups
    .map((group) => {
      const examples = group.examples
        .map((example) => {
          const log = attemptLogHref(example.index, example.attempt);
          const bad = example.bad_records ? badRecordsHref(example.index, example.attempt) : undefined;
          const [headline, ...detail] = (example.message ?? '').split('\n');
          const links = [
            log ? `<a href="${escape(log)}">attempt log</a>` : '',
            bad ? `<a href="${escape(bad)}">bad records</a>` : '',
          ].filter(Boolean);
          return `<li data-mini-batch="${example.index}">mini-batch ${example.index}, attempt ${example.attempt}${example.status === 'partial' ? ' (partly failed)' : ''}${headline ? `: ${escape(headline)}` : ''}${links.length ? ` (${links.join(', ')})` : ''}${detail.length ? `<pre>${escape(detail.slice(0, 6).join('\n'))}</pre>` : ''}</li>`;
        })
        .join('');
      const more = group.count > group.examples.length ? ', for example' : '';
      return `<li data-code="${escape(group.code)}" data-count="${group.count}"><code>${escape(group.code)}</code> <span class="count">${plural(group.count, 'mini-batch')}</span>${more}:<ul class="examples">${examples}</ul></li>`;
    })
    .join('');
}

/** Links to the bad-records logs (table records that did not parse) of the attempts that wrote one. */
function renderBadRecords(
  report: MiniBatchReport,
  badRecordsHref: (index: number, attempt: number) => string | undefined,
): string {
  if (report.bad_records.length === 0) return '';
  const items = report.bad_records
    .map(({ index, attempt }) => {
      const href = badRecordsHref(index, attempt);
      const name = `mini-batch ${index}, attempt ${attempt}`;
      return `<li data-mini-batch="${index}">${href ? `<a href="${escape(href)}">${name}</a>` : `${name} <span class="muted">(linked once the job has ended)</span>`}</li>`;
    })
    .join('');
  return `<h2>Bad records</h2><p class="muted">Table records that did not parse, listed per attempt (file, line, offset, why)${report.bad_records_more ? '; only the first attempts are looked at here: every log is in user_logs' : ''}:</p><ul id="bad-records">${items}</ul>`;
}

/** Mini-batches per minute since the job was created, and when it will end at that pace (running jobs). */
function paceOf(view: JobView, now: number): { rate?: string; eta?: string } {
  const c = view.counters;
  const done = c.succeeded + c.failed;
  const end = view.finished_at ? Date.parse(view.finished_at) : now;
  const minutes = (end - Date.parse(view.created_time)) / 60_000;
  if (!(minutes > 0) || done === 0) return {};
  const perMinute = done / minutes;
  const rate = `${perMinute >= 10 ? Math.round(perMinute) : perMinute.toFixed(1)} mini-batches a minute`;
  if (isTerminalStatus(view.status) || c.miniBatches <= done) return { rate };
  const eta = new Date(now + ((c.miniBatches - done) / perMinute) * 60_000).toISOString();
  return { rate, eta: `${eta} at this pace` };
}

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
  const rows = page.jobs
    .map((job) => {
      const c = job.counters;
      const bar = progressSegments(job)
        .segments.map((segment) => `<div class="${segment.id}" style="width:${segment.percent}%"></div>`)
        .join('');
      const view = `jobs/${encodeURIComponent(job.id)}/view`;
      return `<tr data-job="${escape(job.id)}"><td><a href="${escape(view)}">${escape(job.display_name ?? job.name)}</a><br><small class="muted">${escape(job.id)}</small></td><td><span class="status ${job.status}">${job.status}</span></td><td><div class="bar small" role="img" aria-label="${c.succeeded + c.failed} of ${c.miniBatches} done">${bar}</div><small>${c.succeeded + c.failed} / ${c.miniBatches}</small></td><td>${c.succeeded}</td><td>${c.failed}${c.partial ? ` <small class="muted">(${c.partial} partly)</small>` : ''}</td><td>${duration(job, now)}</td><td><small>${escape(job.created_time)}</small></td></tr>`;
    })
    .join('');
  const filters = [
    `<a href="dashboard"${page.status ? '' : ' aria-current="page"'}>All</a>`,
    ...FILTERS.map(
      (status) =>
        `<a href="?status=${status}"${page.status === status ? ' aria-current="page"' : ''}>${status}</a>`,
    ),
  ].join(' ');
  const nonce = page.nonce ? ` nonce="${escape(page.nonce)}"` : '';
  const script = `<script${nonce}>
(() => {
  const key = new URLSearchParams(location.search).get('code');
  const headers = key ? { 'x-functions-key': key } : {};
  const live = () => document.getElementById('live');
  const tick = async () => {
    try {
      const response = await fetch(location.pathname + location.search.replace(/([?&])code=[^&]*&?/, '$1'), { cache: 'no-store', headers });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('live');
        if (fresh) live().replaceWith(document.adoptNode(fresh));
      }
    } catch (error) {
      // A dropped request: try again on the next tick.
    }
    if (live().dataset.running === 'true') setTimeout(tick, ${STATUS_PAGE_POLL_MS * 2});
  };
  if (live().dataset.running === 'true') setTimeout(tick, ${STATUS_PAGE_POLL_MS * 2});
})();
</script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Jobs</title><style>${STYLE}
.bar.small{height:8px;width:8rem}.bar.small>div{height:8px}nav a{margin-right:.6rem}nav a[aria-current]{font-weight:600;color:#1b1b1b}
td small{font-size:12px}</style>${running ? '<noscript><meta http-equiv="refresh" content="5"></noscript>' : ''}</head>
<body><main id="live" data-running="${running}"><h1>Jobs${page.status ? ` <small>${page.status}</small>` : ''}</h1>
<nav aria-label="filter by status">${filters}</nav>
${
  page.jobs.length
    ? `<table id="jobs"><thead><tr><th>Job</th><th>Status</th><th>Mini-batches</th><th>Succeeded</th><th>Failed</th><th>Duration</th><th>Started</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<p id="no-jobs">No jobs${page.status ? ` with status ${page.status}` : ''} yet.</p>`
}
${page.nextHref ? `<p><a id="next" href="${escape(page.nextHref)}">Older jobs</a></p>` : ''}
</main>
${script}
</body></html>`;
}

/** A folder of a job's outputs or logs: one link per blob or sub-folder. */
export function renderFolderPage(folder: {
  title: string;
  children: Array<{ name: string; size?: number }>;
  truncated: boolean;
  /** The href of a child (a signed download link in the app). */
  childHref: (childName: string) => string;
}): string {
  const items = folder.children
    .map((child) => {
      const size = child.size === undefined ? '' : ` <span class="muted">${child.size} bytes</span>`;
      return `<li><a href="${escape(folder.childHref(child.name))}">${escape(child.name)}</a>${size}</li>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(folder.title)}</title><style>${STYLE}</style></head>
<body><h1>${escape(folder.title)}</h1><ul id="files">${items}</ul>
${folder.truncated ? '<p class="muted">Only the first entries are listed; the rest are in storage.</p>' : ''}
</body></html>`;
}
