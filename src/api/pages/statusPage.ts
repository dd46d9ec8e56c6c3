import { jobFolder } from '../../storage/layout';
import type { FailureGroup, JobView, MiniBatchBand, MiniBatchReport } from '../wire';
import { isTerminalStatus, planningSummary } from '../wire';
import { html, type HtmlValue, type SafeHtml } from './html';
import { renderPage, STATUS_PAGE_POLL_MS, timeHtml } from './layout';
import { LOOK, percentDone, plural, progressSegments, STATE_LOOK } from './progress';

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

/** A link to one of the job's attempt logs or bad-records logs, once the job has them (after it ended). */
type AttemptHref = (index: number, attempt: number) => string | undefined;

function progressText(view: JobView): string {
  const c = view.counters;
  if (c.miniBatches === 0 && !isTerminalStatus(view.status))
    return view.planning
      ? `Planning the mini-batches: ${planningSummary(view.planning)}.`
      : 'Planning the mini-batches...';
  const total = plural(c.miniBatches, 'mini-batch');
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
  const linkList = (id: string, kind: 'outputs' | 'logs', entries: Record<string, string>): SafeHtml =>
    html`<ul id="${id}">${Object.keys(entries).map((name) => html`<li><a href="${fileHref(kind, name)}">${name}</a></li>`)}</ul>`;

  const folder = jobFolder(view.id);
  const userLogsPrefix = `${folder.root}user/`;
  const userLogHref = (name: string): string | undefined =>
    view.log_files.user_logs ? fileHref('logs', 'user_logs', name.slice(userLogsPrefix.length)) : undefined;
  const attemptLogHref: AttemptHref = (index, attempt) => userLogHref(folder.attemptLog(index, attempt));
  const badRecordsHref: AttemptHref = (index, attempt) => userLogHref(folder.badRecords(index, attempt));
  const failures = report
    ? renderFailureGroups(report.failures.groups, attemptLogHref, badRecordsHref)
    : renderFirstFailures(view, attemptLogHref);
  const failedItemsLink =
    c.itemsFailed > 0 && view.log_files.failed_items
      ? html`<p>Every failed item with its error: <a href="${fileHref('logs', 'failed_items')}">failed_items</a>.</p>`
      : undefined;
  const failuresIntro = report
    ? `${plural(report.failures.total, 'mini-batch')} failed for good, by error code (up to 3 examples each):`
    : 'The first failures, alike ones together:';
  const failuresList = failures.length
    ? html`<p class="muted">${failuresIntro}</p><ul id="failures">${failures}</ul>`
    : undefined;
  const failuresSection =
    failuresList || failedItemsLink ? html`<h2>Failures</h2>${failuresList}${failedItemsLink}` : undefined;
  const reasons = view.reasons.length
    ? html`<h2>Why</h2><ul id="reasons">${view.reasons.map((reason) => html`<li>${reason}</li>`)}</ul>`
    : undefined;
  const outputs = Object.keys(view.outputs).length
    ? html`<h2>Outputs</h2>${linkList('outputs', 'outputs', view.outputs)}`
    : undefined;
  const logs = Object.keys(view.log_files).length
    ? html`<h2>Logs</h2>${linkList('logs', 'logs', view.log_files)}`
    : undefined;
  const rerunOf = view.rerun_of
    ? html` <span class="muted">re-run of <a href="${`../${encodeURIComponent(view.rerun_of)}/view`}">${view.rerun_of}</a></span>`
    : undefined;
  const updatesItself = finished ? undefined : html` <span class="muted">(updates itself)</span>`;
  const waiting = options.miniBatchesReading === true;
  // The script keeps refreshing while the job runs or its grid is still being counted.
  const liveStart = waiting
    ? html`<main id="live" data-finished="${String(finished)}" data-waiting="true">`
    : html`<main id="live" data-finished="${String(finished)}">`;

  const body = html`${liveStart}<h1>${view.display_name ?? view.name} <small>${view.id}</small></h1>
<p>Status: <span id="status" class="status ${view.status}">${view.status}</span>${rerunOf}${updatesItself} ${renderActions(view)}</p>
${renderProgress(view, report)}
${renderGridSection(options, report)}
${renderCounters(view, paceOf(view, options.now ?? Date.now()))}
${reasons}
${failuresSection}
${report ? renderBadRecords(report, badRecordsHref) : undefined}
${outputs}
${logs}
</main>`;
  return renderPage({
    title: `${view.name}: ${view.status}`,
    body,
    live: { nonce: options.nonce, pollMs: STATUS_PAGE_POLL_MS, jobUrl: `../${encodeURIComponent(view.id)}` },
    refreshSeconds: finished && !waiting ? undefined : 3,
  });
}

/** The progress bar, its text and its legend. */
function renderProgress(view: JobView, report: MiniBatchReport | undefined): SafeHtml {
  const bar = progressSegments(view, report);
  const barText = bar.segments.map((segment) => `${segment.count} ${segment.label}`).join(', ');
  const parts = bar.segments.map(
    (segment) =>
      html`<div id="progress-${segment.id}" class="${segment.id}" style="width:${segment.percent}%" title="${segment.label} ${segment.count}"></div>`,
  );
  const legend = bar.legend.map(
    (segment) =>
      html`<li data-state="${segment.state}"><span class="key ${segment.id}" aria-hidden="true"></span>${segment.label} <span id="count-${segment.state}">${segment.count}</span></li>`,
  );
  return html`<div id="progress" class="bar" role="progressbar" aria-label="mini-batches done" aria-valuenow="${bar.done}" aria-valuemin="0" aria-valuemax="100" aria-valuetext="${barText}">${parts}</div>
<p id="progress-text">${progressText(view)}</p>
<ul id="legend" class="legend" aria-label="mini-batches by state">${legend}</ul>`;
}

const row = (label: string, value: HtmlValue, id: string): SafeHtml =>
  html`<tr><th>${label}</th><td id="${id}">${value}</td></tr>`;

/** The table of counters, pace and times. */
function renderCounters(view: JobView, pace: { rate?: string; eta?: string }): SafeHtml {
  const c = view.counters;
  const rate = pace.rate ? row('Throughput', pace.rate, 'throughput') : undefined;
  const eta = pace.eta ? row('Estimated finish', html`${timeHtml(pace.eta)} at this pace`, 'eta') : undefined;
  const finished = view.finished_at ? row('Finished', timeHtml(view.finished_at), 'finished') : undefined;
  return html`<table>
${row('Mini-batches', c.miniBatches, 'mini-batches')}${row('Succeeded', c.succeeded, 'succeeded')}${row('Failed', c.failed, 'failed')}
${row('Of which partly failed', c.partial, 'partial')}${row('Retries', c.retried, 'retried')}${row('Items succeeded', c.itemsSucceeded, 'items-succeeded')}
${row('Items failed', c.itemsFailed, 'items-failed')}${row('Output rows', c.rows, 'rows')}
${rate}${eta}
${row('Created', timeHtml(view.created_time), 'created')}${row('Last update', timeHtml(view.last_updated_time), 'updated')}
${finished}
</table>`;
}

/** A message's first line, and up to 6 more lines to show under it. */
function headlineAndDetail(message: string): { headline: string; detail: SafeHtml | undefined } {
  const [headline, ...detail] = message.split('\n');
  return {
    headline: headline ?? '',
    detail: detail.length ? html`<pre>${detail.slice(0, 6).join('\n')}</pre>` : undefined,
  };
}

/** Failure groups from the job's first errors, when the mini-batch report is not at hand. */
function renderFirstFailures(view: JobView, attemptLogHref: AttemptHref): SafeHtml[] {
  return failureGroups(view).map((group) => {
    const first = group.examples[0]!;
    const log = attemptLogHref(first.index, first.attempt);
    const { headline, detail } = headlineAndDetail(first.message);
    const where =
      group.examples.length === 1
        ? `mini-batch ${first.index}, attempt ${first.attempt}`
        : `${group.examples.length} mini-batches (${group.examples.map((e) => e.index).join(', ')})`;
    const logLink = log ? html` (<a href="${log}">attempt log</a>)` : undefined;
    return html`<li data-mini-batch="${first.index}" data-code="${first.code}">${where}: <code>${first.code}</code> ${headline}${logLink}${detail}</li>`;
  });
}

/** The grid of mini-batches, or why it is not (yet) there. */
function renderGridSection(options: StatusPageOptions, report: MiniBatchReport | undefined): HtmlValue {
  if (options.miniBatchesReading)
    return html`<p id="grid-reading" class="muted" role="status">Counting the mini-batches by state: a large job takes a few seconds; this page updates itself.</p>`;
  if (typeof options.miniBatches === 'string')
    return html`<p id="grid-error" class="muted">The mini-batch grid is not available: ${options.miniBatches}</p>`;
  return report ? renderGrid(report) : undefined;
}

/** The button of what can be done to the job now: cancel it while it runs, re-run what did not succeed. */
function renderActions(view: JobView): SafeHtml | undefined {
  const c = view.counters;
  if (isTerminalStatus(view.status))
    return c.failed > 0 || view.status !== 'Completed'
      ? html`<button type="button" data-action="rerun">Re-run failed and pending mini-batches</button>`
      : undefined;
  return view.status === 'CancelRequested'
    ? undefined
    : html`<button type="button" data-action="cancel">Cancel</button>`;
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
function renderGrid(report: MiniBatchReport): SafeHtml | undefined {
  if (report.total === 0) return undefined;
  const summary = STATE_LOOK.filter((look) => report.counts[look.state] > 0)
    .map((look) => `${report.counts[look.state]} ${look.label}`)
    .join(', ');
  const note =
    report.band_size === 1
      ? 'One cell per mini-batch, in order.'
      : `Each cell is ${report.band_size} consecutive mini-batches, coloured by the worst state among them; hover over a cell for its counts.`;
  const cells = report.bands.map(
    (band) =>
      html`<span class="${LOOK.get(band.state)!.id}" data-state="${band.state}" data-first="${band.first}" title="${describeBand(band)}"></span>`,
  );
  const dense = report.bands.length > 300 ? ' dense' : '';
  return html`<h2 id="grid-title">Mini-batches</h2>
<p class="muted" id="grid-note">${note}</p>
<div id="grid" class="grid${dense}" role="img" aria-labelledby="grid-title" aria-describedby="grid-summary" data-band-size="${report.band_size}">${cells}</div>
<p id="grid-summary" class="muted">${plural(report.total, 'mini-batch')}: ${summary}.</p>`;
}

/** Links separated by commas. */
const commaSeparated = (links: SafeHtml[]): HtmlValue[] =>
  links.flatMap((link, i) => (i ? [', ', link] : [link]));

/** Failure groups of the report: code, how many mini-batches, up to 3 examples with their logs. */
function renderFailureGroups(
  groups: FailureGroup[],
  attemptLogHref: AttemptHref,
  badRecordsHref: AttemptHref,
): SafeHtml[] {
  return groups.map((group) => {
    const examples = group.examples.map((example) => {
      const log = attemptLogHref(example.index, example.attempt);
      const bad = example.bad_records ? badRecordsHref(example.index, example.attempt) : undefined;
      const { headline, detail } = headlineAndDetail(example.message ?? '');
      const links = [
        ...(log ? [html`<a href="${log}">attempt log</a>`] : []),
        ...(bad ? [html`<a href="${bad}">bad records</a>`] : []),
      ];
      const partly = example.status === 'partial' ? ' (partly failed)' : undefined;
      const said = headline ? `: ${headline}` : undefined;
      const linked = links.length ? html` (${commaSeparated(links)})` : undefined;
      return html`<li data-mini-batch="${example.index}">mini-batch ${example.index}, attempt ${example.attempt}${partly}${said}${linked}${detail}</li>`;
    });
    const more = group.count > group.examples.length ? ', for example' : undefined;
    return html`<li data-code="${group.code}" data-count="${group.count}"><code>${group.code}</code> <span class="count">${plural(group.count, 'mini-batch')}</span>${more}:<ul class="examples">${examples}</ul></li>`;
  });
}

/** Links to the bad-records logs (table records that did not parse) of the attempts that wrote one. */
function renderBadRecords(report: MiniBatchReport, badRecordsHref: AttemptHref): SafeHtml | undefined {
  if (report.bad_records.length === 0) return undefined;
  const items = report.bad_records.map(({ index, attempt }) => {
    const href = badRecordsHref(index, attempt);
    const name = `mini-batch ${index}, attempt ${attempt}`;
    const entry = href
      ? html`<a href="${href}">${name}</a>`
      : html`${name} <span class="muted">(linked once the job has ended)</span>`;
    return html`<li data-mini-batch="${index}">${entry}</li>`;
  });
  const more = report.bad_records_more
    ? '; only the first attempts are looked at here: every log is in user_logs'
    : undefined;
  return html`<h2>Bad records</h2><p class="muted">Table records that did not parse, listed per attempt (file, line, offset, why)${more}:</p><ul id="bad-records">${items}</ul>`;
}

/**
 * Mini-batches per minute since the job was created, and (running jobs) when it will end at that pace,
 * as an ISO time.
 */
function paceOf(view: JobView, now: number): { rate?: string; eta?: string } {
  const c = view.counters;
  const done = c.succeeded + c.failed;
  const end = view.finished_at ? Date.parse(view.finished_at) : now;
  const minutes = (end - Date.parse(view.created_time)) / 60_000;
  if (!(minutes > 0) || done === 0) return {};
  const perMinute = done / minutes;
  const rate = `${perMinute >= 10 ? Math.round(perMinute) : perMinute.toFixed(1)} mini-batches a minute`;
  if (isTerminalStatus(view.status) || c.miniBatches <= done) return { rate };
  return { rate, eta: new Date(now + ((c.miniBatches - done) / perMinute) * 60_000).toISOString() };
}
