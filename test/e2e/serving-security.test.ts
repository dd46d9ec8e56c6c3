/// <reference lib="dom" />
import { launchChromium } from '../support/browser';
import net from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { MAX_SPEC_BYTES } from '../../src/job/limits';
import { resolveInputLocation } from '../../src/storage/inputs';
import { LINK_LIFETIME_MS, signLink } from '../../src/api/links';
import type { JobView } from '../../src/api/wire';
import { startProductHost, type ProductHost } from '../support/productHost';

/**
 * How the app serves what jobs wrote, on the local host with keys set, as a browser and a hostile client
 * see it: files never run as pages, no key in any page or link, signed links that cannot be bent, bodies
 * capped before they are read, and the management routes keyed.
 */

const KEY = 'function-key-for-serving-tests-5d1e';
const MASTER = 'master-key-for-serving-tests-a07c';
const LINK_SECRET = 'link-secret-for-serving-tests-0123456789abcdef';
const HOST_BODY_LIMIT = 1024 * 1024;

let product: ProductHost;
let browser: Browser;

beforeAll(async () => {
  product = await startProductHost({
    pollIntervalMs: 50,
    keys: { function: KEY, master: MASTER },
    settings: {
      PARALLEL_JOB_LINK_SECRET: LINK_SECRET,
      FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: String(HOST_BODY_LIMIT),
    },
  });
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await product?.stop();
});

const withKey = { headers: { 'x-functions-key': KEY } };

async function uploadInputs(prefix: string, texts: string[]): Promise<void> {
  for (const [i, text] of texts.entries())
    await product.store.write('inputs', `${prefix}/f-${String(i).padStart(3, '0')}.txt`, text);
}

function jobSpec(prefix: string, entryScript: string, programArguments = '') {
  return {
    name: `serving-${prefix}`,
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: `inputs/${prefix}` } },
    outputs: { rows: { type: 'uri_folder' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    max_concurrency_per_instance: 1,
    retry_settings: { max_retries: 0, timeout: 30 },
    task: {
      type: 'run_function',
      code: '.',
      entry_script: entryScript,
      program_arguments: programArguments,
      append_row_to: '${{outputs.rows}}',
    },
  };
}

/** A finished job with a failed mini-batch (so it has attempt logs), plus an html and a binary file among its user logs. */
async function finishedJobWithPlantedFiles(prefix: string): Promise<{ view: JobView; viewUrl: string }> {
  await uploadInputs(prefix, ['ok0', 'bad', 'ok2']);
  const { id, view_url } = await product.client.submit(jobSpec(prefix, 'fixable.js'));
  const view = await product.client.wait(id, { intervalMs: 100 });
  expect(view.status).toBe('Completed');
  // What a task could leave next to its logs: a page with script, and bytes that are no text.
  const logs = resolveInputLocation(view.log_files.user_logs!, { accountUrl: product.store.accountUrl });
  const folder = logs.prefix.replace(/\/*$/, '/');
  await product.store.write(logs.container, `${folder}evil.html`, EVIL_HTML, { contentType: 'text/html' });
  await product.store.write(logs.container, `${folder}data.bin`, BINARY, {
    contentType: 'application/octet-stream',
  });
  return { view, viewUrl: view_url };
}

const EVIL_HTML = `<html><body><script>document.title = 'ran'; fetch('/api/jobs?code=' + location.search)</script>hello</body></html>`;
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Every link on the page, as absolute URLs. */
const hrefs = (page: Page): Promise<string[]> =>
  page.$$eval('a[href]', (links) => links.map((link) => (link as HTMLAnchorElement).href));

const linkTo = (page: Page, selector: string, text: string): Promise<string> =>
  page
    .locator(selector, { hasText: text })
    .first()
    .evaluate((a) => (a as HTMLAnchorElement).href);

function expectNoKey(text: string): void {
  expect(text).not.toContain('code=');
  expect(text).not.toContain(KEY);
  expect(text).not.toContain(MASTER);
  expect(text).not.toContain(LINK_SECRET);
}

describe('job files', () => {
  it('serves an html file and a log as text/plain and a binary as a download, with nosniff and a sandbox CSP', async () => {
    const { view } = await finishedJobWithPlantedFiles('planted');
    const files = `${product.url}/api/jobs/${view.id}/files/logs/user_logs`;

    expect((await fetch(`${files}/evil.html`)).status).toBe(401);
    // The mini-batch states behind the job page's grid are keyed like every other API route.
    const states = `${product.url}/api/jobs/${view.id}/mini-batches`;
    expect((await fetch(states)).status).toBe(401);
    const report = await fetch(states, withKey);
    expect(report.status).toBe(200);
    expectNoKey(await report.text());
    const html = await fetch(`${files}/evil.html`, withKey);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(html.headers.get('content-disposition')).toBeNull();
    expect(await html.text()).toBe(EVIL_HTML);

    for (const name of ['job_result', 'failed_items', 'manifest']) {
      const log = await fetch(`${product.url}/api/jobs/${view.id}/files/logs/${name}`, withKey);
      expect({ name, type: log.headers.get('content-type') }).toEqual({
        name,
        type: 'text/plain; charset=utf-8',
      });
      expect(log.headers.get('x-content-type-options')).toBe('nosniff');
    }

    const binary = await fetch(`${files}/data.bin`, withKey);
    expect(binary.headers.get('content-type')).toBe('application/octet-stream');
    expect(binary.headers.get('content-disposition')).toBe(
      `attachment; filename="data.bin"; filename*=UTF-8''data.bin`,
    );
    expect(binary.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(Buffer.from(await binary.arrayBuffer())).toEqual(BINARY);
  });
});

describe('pages opened with ?code=', () => {
  it('carry no key; the status page polls with a header and its links download by a plain click', async () => {
    await uploadInputs('running', ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    const { id, view_url } = await product.client.submit(jobSpec('running', 'slow.js', '--sleep_ms 400'));
    const page = await browser.newPage();
    const documents: string[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() === 'document')
        void response.text().then(
          (text) => documents.push(text),
          () => undefined,
        );
    });
    const opened = await page.goto(`${view_url}?code=${KEY}`);
    expect(opened?.status()).toBe(200);
    const headers = opened!.headers();
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['content-security-policy']).toMatch(
      /^default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-[A-Za-z0-9+/=]+'; connect-src 'self'; /,
    );
    expectNoKey(await opened!.text());
    expect(await page.locator('#status').textContent()).not.toBe('Completed');

    // Updates come from the page's own polling (with the key as a header: without it the API answers 401).
    const first = Number(await page.locator('#succeeded').textContent());
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await page.waitForFunction(
      (before) => Number(document.getElementById('succeeded')?.textContent) > before,
      first,
      { timeout: 15_000 },
    );
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(
      true,
    );
    await page.locator('#status.Completed').waitFor({ timeout: 20_000 });
    expect(await page.locator('#succeeded').textContent()).toBe('6');
    expect(page.url()).toBe(`${view_url}?code=${KEY}`);

    // Links are signed download links: a plain click opens them, with no key anywhere.
    const links = await hrefs(page);
    expect(links.length).toBeGreaterThanOrEqual(5);
    for (const link of links) {
      expect(link).toMatch(new RegExp(`^${product.url}/api/download/[\\w-]+\\.[\\w-]+$`));
      expectNoKey(link);
    }
    await Promise.all([page.waitForURL(/\/api\/download\//), page.locator('#outputs a').first().click()]);
    const rows = (await page.locator('body').innerText()).trim().split('\n');
    expect(rows).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5'].map((t, i) => `f-00${i}.txt,${t}`));
    await page.goBack();

    // A folder: its page carries no key either, and its links open by a click too.
    const logsFolder = await linkTo(page, '#logs a', 'user_logs');
    const folder = await fetch(logsFolder);
    expect(folder.status).toBe(200);
    expect(folder.headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(folder.headers.get('x-content-type-options')).toBe('nosniff');
    expectNoKey(await folder.text());
    await Promise.all([
      page.waitForURL(logsFolder),
      page.locator('#logs a', { hasText: 'user_logs' }).click(),
    ]);
    await Promise.all([
      page.waitForURL(/\/api\/download\//),
      page.locator('#files a', { hasText: 'mini_batch_000000000' }).click(),
    ]);
    await Promise.all([page.waitForURL(/\/api\/download\//), page.locator('#files a').first().click()]);
    expect(await page.evaluate(() => document.contentType)).toBe('text/plain');
    expect(await page.locator('body').innerText()).toContain('mini-batch 0');

    for (const text of documents) expectNoKey(text);
    expect(documents.length).toBeGreaterThanOrEqual(5);
    expect((await product.client.get(id)).status).toBe('Completed');
    await page.close();
  });

  it('opens an html file as text that runs nothing, and a binary as a download', async () => {
    const { viewUrl } = await finishedJobWithPlantedFiles('browser');
    const page = await browser.newPage();
    await page.goto(`${viewUrl}?code=${KEY}`);
    await Promise.all([
      page.waitForURL(/\/api\/download\//),
      page.locator('#logs a', { hasText: 'user_logs' }).click(),
    ]);
    const folderUrl = page.url();
    expectNoKey(await page.content());

    await Promise.all([
      page.waitForURL(/\/api\/download\//),
      page.locator('#files a', { hasText: 'evil.html' }).click(),
    ]);
    expect(await page.evaluate(() => document.contentType)).toBe('text/plain');
    expect(await page.title()).not.toBe('ran');
    expect(await page.locator('body').innerText()).toBe(EVIL_HTML);

    await page.goto(folderUrl);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#files a', { hasText: 'data.bin' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('data.bin');
    await page.close();
  });
});

describe('signed links', () => {
  it('answer 403 when edited, moved to another file, or expired; a fresh one for the same file works', async () => {
    const { view } = await finishedJobWithPlantedFiles('links');
    const page = await browser.newPage();
    await page.goto(`${product.url}/api/jobs/${view.id}/view?code=${KEY}`);
    const jobResult = await linkTo(page, '#logs a', 'job_result');
    const manifest = await linkTo(page, '#logs a', 'manifest');
    await page.close();
    expect((await fetch(jobResult)).status).toBe(200);

    const token = (url: string) => url.split('/').pop()!;
    const [payload, signature] = token(jobResult).split('.') as [string, string];
    const [otherPayload] = token(manifest).split('.') as [string];
    const flipped = `${signature.slice(0, 5)}${signature[5] === 'A' ? 'B' : 'A'}${signature.slice(6)}`;
    const download = (t: string) => fetch(`${product.url}/api/download/${t}`);
    const refused = [
      `${payload}.${flipped}`,
      `${otherPayload}.${signature}`,
      `${payload}.`,
      payload,
      'not-a-token',
    ];
    for (const t of refused) {
      const answer = await download(t);
      expect({ t, status: answer.status }).toEqual({ t, status: 403 });
      const body = (await answer.json()) as { error: { code: string } };
      expect(body.error.code).toBe('LINK_INVALID');
    }

    const target = { jobId: view.id, kind: 'logs' as const, name: 'job_result', path: '' };
    const secret = Buffer.from(LINK_SECRET);
    expect((await download(signLink(secret, target))).status).toBe(200);
    const expired = signLink(secret, target, Date.now() - LINK_LIFETIME_MS - 1000);
    expect((await download(expired)).status).toBe(403);
    expect((await download(signLink(Buffer.from('another-secret-another-secret-0000'), target))).status).toBe(
      403,
    );
    // A link signed for one file reaches nothing else through the path.
    const outside = signLink(secret, { ...target, name: 'user_logs', path: '../../other/' });
    expect((await download(outside)).status).toBe(404);
  });
});

/** One raw HTTP exchange: `send` writes the request; resolves with what came back before the server closed. */
function rawExchange(send: (socket: net.Socket) => void): Promise<string> {
  const url = new URL(product.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
    socket.on('connect', () => send(socket));
  });
}

describe('request bodies', () => {
  it('the host refuses a body over its limit by Content-Length without reading it, and a chunked one once it passes', async () => {
    // Only the headers are sent: the answer comes although the 200 MB announced never arrive.
    const declared = await rawExchange((socket) =>
      socket.write(
        `POST /api/jobs HTTP/1.1\r\nHost: x\r\nx-functions-key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${200 * 1024 * 1024}\r\n\r\n`,
      ),
    );
    expect(declared).toMatch(/^HTTP\/1\.1 413 /);
    expect(declared).toContain('"code":"REQUEST_TOO_LARGE"');
    expect(declared).toContain(String(HOST_BODY_LIMIT));

    let sent = 0;
    const chunked = await rawExchange((socket) => {
      socket.write(
        `POST /api/jobs HTTP/1.1\r\nHost: x\r\nx-functions-key: ${KEY}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const next = (): void => {
        if (socket.destroyed || sent > 4 * HOST_BODY_LIMIT) return;
        sent += chunk.length;
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        // Paced like a real client: the host runs in another process, and an unpaced sender fills the
        // kernel's loopback buffers (several MB) before the host has had the CPU to answer.
        socket.write('\r\n', () => setTimeout(next, 1));
      };
      next();
    });
    expect(chunked).toMatch(/^HTTP\/1\.1 413 /);
    // The host closed the connection instead of reading the whole 4 MB.
    expect(sent).toBeLessThan(4 * HOST_BODY_LIMIT);

    const list = await fetch(`${product.url}/api/jobs`, withKey);
    expect(list.status).toBe(200);
  });

  it('the app refuses a spec over MAX_SPEC_BYTES with 413 REQUEST_TOO_LARGE, by length and while streaming', async () => {
    const big = JSON.stringify({ ...jobSpec('big', 'noop.js'), description: 'x'.repeat(MAX_SPEC_BYTES) });
    expect(Buffer.byteLength(big)).toBeLessThan(HOST_BODY_LIMIT);
    const byLength = await fetch(`${product.url}/api/jobs`, {
      method: 'POST',
      headers: { ...withKey.headers, 'content-type': 'application/json' },
      body: big,
    });
    expect(byLength.status).toBe(413);
    const error = ((await byLength.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('REQUEST_TOO_LARGE');
    expect(error.message).toContain(`at most ${MAX_SPEC_BYTES.toLocaleString('en-US')} bytes`);
    expect(error.message).toContain('storage');

    const streamed = await fetch(`${product.url}/api/plan`, {
      method: 'POST',
      headers: { ...withKey.headers, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe('REQUEST_TOO_LARGE');

    expect((await fetch(`${product.url}/api/jobs?top=1`, withKey)).status).toBe(200);
  });
});

describe('management routes', () => {
  it('/durabletask/ and /admin/ answer 401 without a key; the app still reaches its own Durable API', async () => {
    for (const [method, route] of [
      ['GET', '/durabletask/instances/'],
      ['POST', '/durabletask/orchestrators/ParallelJob/evil'],
      ['GET', '/runtime/webhooks/durabletask/instances/'],
      ['GET', '/admin/host/status'],
      ['POST', '/admin/functions/SubmitFromQueue'],
    ] as const) {
      expect({ route, status: (await fetch(`${product.url}${route}`, { method })).status }).toEqual({
        route,
        status: 401,
      });
      const functionKey = await fetch(`${product.url}${route}`, { method, ...withKey });
      expect({ route, status: functionKey.status }).toEqual({ route, status: 401 });
    }
    expect((await fetch(`${product.url}/admin/host/status?code=${MASTER}`)).status).toBe(200);
    expect(
      (await fetch(`${product.url}/durabletask/instances/`, { headers: { 'x-functions-key': MASTER } }))
        .status,
    ).toBe(200);

    // Submit, status and the run itself all go through the app's Durable client.
    await uploadInputs('own-calls', ['a']);
    const { id } = await product.client.submit(jobSpec('own-calls', 'fixable.js'));
    expect((await product.client.wait(id, { intervalMs: 100 })).status).toBe('Completed');
  });
});
