// The script of the jobs page and the status page, put into each page under its CSP nonce
// (src/api/pages/assets.ts). The pages work without it: it refreshes them in place, shows times in the
// reader's time zone, and runs the status page's buttons.
//
// The function key stays in the page's own address (its `code` parameter), where the person who opened the page put it:
// it is never written into the HTML nor into any link. The script reads it from there only to send it as
// a header. It refreshes a page by fetching this same page and swapping its live part, so each page has
// one renderer and keeps its scroll position.
(() => {
  const key = new URLSearchParams(location.search).get('code');
  const headers = key ? { 'x-functions-key': key } : {};
  const page = document.body.dataset;
  const pollMs = Number(page.pollMs) || 1000;
  const live = () => document.getElementById('live');

  /** True while the page still changes: a job or a list of jobs running, or a grid still being counted. */
  const changing = () =>
    live().dataset.running === 'true' ||
    live().dataset.finished === 'false' ||
    live().dataset.waiting === 'true';

  /** This page's address without the key, which goes as a header instead. */
  const pageAddress = () => {
    const address = new URL(location.href);
    address.searchParams.delete('code');
    return address.pathname + address.search;
  };

  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  const withZone = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const UNITS = [
    ['year', 365 * 24 * 3600],
    ['month', 30 * 24 * 3600],
    ['day', 24 * 3600],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  /** `3 minutes ago`, `in 2 hours`: the largest whole unit between now and `at`. */
  const fromNow = (at) => {
    const seconds = Math.round((at - Date.now()) / 1000);
    const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) || UNITS[UNITS.length - 1];
    return relative.format(Math.trunc(seconds / size), unit);
  };

  /**
   * Each <time datetime> (written in UTC by the server) in the reader's time zone: the date and time with
   * how long ago (or `data-relative`: how long ago only), the full date and zone on hover.
   */
  const localizeTimes = () => {
    for (const time of document.querySelectorAll('time[datetime]')) {
      const at = Date.parse(time.getAttribute('datetime'));
      if (Number.isNaN(at)) continue;
      time.textContent = 'relative' in time.dataset ? fromNow(at) : `${dateTime.format(at)} (${fromNow(at)})`;
      time.title = withZone.format(at);
    }
  };

  const refresh = async () => {
    try {
      const response = await fetch(pageAddress(), { cache: 'no-store', headers });
      if (response.ok) {
        const next = new DOMParser().parseFromString(await response.text(), 'text/html');
        const fresh = next.getElementById('live');
        if (fresh) {
          live().replaceWith(document.adoptNode(fresh));
          document.title = next.title;
          localizeTimes();
        }
      }
    } catch {
      // A dropped request: try again on the next tick.
    }
  };

  // One timer: a button's refresh and the polling never run two chains of ticks.
  let timer;
  const schedule = () => {
    clearTimeout(timer);
    if (changing()) timer = setTimeout(tick, pollMs);
  };
  const tick = async () => {
    await refresh();
    schedule();
  };

  // The status page's buttons: cancel the job, or re-run it and open the new job's page.
  document.addEventListener('click', async (event) => {
    const button = event.target.closest && event.target.closest('button[data-action]');
    if (!button) return;
    button.disabled = true;
    const response = await fetch(page.jobUrl + '/' + button.dataset.action, { method: 'POST', headers });
    const answer = await response.json().catch(() => ({}));
    if (button.dataset.action === 'rerun' && response.ok && answer.id) {
      location.assign('../' + encodeURIComponent(answer.id) + '/view' + location.search);
      return;
    }
    if (!response.ok)
      button.textContent = (answer.error && answer.error.message) || 'The app refused: ' + response.status;
    await refresh();
    schedule();
  });

  localizeTimes();
  // Relative times age while the page is open, also once it stops refreshing.
  setInterval(localizeTimes, 15_000);
  schedule();
})();
