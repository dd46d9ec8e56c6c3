import { emptyCounters } from '../../../../src/orchestration/counters';
import type { JobView } from '../../../../src/api/wire';
import { renderFolderPage } from '../../../../src/api/pages/folderPage';
import { renderStatusPage } from '../../../../src/api/pages/statusPage';

function jobView(fields: Partial<JobView> = {}): JobView {
  return {
    id: 'job-1',
    name: 'score',
    status: 'Completed',
    runtime_status: 'Completed',
    counters: { ...emptyCounters(), miniBatches: 4, scheduled: 4, succeeded: 3, failed: 1, itemsFailed: 2 },
    reasons: [],
    first_errors: [{ index: 2, attempt: 3, code: 'TASK_RUN_FAILED', message: 'boom <b>\nat line 1' }],
    created_time: '2026-11-24T10:00:00.000Z',
    last_updated_time: '2026-11-24T10:01:00.000Z',
    outputs: { scores: 'http://127.0.0.1/acct/outputs/job-1/scores/parallel_run_step.txt' },
    log_files: {
      job_result: 'http://127.0.0.1/acct/logs/job-1/job_result.json',
      failed_items: 'http://127.0.0.1/acct/logs/job-1/failed_items.jsonl',
      user_logs: 'http://127.0.0.1/acct/logs/job-1/user/',
    },
    ...fields,
  };
}

const hrefs = (html: string): string[] => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);

describe('renderStatusPage', () => {
  it('links outputs, logs and attempt logs through the job-file route, relative to the page', () => {
    const html = renderStatusPage(jobView());
    expect(hrefs(html)).toEqual([
      'files/logs/user_logs/mini_batch_000000002/attempt_003.log.txt',
      'files/logs/failed_items',
      'files/outputs/scores',
      'files/logs/job_result',
      'files/logs/failed_items',
      'files/logs/user_logs',
    ]);
    expect(html).not.toContain('127.0.0.1');
  });

  it('writes no key into the HTML or any link: the script reads it from the page address for polling only', () => {
    const running = jobView({
      status: 'Running',
      outputs: {},
      log_files: {},
      first_errors: [],
      rerun_of: 'job-0',
    });
    const html = renderStatusPage(running, {
      nonce: 'n0nce',
      fileHref: (kind, name, rest) => `/api/download/${kind}.${name}.${rest ?? ''}`,
    });
    expect(hrefs(html)).toEqual(['../job-0/view']);
    expect(html).not.toContain('code=');
    expect(html).toContain('<script nonce="n0nce">');
    expect(html).toContain("new URLSearchParams(location.search).get('code')");
    expect(html).toContain("const headers = key ? { 'x-functions-key': key } : {};");
    expect(html).toContain('"../job-1"');
    expect(html).not.toMatch(/searchParams\.set\(|\.href\s*=/);
  });

  it('links files through the link builder it is given', () => {
    const html = renderStatusPage(jobView(), {
      fileHref: (kind, name, rest) => `/api/download/${kind}.${name}.${rest ?? ''}`,
    });
    expect(hrefs(html)).toEqual([
      '/api/download/logs.user_logs.mini_batch_000000002/attempt_003.log.txt',
      '/api/download/logs.failed_items.',
      '/api/download/outputs.scores.',
      '/api/download/logs.job_result.',
      '/api/download/logs.failed_items.',
      '/api/download/logs.user_logs.',
    ]);
  });

  it('polls only while the job runs and escapes what the task wrote', () => {
    const running = renderStatusPage(jobView({ status: 'Running' }));
    expect(running).toContain('<main id="live" data-finished="false">');
    expect(running).toContain('<meta http-equiv="refresh" content="3">');
    const html = renderStatusPage(jobView());
    // The script stays for the re-run button; it does not poll a finished page.
    expect(html).toContain('<main id="live" data-finished="true">');
    expect(html).not.toContain('http-equiv="refresh"');
    expect(html).toContain('boom &lt;b&gt;');
    expect(html).toContain('<pre>at line 1</pre>');
    expect(html).toContain('4 of 4 mini-batches done (100%)');
  });

  it('shows how far planning got while the job is Preparing', () => {
    const preparing = { status: 'Preparing' as const, runtime_status: 'Running', counters: emptyCounters() };
    expect(renderStatusPage(jobView(preparing))).toContain('Planning the mini-batches...');
    const planning = { listed: 120_000, mini_batches: 12_000, pages: 12, updated_at: '', done: false };
    expect(renderStatusPage(jobView({ ...preparing, planning }))).toContain(
      'Planning the mini-batches: listed 120,000 inputs, 12,000 mini-batches so far.',
    );
  });
});

describe('what the page shows', () => {
  const at = Date.parse('2026-11-24T10:02:00.000Z');

  it('tells succeeded, partly failed and failed mini-batches apart in the bar and the legend', () => {
    const html = renderStatusPage(
      jobView({
        status: 'Completed',
        counters: { ...emptyCounters(), miniBatches: 8, succeeded: 2, failed: 6, partial: 5, itemsFailed: 9 },
      }),
    );
    expect(html).toContain('<div id="progress-ok" class="ok" style="width:25%" title="succeeded 2"></div>');
    expect(html).toContain(
      '<div id="progress-partial" class="partial" style="width:62.5%" title="partly failed 5"></div>',
    );
    expect(html).toContain('<div id="progress-bad" class="bad" style="width:12.5%" title="failed 1"></div>');
    expect(html).toContain(
      '<li data-state="partial"><span class="key partial" aria-hidden="true"></span>partly failed <span id="count-partial">5</span></li>',
    );
    // Without the mini-batch report there is no grid.
    expect(html).not.toContain('id="grid"');
  });

  it('groups failures alike, in mini-batch order, each with an attempt log', () => {
    const same = (index: number) => ({
      index,
      attempt: 1,
      code: 'TASK_PARTIAL_RESULT',
      message: '3 of 10 items failed',
    });
    const html = renderStatusPage(
      jobView({
        first_errors: [
          same(4),
          same(0),
          { index: 2, attempt: 2, code: 'TASK_TIMEOUT', message: 'too slow' },
          same(7),
        ],
      }),
    );
    const items = [...html.matchAll(/<li data-mini-batch="(\d+)" data-code="([A-Z_]+)">([^<]*)/g)].map(
      (m) => [m[1], m[2], m[3]],
    );
    expect(items).toEqual([
      ['0', 'TASK_PARTIAL_RESULT', '3 mini-batches (0, 4, 7): '],
      ['2', 'TASK_TIMEOUT', 'mini-batch 2, attempt 2: '],
    ]);
  });

  it('shows throughput, and for a running job when it will end at that pace', () => {
    const running = renderStatusPage(
      jobView({
        status: 'Running',
        created_time: '2026-11-24T10:00:00.000Z',
        counters: { ...emptyCounters(), miniBatches: 40, succeeded: 9, failed: 1 },
      }),
      { now: at },
    );
    expect(running).toContain('<td id="throughput">5.0 mini-batches a minute</td>');
    expect(running).toContain(
      '<td id="eta"><time datetime="2026-11-24T10:08:00.000Z">2026-11-24 10:08:00 UTC</time> at this pace</td>',
    );
    expect(running).toContain('<button type="button" data-action="cancel">Cancel</button>');

    const done = renderStatusPage(jobView({ finished_at: '2026-11-24T10:00:30.000Z' }), { now: at });
    expect(done).toContain('<td id="throughput">8.0 mini-batches a minute</td>');
    expect(done).not.toContain('id="eta"');
    expect(done).toContain('data-action="rerun"');
    expect(
      renderStatusPage(jobView({ counters: { ...emptyCounters(), miniBatches: 1, succeeded: 1 } })),
    ).not.toContain('<button');
  });
});

describe('renderFolderPage', () => {
  it('links each child through the link builder, escaped', () => {
    const html = renderFolderPage({
      title: 'score: logs/user_logs',
      children: [{ name: 'mini_batch_000000000/' }, { name: 'a b#"<.txt', size: 3 }],
      truncated: false,
      childHref: (child) => `/api/download/${encodeURIComponent(child)}`,
    });
    expect(hrefs(html)).toEqual([
      '/api/download/mini_batch_000000000%2F',
      '/api/download/a%20b%23%22%3C.txt',
    ]);
    expect(html).toContain('a b#&quot;&lt;.txt');
  });
});
