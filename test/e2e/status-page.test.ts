/// <reference lib="dom" />
import { launchChromium } from '../support/browser';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { JobView } from '../../src/submit/status';
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

    const failures = page.locator('#failures > li');
    expect(await failures.count()).toBe(2);
    expect(
      await failures.evaluateAll((items) => items.map((li) => li.getAttribute('data-mini-batch'))),
    ).toEqual(['1', '4']);
    for (const [n, file] of [files[1], files[4]].entries()) {
      const item = failures.nth(n);
      expect(await item.textContent()).toContain(`${file} is bad (not fixed yet)`);
      expect(await item.locator('a', { hasText: 'attempt log' }).count()).toBe(1);
    }

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
    const attemptLog = await failures
      .nth(0)
      .locator('a')
      .evaluate((a) => (a as HTMLAnchorElement).href);
    expect(await (await fetch(attemptLog)).text()).toContain('is bad');

    // A folder link (the user logs) opens a listing whose links resolve too.
    await page.locator('#logs a', { hasText: 'user_logs' }).click();
    const folderLinks = await hrefs(page);
    expect(folderLinks.length).toBe(6);
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
