import { emptyCounters } from '../../../src/orchestration/progress';
import type { JobView } from '../../../src/submit/status';
import { renderFolderPage, renderStatusPage } from '../../../src/submit/statusPage';

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
    expect(html).toContain("headers: key ? { 'x-functions-key': key } : {}");
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
    expect(renderStatusPage(jobView({ status: 'Running' }))).toContain('<script>');
    const html = renderStatusPage(jobView());
    expect(html).not.toContain('<script');
    expect(html).toContain('boom &lt;b&gt;');
    expect(html).toContain('<pre>at line 1</pre>');
    expect(html).toContain('4 of 4 mini-batches done (100%)');
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
