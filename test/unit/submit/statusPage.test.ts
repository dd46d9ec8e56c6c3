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

  it('carries the function key it was opened with on every link and on the polling URL', () => {
    const running = jobView({
      status: 'Running',
      outputs: {},
      log_files: {},
      first_errors: [],
      rerun_of: 'job-0',
    });
    const html = renderStatusPage(running, { key: 'k&y=1' });
    expect(hrefs(html)).toEqual(['../job-0/view?code=k%26y%3D1']);
    expect(html).toContain('"../job-1?code=k%26y%3D1"');
    const finished = renderStatusPage(jobView(), { key: 'abc' });
    expect(hrefs(finished).every((href) => href.endsWith('?code=abc'))).toBe(true);
  });

  it('polls only while the job runs and escapes what the task wrote', () => {
    expect(renderStatusPage(jobView({ status: 'Running' }))).toContain('<script>');
    const html = renderStatusPage(jobView());
    expect(html).not.toContain('<script>');
    expect(html).toContain('boom &lt;b&gt;');
    expect(html).toContain('<pre>at line 1</pre>');
    expect(html).toContain('4 of 4 mini-batches done (100%)');
  });
});

describe('renderFolderPage', () => {
  it('links each child below the folder path, encoded, with the key', () => {
    const html = renderFolderPage({
      title: 'score: logs/user_logs',
      folderPath: '/api/jobs/job-1/files/logs/user_logs',
      children: [{ name: 'mini_batch_000000000/' }, { name: 'a b#.txt', size: 3 }],
      truncated: false,
      key: 'abc',
    });
    expect(hrefs(html)).toEqual([
      '/api/jobs/job-1/files/logs/user_logs/mini_batch_000000000/?code=abc',
      '/api/jobs/job-1/files/logs/user_logs/a%20b%23.txt?code=abc',
    ]);
  });
});
