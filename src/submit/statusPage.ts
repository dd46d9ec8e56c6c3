import { jobFolder } from '../storage/layout';
import type { JobView } from './status';
import { isFinished } from './status';

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
}

const STYLE = `body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem;margin-bottom:.25rem}h1 small{color:#666;font-weight:400}h2{font-size:1.1rem;margin-top:1.5rem}
.bar{background:#e6e6e6;border-radius:4px;height:14px;overflow:hidden;display:flex}
.bar>.ok{background:#0a7d3b;height:14px}.bar>.bad{background:#b00020;height:14px}
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
  return isFinished(view.status) ? 100 : 0;
}

function progressText(view: JobView): string {
  const c = view.counters;
  if (c.miniBatches === 0 && !isFinished(view.status)) return 'Planning the mini-batches...';
  const total = `${c.miniBatches} mini-batch${c.miniBatches === 1 ? '' : 'es'}`;
  return `${c.succeeded + c.failed} of ${total} done (${percentDone(view)}%)`;
}

/**
 * The status page of one job: status, a progress bar, counters, why it failed (first errors with links to
 * their attempt logs), and links to outputs and logs. While the job runs it polls `GET /api/jobs/{id}`
 * and updates in place; when the job ends it reloads once to show the outputs and logs.
 * Links carry no host name (relative, or signed download paths), so they work behind any; none carries a
 * key. Served with pageHeaders(nonce) (src/submit/serving.ts), whose CSP admits only this page's script.
 */
export function renderStatusPage(view: JobView, options: StatusPageOptions = {}): string {
  const c = view.counters;
  const finished = isFinished(view.status);
  const fileHref =
    options.fileHref ??
    ((kind: 'outputs' | 'logs', name: string, rest = ''): string =>
      `files/${kind}/${encodeURIComponent(name)}${rest ? `/${rest}` : ''}`);
  const row = (label: string, value: string | number, id: string) =>
    `<tr><th>${label}</th><td id="${id}">${escape(String(value))}</td></tr>`;
  const linkList = (id: string, kind: 'outputs' | 'logs', entries: Record<string, string>) =>
    `<ul id="${id}">${Object.keys(entries)
      .map((name) => `<li><a href="${escape(fileHref(kind, name))}">${escape(name)}</a></li>`)
      .join('')}</ul>`;

  const userLogsPrefix = `${jobFolder(view.id).root}user/`;
  const attemptLogHref = (index: number, attempt: number): string | undefined =>
    view.log_files.user_logs
      ? fileHref(
          'logs',
          'user_logs',
          jobFolder(view.id).attemptLog(index, attempt).slice(userLogsPrefix.length),
        )
      : undefined;
  // In mini-batch order: the job records them as they happen, which is not the order a reader scans.
  const failures = [...view.first_errors]
    .sort((a, b) => a.index - b.index || a.attempt - b.attempt)
    .map((error) => {
      const log = attemptLogHref(error.index, error.attempt);
      const [headline, ...detail] = error.message.split('\n');
      return `<li data-mini-batch="${error.index}">mini-batch ${error.index}, attempt ${error.attempt}: <code>${escape(error.code)}</code> ${escape(headline ?? '')}${log ? ` (<a href="${escape(log)}">attempt log</a>)` : ''}${detail.length ? `<pre>${escape(detail.slice(0, 6).join('\n'))}</pre>` : ''}</li>`;
    })
    .join('');
  const failedItemsLink =
    c.itemsFailed > 0 && view.log_files.failed_items
      ? `<p>Every failed item with its error: <a href="${escape(fileHref('logs', 'failed_items'))}">failed_items</a>.</p>`
      : '';
  const percent = percentDone(view);
  const failedPercent =
    c.miniBatches > 0 ? Math.min(percent, Math.round((100 * c.failed) / c.miniBatches)) : 0;

  // The function key stays in the page's own address (?code=), where the person who opened the page put
  // it: it is never written into the HTML nor into any link. The script reads it from there only to send
  // it as a header when polling. (A link to another job's page therefore carries no key: in Azure the
  // reader adds their own, as for any page of the app.)
  const nonce = options.nonce ? ` nonce="${escape(options.nonce)}"` : '';
  const script = `<script${nonce}>
(() => {
  const key = new URLSearchParams(location.search).get('code');
  const statusUrl = ${JSON.stringify(`../${encodeURIComponent(view.id)}`).replace(/</g, '\\u003c')};
  const finished = ['Completed', 'Failed', 'Canceled'];
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = String(value); };
  const tick = async () => {
    try {
      const response = await fetch(statusUrl, { cache: 'no-store', headers: key ? { 'x-functions-key': key } : {} });
      if (response.ok) {
        const view = await response.json();
        if (finished.includes(view.status)) { location.reload(); return; }
        const c = view.counters;
        const done = c.succeeded + c.failed;
        const percent = c.miniBatches > 0 ? Math.min(100, Math.round((100 * done) / c.miniBatches)) : 0;
        const failedPercent = c.miniBatches > 0 ? Math.min(percent, Math.round((100 * c.failed) / c.miniBatches)) : 0;
        const status = document.getElementById('status');
        status.textContent = view.status;
        status.className = 'status ' + view.status;
        document.title = view.name + ': ' + view.status;
        set('mini-batches', c.miniBatches); set('succeeded', c.succeeded); set('failed', c.failed);
        set('retried', c.retried); set('items-succeeded', c.itemsSucceeded); set('items-failed', c.itemsFailed);
        set('rows', c.rows); set('updated', view.last_updated_time);
        set('progress-text', c.miniBatches === 0 ? 'Planning the mini-batches...'
          : done + ' of ' + c.miniBatches + ' mini-batch' + (c.miniBatches === 1 ? '' : 'es') + ' done (' + percent + '%)');
        const bar = document.getElementById('progress');
        bar.setAttribute('aria-valuenow', String(percent));
        document.getElementById('progress-ok').style.width = (percent - failedPercent) + '%';
        document.getElementById('progress-bad').style.width = failedPercent + '%';
      }
    } catch (error) {
      // A dropped request: try again on the next tick.
    }
    setTimeout(tick, ${STATUS_PAGE_POLL_MS});
  };
  setTimeout(tick, ${STATUS_PAGE_POLL_MS});
})();
</script>`;
  // Polling instead of a meta refresh: the page keeps its scroll position and updates only the numbers.
  const refresh = finished ? '' : '<noscript><meta http-equiv="refresh" content="3"></noscript>';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(view.name)}: ${view.status}</title>
<style>${STYLE}</style>${refresh}</head>
<body><h1>${escape(view.display_name ?? view.name)} <small>${escape(view.id)}</small></h1>
<p>Status: <span id="status" class="status ${view.status}">${view.status}</span>${
    view.rerun_of
      ? ` <span class="muted">re-run of <a href="${escape(`../${encodeURIComponent(view.rerun_of)}/view`)}">${escape(view.rerun_of)}</a></span>`
      : ''
  }${finished ? '' : ' <span class="muted">(updates itself)</span>'}</p>
<div id="progress" class="bar" role="progressbar" aria-label="mini-batches done" aria-valuenow="${percent}" aria-valuemin="0" aria-valuemax="100"><div id="progress-ok" class="ok" style="width:${percent - failedPercent}%"></div><div id="progress-bad" class="bad" style="width:${failedPercent}%"></div></div>
<p id="progress-text">${escape(progressText(view))}</p>
<table>
${row('Mini-batches', c.miniBatches, 'mini-batches')}${row('Succeeded', c.succeeded, 'succeeded')}${row('Failed', c.failed, 'failed')}
${row('Retries', c.retried, 'retried')}${row('Items succeeded', c.itemsSucceeded, 'items-succeeded')}${row('Items failed', c.itemsFailed, 'items-failed')}
${row('Output rows', c.rows, 'rows')}${row('Created', view.created_time, 'created')}${row('Last update', view.last_updated_time, 'updated')}
${view.finished_at ? row('Finished', view.finished_at, 'finished') : ''}
</table>
${view.reasons.length ? `<h2>Why</h2><ul id="reasons">${view.reasons.map((r) => `<li>${escape(r)}</li>`).join('')}</ul>` : ''}
${failures || failedItemsLink ? `<h2>Failures</h2>${failures ? `<ul id="failures">${failures}</ul>` : ''}${failedItemsLink}` : ''}
${Object.keys(view.outputs).length ? `<h2>Outputs</h2>${linkList('outputs', 'outputs', view.outputs)}` : ''}
${Object.keys(view.log_files).length ? `<h2>Logs</h2>${linkList('logs', 'logs', view.log_files)}` : ''}
${finished ? '' : script}
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
