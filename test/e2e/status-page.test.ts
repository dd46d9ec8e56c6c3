/// <reference lib="dom" />
import { launchChromium } from '../support/browser';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { emptyCounters } from '../../src/orchestration/counters';
import { MiniBatchTally, tallyReport } from '../../src/api/miniBatches';
import { miniBatchReportSchema, type JobView } from '../../src/api/wire';
import { renderStatusPage } from '../../src/api/pages/statusPage';
import { startProductHost, type ProductHost } from '../support/productHost';

/** The status page as a person sees it: rendered by headless Chromium from the running product. */

const root = path.resolve(__dirname, '..', '..');
const screenshot = path.join(root, 'test-results', 'status-page.png');

let product: ProductHost;
let browser: Browser;

beforeAll(async () => {
  product = await startProductHost({ pollIntervalMs: 50 });
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await product?.stop();
});

async function uploadInputs(prefix: string, texts: string[]): Promise<string[]> {
  const files = texts.map((_, i) => `f-${String(i).padStart(3, '0')}.txt`);
  for (const [i, text] of texts.entries()) await product.store.write('inputs', `${prefix}/${files[i]}`, text);
  return files;
}

function jobSpec(prefix: string, entryScript: string, programArguments: string, concurrency = 2) {
  return {
    name: `page-${prefix}`,
    display_name: `Status page ${prefix}`,
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: `inputs/${prefix}` } },
    outputs: { rows: { type: 'uri_folder' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    max_concurrency_per_instance: concurrency,
    retry_settings: { max_retries: 1, timeout: 30 },
    task: {
      type: 'run_function',
      code: '.',
      entry_script: entryScript,
      program_arguments: programArguments,
      append_row_to: '${{outputs.rows}}',
    },
  };
}

const text = async (page: Page, selector: string): Promise<string> =>
  ((await page.locator(selector).textContent()) ?? '').trim();

/** The state of each cell of the mini-batch grid, in order. */
const gridStates = (page: Page): Promise<Array<string | null>> =>
  page.locator('#grid > span').evaluateAll((cells) => cells.map((cell) => cell.getAttribute('data-state')));

/** Every link on the page, as absolute URLs. */
const hrefs = (page: Page): Promise<string[]> =>
  page.$$eval('a[href]', (links) => links.map((link) => (link as HTMLAnchorElement).href));

describe('status page', () => {
  it('shows a finished job with failures: status, counters, failure list, links that resolve', async () => {
    const texts = ['ok0', 'bad', 'ok2', 'ok3', 'bad', 'ok5'];
    const files = await uploadInputs('finished', texts);
    const { id, view_url } = await product.client.submit(jobSpec('finished', 'fixable.js', ''));
    const view: JobView = await product.client.wait(id, { intervalMs: 100 });
    expect(view.status).toBe('Completed');

    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const response = await page.goto(view_url);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe(`page-finished: Completed`);
    expect(await text(page, 'h1')).toContain('Status page finished');
    expect(await text(page, '#status')).toBe('Completed');
    expect(await text(page, '#mini-batches')).toBe('6');
    expect(await text(page, '#succeeded')).toBe('4');
    expect(await text(page, '#failed')).toBe('2');
    // One retry per failed mini-batch (max_retries 1).
    expect(await text(page, '#retried')).toBe('2');
    expect(await text(page, '#items-failed')).toBe('2');
    expect(await text(page, '#rows')).toBe('4');
    expect(await text(page, '#progress-text')).toBe('6 of 6 mini-batches done (100%)');
    expect(await page.getAttribute('#progress', 'aria-valuenow')).toBe('100');

    // Both failures have one code: one group counting both, each an example with its attempt log.
    const failures = page.locator('#failures > li');
    expect(await failures.count()).toBe(1);
    expect(await failures.first().getAttribute('data-code')).toBe('TASK_RUN_FAILED');
    expect(await failures.first().getAttribute('data-count')).toBe('2');
    const examples = page.locator('#failures .examples > li');
    expect(
      await examples.evaluateAll((items) => items.map((li) => li.getAttribute('data-mini-batch'))),
    ).toEqual(['1', '4']);
    for (const [n, file] of [files[1], files[4]].entries()) {
      const item = examples.nth(n);
      expect(await item.textContent()).toContain(`${file} is bad (not fixed yet)`);
      expect(await item.locator('a', { hasText: 'attempt log' }).count()).toBe(1);
    }
    // The grid: one cell per mini-batch; the legend counts them.
    expect(await gridStates(page)).toEqual([
      'succeeded',
      'failed',
      'succeeded',
      'succeeded',
      'failed',
      'succeeded',
    ]);
    expect(await text(page, '#count-succeeded')).toBe('4');
    expect(await text(page, '#count-failed')).toBe('2');

    expect(await page.locator('#outputs a').allTextContents()).toEqual(['rows']);
    expect(await page.locator('#logs a').allTextContents()).toEqual(
      expect.arrayContaining([
        'job_result',
        'manifest',
        'failed_items',
        'user_logs',
        'job_progress_overview',
      ]),
    );

    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(statSync(screenshot).size).toBeGreaterThan(5_000);

    const links = await hrefs(page);
    expect(links.length).toBeGreaterThanOrEqual(9);
    for (const link of links) {
      const answer = await fetch(link);
      expect({ link, status: answer.status }).toEqual({ link, status: 200 });
    }
    // The output link serves the rows themselves; the failed items link names the failed files.
    const output = await (
      await fetch(
        await page
          .locator('#outputs a')
          .first()
          .evaluate((a) => (a as HTMLAnchorElement).href),
      )
    ).text();
    expect(output.trim().split('\n')).toEqual([0, 2, 3, 5].map((i) => `${files[i]},${texts[i]}`));
    const attemptLog = await examples
      .nth(0)
      .locator('a')
      .evaluate((a) => (a as HTMLAnchorElement).href);
    expect(await (await fetch(attemptLog)).text()).toContain('is bad');

    // A folder link (the user logs) opens a listing whose links resolve too.
    await page.locator('#logs a', { hasText: 'user_logs' }).click();
    const folderLinks = await hrefs(page);
    // The two failed mini-batches' folders: an attempt that succeeded without a word leaves no log.
    expect(folderLinks.length).toBe(2);
    for (const link of folderLinks) {
      await page.goto(link);
      for (const file of await hrefs(page)) expect((await fetch(file)).status).toBe(200);
    }

    const missing = await fetch(`${product.url}/api/jobs/${id}/files/logs/no-such-log`);
    expect(missing.status).toBe(404);
    const escape = await fetch(`${product.url}/api/jobs/${id}/files/logs/user_logs/../../other`);
    expect(escape.status).toBe(404);
    await page.close();
  });

  it("shows times in the reader's time zone with how long ago, and in UTC without JavaScript", async () => {
    await uploadInputs('times', ['ok0']);
    const { id, view_url } = await product.client.submit(jobSpec('times', 'fixable.js', ''));
    const view = await product.client.wait(id, { intervalMs: 100 });
    const created = new Date(view.created_time);

    // India is 5:30 ahead of UTC all year: its hour and minute are never UTC's.
    const india = await browser.newContext({ timezoneId: 'Asia/Kolkata', locale: 'en-GB' });
    const page = await india.newPage();
    await page.goto(view_url);
    const localTime = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Asia/Kolkata',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(created);
    expect(await page.getAttribute('#created time', 'datetime')).toBe(view.created_time);
    const shown = await text(page, '#created');
    expect(shown).toContain(localTime);
    expect(shown).toMatch(/\((now|\d+ (seconds?|minutes?) ago)\)$/);
    expect(shown).not.toContain('UTC');
    const localYear = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', year: 'numeric' });
    expect(await page.getAttribute('#created time', 'title')).toContain(localYear.format(created));
    expect(await text(page, '#finished')).toMatch(/\((now|\d+ (seconds?|minutes?) ago)\)$/);

    // The jobs page says how long ago each job started.
    await page.goto(`${product.url}/api/dashboard`);
    const started = page.locator(`tr[data-job="${id}"] time`);
    expect(await started.getAttribute('datetime')).toBe(view.created_time);
    expect(await started.textContent()).toMatch(/^(now|\d+ (seconds?|minutes?) ago)$/);
    await india.close();

    const withoutScript = await browser.newContext({ javaScriptEnabled: false });
    const plain = await withoutScript.newPage();
    await plain.goto(view_url);
    expect(await text(plain, '#created')).toBe(
      `${view.created_time.slice(0, 10)} ${view.created_time.slice(11, 19)} UTC`,
    );
    await withoutScript.close();
  });

  it('updates itself while the job runs, without a reload, and shows the outputs once it ends', async () => {
    await uploadInputs(
      'running',
      Array.from({ length: 8 }, (_, i) => `r${i}`),
    );
    const { id, view_url } = await product.client.submit(jobSpec('running', 'slow.js', '--sleep_ms 500', 1));
    const page = await browser.newPage();
    await page.goto(view_url);
    expect(['Starting', 'Preparing', 'Queued', 'Running']).toContain(await text(page, '#status'));
    expect(await page.locator('#outputs').count()).toBe(0);
    const first = Number(await text(page, '#succeeded'));
    expect(first).toBeLessThan(8);
    // Survives only as long as the page is not reloaded.
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await page.waitForFunction(
      (before) => Number(document.getElementById('succeeded')?.textContent) > before,
      first,
      { timeout: 15_000 },
    );
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );
    expect(Number(await text(page, '#progress-text').then((t) => t.split(' ')[0]))).toBeGreaterThan(0);

    await page.locator('#status.Completed').waitFor({ timeout: 20_000 });
    expect(await text(page, '#succeeded')).toBe('8');
    expect(await page.locator('#outputs a').allTextContents()).toEqual(['rows']);
    expect((await product.client.get(id)).status).toBe('Completed');
    await page.close();
  });

  it('cancels a running job with its button, and re-runs what failed with the other', async () => {
    await uploadInputs(
      'buttons',
      Array.from({ length: 12 }, (_, i) => `b${i}`),
    );
    const { id, view_url } = await product.client.submit(jobSpec('buttons', 'slow.js', '--sleep_ms 400', 1));
    const page = await browser.newPage();
    await page.goto(view_url);
    await page.waitForFunction(
      () => Number(document.getElementById('succeeded')?.textContent) > 0,
      undefined,
      {
        timeout: 15_000,
      },
    );
    await page.click('button[data-action="cancel"]');
    await page.locator('#status.Canceled').waitFor({ timeout: 20_000 });
    const canceled = await product.client.get(id);
    expect(canceled.status).toBe('Canceled');
    expect(canceled.counters.succeeded).toBeLessThan(12);
    await page.screenshot({
      path: path.join(path.dirname(screenshot), 'status-page-canceled.png'),
      fullPage: true,
    });

    // A canceled job offers a re-run: it runs the mini-batches that never ran and opens the new job's page.
    await page.click('button[data-action="rerun"]');
    await page.waitForURL((url) => !url.pathname.includes(`/${id}/`), { timeout: 15_000 });
    await page.locator('#status.Completed').waitFor({ timeout: 30_000 });
    expect(await page.locator('a', { hasText: id }).count()).toBe(1);
    expect(Number(await text(page, '#succeeded'))).toBe(12 - canceled.counters.succeeded);
    await page.close();
  });

  it('shows each mini-batch on the grid and bar through a retry, a partial and a final failure, cancel and re-run', async () => {
    // Serial, paced mini-batches: f-001 throws while a list file names it (then its retry succeeds),
    // f-002 ends partial (one named item failure: not retried), f-003 throws on every attempt.
    const files = await uploadInputs(
      'grid',
      Array.from({ length: 12 }, (_, i) => `g${i}`),
    );
    const throwList = path.join(mkdtempSync(path.join(os.tmpdir(), 'grid-')), 'throw.txt');
    writeFileSync(throwList, files[1]!);
    const args =
      `--each_ms 1200 --sleep_items ${files[1]} --sleep_ms 1500 --throw_list ${throwList} ` +
      `--fail_items ${files[2]} --throw_items ${files[3]}`;
    const { id, view_url } = await product.client.submit({
      ...jobSpec('grid', 'scripted.js', args, 1),
      retry_settings: { max_retries: 3, timeout: 30 },
    });
    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    await page.goto(view_url);

    // f-001's first attempt failed and a retry is due: the person sees it retrying, not failed.
    await page.locator('#grid > span[data-first="1"][data-state="retrying"]').waitFor({ timeout: 20_000 });
    expect(await text(page, '#count-retrying')).toBe('1');
    expect(await page.locator('#progress-retrying').count()).toBe(1);
    expect(await page.locator('#progress-pending').count()).toBe(1);
    expect(Number(await text(page, '#count-pending'))).toBeGreaterThan(0);
    expect(await page.getAttribute('#grid', 'role')).toBe('img');
    expect(await text(page, '#grid-summary')).toMatch(/^12 mini-batches: .*1 retrying/);
    await page.screenshot({ path: path.join(path.dirname(screenshot), 'status-page-retrying.png') });
    rmSync(throwList);

    // Its next attempt succeeds; f-002 ends partly failed; f-003 fails once its retries are used up.
    await page.locator('#grid > span[data-first="3"][data-state="failed"]').waitFor({ timeout: 30_000 });
    expect((await gridStates(page)).slice(0, 4)).toEqual(['succeeded', 'succeeded', 'partial', 'failed']);
    const groups = page.locator('#failures > li');
    expect(
      await groups.evaluateAll((items) =>
        items.map((li) => [li.getAttribute('data-code'), li.getAttribute('data-count')]),
      ),
    ).toEqual([
      ['TASK_PARTIAL_RESULT', '1'],
      ['TASK_RUN_FAILED', '1'],
    ]);
    expect(await text(page, '#failures li[data-code="TASK_PARTIAL_RESULT"] .examples > li')).toContain(
      'mini-batch 2, attempt 1 (partly failed)',
    );
    expect(await text(page, '#failures li[data-code="TASK_RUN_FAILED"] .examples > li')).toContain(
      'mini-batch 3, attempt 4',
    );

    // Cancel: what never started is shown canceled, on the grid, the bar and the legend.
    await page.click('button[data-action="cancel"]');
    await page.locator('#status.Canceled').waitFor({ timeout: 30_000 });
    const canceled = await product.client.get(id);
    const states = await gridStates(page);
    expect(states.slice(0, 4)).toEqual(['succeeded', 'succeeded', 'partial', 'failed']);
    expect(states).not.toContain('pending');
    expect(states).not.toContain('retrying');
    const neverRan = states.filter((state) => state === 'canceled').length;
    expect(neverRan).toBeGreaterThan(0);
    expect(neverRan).toBe(12 - canceled.counters.succeeded - canceled.counters.failed);
    expect(await text(page, '#count-canceled')).toBe(String(neverRan));
    expect(await text(page, '#count-succeeded')).toBe(String(canceled.counters.succeeded));
    expect(await page.locator('#progress-canceled').count()).toBe(1);
    // Now that the job has ended, every example links its attempt log, through a signed link.
    const logLinks = await page
      .locator('#failures a', { hasText: 'attempt log' })
      .evaluateAll((links) => links.map((link) => (link as HTMLAnchorElement).href));
    expect(logLinks).toHaveLength(2);
    for (const link of logLinks) {
      expect(link).toContain('/api/download/');
      expect((await fetch(link)).status).toBe(200);
    }
    expect(await (await fetch(logLinks[1]!)).text()).toContain('holds a file chosen to fail');
    await page.screenshot({
      path: path.join(path.dirname(screenshot), 'status-page-grid.png'),
      fullPage: true,
    });

    // The grid's data is the JSON route's: the same states and counts.
    const answer = await fetch(`${product.url}/api/jobs/${id}/mini-batches`);
    expect(answer.status).toBe(200);
    expect(miniBatchReportSchema.parse(await answer.json())).toEqual(await product.client.miniBatches(id));
    const report = await product.client.miniBatches(id);
    expect(report.band_size).toBe(1);
    expect(report.bands.map((band) => band.state)).toEqual(states);
    expect(report.counts.canceled).toBe(neverRan);
    expect(report.failures).toMatchObject({ total: 2 });
    const unknown = await fetch(`${product.url}/api/jobs/no-such-job/mini-batches`);
    expect(unknown.status).toBe(404);

    // The re-run runs the failed and never-run mini-batches; the ones done before are shown as such.
    await page.click('button[data-action="rerun"]');
    await page.waitForURL((url) => !url.pathname.includes(`/${id}/`), { timeout: 15_000 });
    await page.locator('#status.Completed').waitFor({ timeout: 60_000 });
    const rerun = await gridStates(page);
    expect(rerun.slice(0, 4)).toEqual(['earlier', 'earlier', 'partial', 'failed']);
    expect(rerun.slice(4).every((state) => state === 'earlier' || state === 'succeeded')).toBe(true);
    expect(await text(page, '#count-earlier')).toBe(String(canceled.counters.succeeded));
    expect(await page.locator('#progress-earlier').count()).toBe(0);
    await page.close();
  }, 120_000);

  it('links the bad-records log of an attempt whose table records did not parse', async () => {
    const lines = Array.from({ length: 40 }, (_, i) =>
      i === 7 ? '{"id": "r7", broken' : JSON.stringify({ id: `r${i}` }),
    );
    await product.store.write('inputs', 'page-bad/events.jsonl', `${lines.join('\n')}\n`);
    const { id, view_url } = await product.client.submit({
      ...jobSpec('page-bad', 'flaky.js', '--fail_rate 0'),
      inputs: { data: { type: 'mltable', path: 'inputs/page-bad', mode: 'direct' } },
      mini_batch_size: '1kb',
    });
    expect((await product.client.wait(id, { intervalMs: 100 })).status).toBe('Completed');
    const page = await browser.newPage();
    await page.goto(view_url);
    expect(await page.locator('#grid > span[data-state="partial"]').count()).toBe(1);
    const links = await page
      .locator('#bad-records a')
      .evaluateAll((all) => all.map((link) => (link as HTMLAnchorElement).href));
    expect(links).toHaveLength(1);
    expect(links[0]).toContain('/api/download/');
    expect(links[0]).not.toContain('code=');
    const log = await (await fetch(links[0]!)).text();
    expect(log).toContain('"line":8');
    expect(log).toContain('broken');
    // The failure example links the same log.
    expect(await page.locator('#failures a', { hasText: 'bad records' }).count()).toBe(1);
    await page.close();
  });

  it('draws a 100,000-mini-batch job as 2,000 bands, each titled with its counts', async () => {
    // The renderer and a real browser on a tally of a large running job (running one would take minutes).
    const total = 100_000;
    const tally = new MiniBatchTally({ jobId: 'large', total, maxRetries: 1, finished: false });
    for (let index = 0; index < 70_000; index += 1) {
      const failed = index % 9_973 === 17;
      const status = failed ? 'failed' : index % 4_999 === 3 ? 'partial' : 'succeeded';
      tally.add({
        index,
        attempt: failed && index > 60_000 ? 1 : failed ? 2 : 1,
        status,
        items: 10,
        succeeded: status === 'succeeded' ? 10 : status === 'partial' ? 9 : 0,
        failed: status === 'succeeded' ? 0 : status === 'partial' ? 1 : 10,
        rows: 0,
        retryable: true,
        durationMs: 1,
        ...(failed ? { code: 'TASK_TIMEOUT' } : {}),
      });
    }
    tally.finish();
    const view: JobView = {
      id: 'large',
      name: 'large',
      display_name: 'A large job',
      status: 'Running',
      runtime_status: 'Running',
      counters: { ...emptyCounters(total), scheduled: 70_000 },
      reasons: [],
      first_errors: [],
      created_time: new Date(Date.now() - 600_000).toISOString(),
      last_updated_time: new Date().toISOString(),
      outputs: {},
      log_files: {},
    };
    const report = tallyReport(tally, view);
    const { succeeded, partial, failed } = report.counts;
    view.counters = { ...view.counters, succeeded, partial, failed: partial + failed, retried: 7 };
    const html = renderStatusPage(view, { miniBatches: report });
    expect(html.length).toBeLessThan(400_000);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.setContent(html);
    expect(await page.locator('#grid > span').count()).toBe(2000);
    expect(await page.getAttribute('#grid', 'data-band-size')).toBe('50');
    expect(await text(page, '#grid-note')).toContain('Each cell is 50 consecutive mini-batches');
    // The band holding mini-batch 60,000 + (a failure due for a retry) shows retrying.
    const retrying = page.locator('#grid > span[data-state="retrying"]').first();
    expect(await retrying.getAttribute('title')).toMatch(/^mini-batches \d+-\d+: \d+ succeeded, 1 retrying$/);
    expect(await text(page, '#count-pending')).toBe('30000');
    await page.screenshot({
      path: path.join(path.dirname(screenshot), 'status-page-bands.png'),
      fullPage: true,
    });
    await page.close();
  });

  it('lists jobs newest first, filters them by status, and updates a running one in place', async () => {
    // A job that fails (its only mini-batch breaches mini_batch_error_threshold 0), then a slow one.
    await uploadInputs('list-failed', ['bad']);
    const failed = await product.client.submit({
      ...jobSpec('list-failed', 'fixable.js', ''),
      mini_batch_error_threshold: 0,
    });
    expect((await product.client.wait(failed.id, { intervalMs: 100 })).status).toBe('Failed');
    await uploadInputs(
      'list-slow',
      Array.from({ length: 6 }, (_, i) => `s${i}`),
    );
    const running = await product.client.submit(jobSpec('list-slow', 'slow.js', '--sleep_ms 400', 1));
    const page = await browser.newPage();
    await page.goto(`${product.url}/api/dashboard`);
    const rows = page.locator('#jobs tbody tr');
    expect(await rows.count()).toBeGreaterThanOrEqual(2);
    // Newest first: the job just submitted heads the list.
    expect(await rows.first().getAttribute('data-job')).toBe(running.id);
    expect(await page.locator(`tr[data-job="${running.id}"] .status`).textContent()).not.toBe('Completed');
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await page.locator(`tr[data-job="${running.id}"] .status.Completed`).waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );
    await page.screenshot({ path: path.join(path.dirname(screenshot), 'jobs-page.png'), fullPage: true });

    // The filter shows only jobs of that status; each row links to its job page.
    await page.click('nav a:text-is("Failed")');
    await page.waitForURL(/status=Failed/);
    const statuses = await page.locator('#jobs tbody .status').allTextContents();
    expect(statuses.filter((status) => status !== 'Failed')).toEqual([]);
    expect(await page.locator(`tr[data-job="${failed.id}"]`).count()).toBe(1);
    expect(await page.locator(`tr[data-job="${running.id}"]`).count()).toBe(0);
    await page.click('nav a:text-is("Completed")');
    await page.waitForURL(/status=Completed/);
    expect(await page.locator(`tr[data-job="${running.id}"]`).count()).toBe(1);
    expect(await page.locator(`tr[data-job="${failed.id}"]`).count()).toBe(0);
    await page.click(`tr[data-job="${running.id}"] a`);
    await page.waitForURL(new RegExp(`/api/jobs/${running.id}/view$`));
    expect(await text(page, '#status')).toBe('Completed');
    await page.close();
  });
});
