import type { JobView } from './status';
import { isFinished } from './status';

const escape = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** A small status page: progress, counters, failures, links. Refreshes itself while the job runs. */
export function renderStatusPage(view: JobView): string {
  const c = view.counters;
  const done = c.succeeded + c.failed;
  const percent =
    c.miniBatches > 0 ? Math.round((100 * done) / c.miniBatches) : isFinished(view.status) ? 100 : 0;
  const refresh = isFinished(view.status) ? '' : '<meta http-equiv="refresh" content="3">';
  const row = (label: string, value: string | number, id: string) =>
    `<tr><th>${label}</th><td id="${id}">${escape(String(value))}</td></tr>`;
  const linkList = (entries: Record<string, string>) =>
    Object.entries(entries)
      .map(([name, url]) => `<li><a href="${escape(url)}">${escape(name)}</a></li>`)
      .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${refresh}<title>${escape(view.name)}: ${view.status}</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:56rem;color:#1b1b1b}h1{font-size:1.4rem}
.bar{background:#e6e6e6;border-radius:4px;height:14px}.bar>div{background:#0a7d3b;height:14px;border-radius:4px}
table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.25rem 1rem .25rem 0}
.status{font-weight:600}.Failed{color:#b00020}.Completed{color:#0a7d3b}</style></head>
<body><h1>${escape(view.display_name ?? view.name)} <small>(${escape(view.id)})</small></h1>
<p>Status: <span id="status" class="status ${view.status}">${view.status}</span></p>
<div class="bar" role="progressbar" aria-valuenow="${percent}" aria-valuemin="0" aria-valuemax="100"><div style="width:${percent}%"></div></div>
<table>
${row('Mini-batches', c.miniBatches, 'mini-batches')}${row('Succeeded', c.succeeded, 'succeeded')}${row('Failed', c.failed, 'failed')}
${row('Retries', c.retried, 'retried')}${row('Items succeeded', c.itemsSucceeded, 'items-succeeded')}${row('Items failed', c.itemsFailed, 'items-failed')}
${row('Created', view.created_time, 'created')}${row('Last update', view.last_updated_time, 'updated')}
</table>
${view.reasons.length ? `<h2>Reasons</h2><ul id="reasons">${view.reasons.map((r) => `<li>${escape(r)}</li>`).join('')}</ul>` : ''}
${view.first_errors.length ? `<h2>First errors</h2><ul id="errors">${view.first_errors.map((e) => `<li>mini-batch ${e.index}, attempt ${e.attempt}: ${escape(e.code)}: ${escape(e.message)}</li>`).join('')}</ul>` : ''}
${Object.keys(view.outputs).length ? `<h2>Outputs</h2><ul id="outputs">${linkList(view.outputs)}</ul>` : ''}
${Object.keys(view.log_files).length ? `<h2>Logs</h2><ul id="logs">${linkList(view.log_files)}</ul>` : ''}
</body></html>`;
}
