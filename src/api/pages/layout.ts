import { scriptElement, styleElement } from './assets';
import { html, type SafeHtml } from './html';

/** The frame every page shares: the document, its head, the stylesheet and, for live pages, the script. */

/** While a job runs, its page asks for its status this often and updates in place; the jobs page half as often. */
export const STATUS_PAGE_POLL_MS = 1000;

export interface PageFrame {
  title: string;
  body: SafeHtml;
  /**
   * For a page that updates itself: the script's settings. `nonce` is the one the page's
   * Content-Security-Policy names; `jobUrl` the job the status page's buttons act on.
   */
  live?: { nonce?: string; pollMs: number; jobUrl?: string };
  /** Seconds after which a browser without JavaScript loads the page again (while it changes). */
  refreshSeconds?: number;
}

/** The body's opening tag: the script reads its settings from there. */
function bodyTag(live: PageFrame['live']): SafeHtml {
  if (!live) return html`<body>`;
  return live.jobUrl === undefined
    ? html`<body data-poll-ms="${live.pollMs}">`
    : html`<body data-poll-ms="${live.pollMs}" data-job-url="${live.jobUrl}">`;
}

export function renderPage(page: PageFrame): string {
  const refresh =
    page.refreshSeconds === undefined
      ? undefined
      : html`<noscript><meta http-equiv="refresh" content="${page.refreshSeconds}"></noscript>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${page.title}</title>
${styleElement()}${refresh}</head>
${bodyTag(page.live)}${page.body}
${page.live ? scriptElement(page.live.nonce) : undefined}
</body></html>`.toString();
}

/**
 * A point in time as a `<time>`: readable in UTC without JavaScript (`2026-11-24 10:00:00 UTC`); the
 * pages' script shows it in the reader's time zone with how long ago it was, or (`relative`) how long ago
 * only, with the full local date on hover.
 */
export function timeHtml(iso: string, options: { relative?: boolean } = {}): SafeHtml {
  const at = Date.parse(iso);
  const readable = Number.isNaN(at)
    ? iso
    : new Date(at)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC');
  return options.relative
    ? html`<time datetime="${iso}" data-relative>${readable}</time>`
    : html`<time datetime="${iso}">${readable}</time>`;
}
