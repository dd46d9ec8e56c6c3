import fc from 'fast-check';
import type { MiniBatchReceipt } from '../../../src/activities/contracts';
import { MiniBatchReportError } from '../../../src/errors';
import { emptyCounters } from '../../../src/orchestration/counters';
import {
  bandSizeFor,
  bandStates,
  MiniBatchReports,
  MAX_GRID_CELLS,
  MiniBatchTally,
  reportLifetimeMs,
  tallyReport,
  type TallyFacts,
} from '../../../src/api/miniBatches';
import {
  MINI_BATCH_STATES,
  miniBatchReportSchema,
  type JobView,
  type MiniBatchState,
} from '../../../src/api/wire';
import { renderStatusPage } from '../../../src/api/pages/statusPage';
import { receiptOfStatus } from '../../support/jobs';

function receipt(
  index: number,
  attempt: number,
  status: MiniBatchReceipt['status'],
  extra: Partial<MiniBatchReceipt> = {},
): MiniBatchReceipt {
  return receiptOfStatus(index, attempt, status, {
    ...(status === 'failed' ? { code: 'TASK_RUN_FAILED' } : {}),
    ...extra,
  });
}

/** A running job's view; tests set what they are about. */
function jobView(fields: Partial<JobView>): JobView {
  return {
    id: 'job-1',
    name: 'score',
    status: 'Running',
    runtime_status: 'Running',
    counters: emptyCounters(),
    reasons: [],
    first_errors: [],
    created_time: '2026-11-24T10:00:00.000Z',
    last_updated_time: '2026-11-24T10:01:00.000Z',
    outputs: {},
    log_files: {},
    ...fields,
  };
}

function tally(facts: Partial<TallyFacts>, receipts: MiniBatchReceipt[], earlier: number[] = []) {
  const t = new MiniBatchTally({ jobId: 'job-1', total: 8, maxRetries: 2, finished: false, ...facts });
  for (const index of earlier) t.markEarlier(index);
  for (const r of receipts) t.add(r);
  t.finish();
  return t;
}

const statesOf = (t: MiniBatchTally): MiniBatchState[] =>
  [...t.states].map((code) => MINI_BATCH_STATES[code]!);

describe('MiniBatchTally: the state of each mini-batch from its final attempt', () => {
  const receipts = [
    receipt(0, 1, 'succeeded'),
    receipt(1, 1, 'failed'),
    receipt(1, 2, 'succeeded'),
    receipt(2, 1, 'partial', { code: undefined }),
    // Failed, retryable, attempt 2 <= max_retries 2: a retry is due.
    receipt(3, 1, 'failed'),
    receipt(3, 2, 'failed'),
    // Retries used up.
    receipt(4, 1, 'failed'),
    receipt(4, 2, 'failed'),
    receipt(4, 3, 'failed'),
    // Bad data is not retried.
    receipt(5, 1, 'failed', { code: 'TABULAR_PARSE_FAILED', retryable: false }),
  ];

  it('tells succeeded, partly failed, failed, retrying and pending apart while the job runs', () => {
    expect(statesOf(tally({}, receipts))).toEqual([
      'succeeded',
      'succeeded',
      'partial',
      'retrying',
      'failed',
      'failed',
      'pending',
      'pending',
    ]);
  });

  it('retries nothing and calls what never ran canceled once the job has ended', () => {
    expect(statesOf(tally({ finished: true }, receipts))).toEqual([
      'succeeded',
      'succeeded',
      'partial',
      'failed',
      'failed',
      'failed',
      'canceled',
      'canceled',
    ]);
  });

  it("marks what a re-run does not run as done earlier, and this run's attempts win", () => {
    const t = tally({ finished: true }, [receipt(1, 1, 'succeeded'), receipt(3, 1, 'failed')], [0, 2, 4]);
    expect(statesOf(t)).toEqual([
      'earlier',
      'succeeded',
      'earlier',
      'failed',
      'earlier',
      'canceled',
      'canceled',
      'canceled',
    ]);
  });

  it('groups final failures by code over all of them, most frequent first, with 3 examples each', () => {
    const many = Array.from({ length: 6 }, (_, i) =>
      receipt(i, 1, 'failed', { code: i < 5 ? 'TASK_TIMEOUT' : 'TASK_RUN_FAILED', retryable: false }),
    );
    const t = tally({ finished: true, firstErrors: [{ index: 1, attempt: 1, code: 'X', message: 'slow' }] }, [
      ...many,
      receipt(6, 1, 'partial', { code: undefined, message: 'one item failed' }),
    ]);
    expect(t.failureCount).toBe(7);
    expect(t.failureGroups()).toEqual([
      {
        code: 'TASK_TIMEOUT',
        count: 5,
        examples: [
          { index: 0, attempt: 1, status: 'failed', bad_records: false },
          // The listing carries no message: the job's first errors name it.
          { index: 1, attempt: 1, status: 'failed', message: 'slow', bad_records: false },
          { index: 2, attempt: 1, status: 'failed', bad_records: false },
        ],
      },
      {
        code: 'TASK_RUN_FAILED',
        count: 1,
        examples: [{ index: 5, attempt: 1, status: 'failed', bad_records: false }],
      },
      {
        code: 'TASK_PARTIAL_RESULT',
        count: 1,
        examples: [
          { index: 6, attempt: 1, status: 'partial', message: 'one item failed', bad_records: false },
        ],
      },
    ]);
  });

  it('does not count a retrying mini-batch as a failure', () => {
    const t = tally({}, [receipt(0, 1, 'failed')]);
    expect(t.failureCount).toBe(0);
    expect(t.failureGroups()).toEqual([]);
  });

  it('names bad-records candidates only for a tabular job, the first ones only', () => {
    const failures = Array.from({ length: 25 }, (_, i) => receipt(i, 1, 'partial'));
    expect(tally({ total: 25, finished: true }, failures).badRecordCandidates).toEqual([]);
    const t = tally({ total: 25, finished: true, tabular: true }, failures);
    expect(t.badRecordCandidates.map((c) => c.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(t.badRecordCandidatesMore).toBe(true);
  });

  it('refuses attempts out of order or past the plan, with a stable code', () => {
    expect(() => tally({}, [receipt(2, 1, 'failed'), receipt(1, 1, 'succeeded')])).toThrow(
      MiniBatchReportError,
    );
    expect(() => tally({}, [receipt(2, 2, 'failed'), receipt(2, 1, 'failed')])).toThrow(
      expect.objectContaining({ code: 'MINI_BATCH_REPORT_INVALID' }),
    );
    expect(() => tally({}, [receipt(8, 1, 'succeeded')])).toThrow(
      /mini-batch 8 was recorded, but 8 were planned/,
    );
  });
});

describe('bands', () => {
  it('keeps one cell per mini-batch up to MAX_GRID_CELLS, then bands of consecutive ones', () => {
    expect(bandSizeFor(0)).toBe(1);
    expect(bandSizeFor(MAX_GRID_CELLS)).toBe(1);
    expect(bandSizeFor(MAX_GRID_CELLS + 1)).toBe(2);
    expect(bandSizeFor(100_000)).toBe(50);
  });

  it('colours a band by its worst state and counts each state', () => {
    const code = (state: MiniBatchState) => MINI_BATCH_STATES.indexOf(state);
    const states = Uint8Array.from(
      (['succeeded', 'succeeded', 'failed', 'pending', 'retrying', 'earlier', 'partial'] as const).map(code),
    );
    expect(bandStates(states, 3)).toEqual([
      { first: 0, last: 2, state: 'failed', counts: { succeeded: 2, failed: 1 } },
      { first: 3, last: 5, state: 'retrying', counts: { pending: 1, retrying: 1, earlier: 1 } },
      { first: 6, last: 6, state: 'partial', counts: { partial: 1 } },
    ]);
  });

  it('covers every mini-batch exactly once in at most MAX_GRID_CELLS cells (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30_000 }),
        fc.integer({ min: 0, max: MINI_BATCH_STATES.length - 1 }),
        (total, fill) => {
          const states = new Uint8Array(total).fill(fill);
          const bands = bandStates(states, bandSizeFor(total));
          let next = 0;
          for (const band of bands) {
            if (band.first !== next || band.state !== MINI_BATCH_STATES[fill]) return false;
            next = band.last + 1;
          }
          return bands.length <= MAX_GRID_CELLS && next === total;
        },
      ),
      { numRuns: 50 },
    );
  });

  it('reports a 100,000-mini-batch job in 2,000 cells that the schema accepts', () => {
    const t = new MiniBatchTally({ jobId: 'big', total: 100_000, maxRetries: 1, finished: false });
    for (let i = 0; i < 60_000; i += 1) t.add(receipt(i, 1, i === 12_345 ? 'failed' : 'succeeded'));
    t.finish();
    const report = miniBatchReportSchema.parse(tallyReport(t, { id: 'big', status: 'Running' }));
    expect(report.band_size).toBe(50);
    expect(report.bands).toHaveLength(2000);
    expect(report.counts).toMatchObject({ succeeded: 59_999, retrying: 1, pending: 40_000 });
    expect(report.bands[246]).toMatchObject({ first: 12_300, state: 'retrying' });
    expect(report.bands[1200]).toMatchObject({ state: 'pending', counts: { pending: 50 } });
    // Cheaper to re-read for a larger job: kept for longer, within bounds.
    expect(reportLifetimeMs(100)).toBe(1000);
    expect(reportLifetimeMs(100_000)).toBe(30_000);
  });
});

describe('the job page drawn from the report', () => {
  const view = jobView({
    counters: { ...emptyCounters(), miniBatches: 8, scheduled: 5, succeeded: 2, failed: 2, partial: 1 },
  });
  const receipts = [
    receipt(0, 1, 'succeeded'),
    receipt(1, 1, 'succeeded'),
    receipt(2, 1, 'partial', { code: undefined }),
    receipt(3, 1, 'failed'),
    receipt(4, 1, 'failed', { code: 'TASK_TIMEOUT', retryable: false }),
  ];

  it('draws one cell per mini-batch, the bar and legend with retrying and pending, failures by code', () => {
    const report = tallyReport(tally({ tabular: true }, receipts), view, {
      found: [{ index: 2, attempt: 1 }],
      more: false,
    });
    const html = renderStatusPage(view, { miniBatches: report });
    const cells = [
      ...html.matchAll(/<span class="(\w+)" data-state="(\w+)" data-first="(\d+)" title="([^"]*)"/g),
    ];
    expect(cells.map((m) => m[2])).toEqual([
      'succeeded',
      'succeeded',
      'partial',
      'retrying',
      'failed',
      'pending',
      'pending',
      'pending',
    ]);
    expect(cells[3]![4]).toBe('mini-batch 3: retrying');
    expect(html).toContain('role="img" aria-labelledby="grid-title" aria-describedby="grid-summary"');
    expect(html).toContain(
      '<p id="grid-summary" class="muted">8 mini-batches: 2 succeeded, 1 partly failed, 1 failed, 1 retrying, 3 pending.</p>',
    );
    expect(html).toContain(
      '<div id="progress-retrying" class="retrying" style="width:12.5%" title="retrying 1">',
    );
    expect(html).toContain(
      '<div id="progress-pending" class="pending" style="width:37.5%" title="pending 3">',
    );
    expect(html).toContain('aria-valuetext="2 succeeded, 1 partly failed, 1 failed, 1 retrying, 3 pending"');
    const groups = [...html.matchAll(/<li data-code="(\w+)" data-count="(\d+)">/g)].map((m) => [m[1], m[2]]);
    expect(groups).toEqual([
      ['TASK_PARTIAL_RESULT', '1'],
      ['TASK_TIMEOUT', '1'],
    ]);
    // A running job has no log links yet: the bad-records log is named, linked once the job has ended.
    expect(html).toContain('<ul id="bad-records"><li data-mini-batch="2">mini-batch 2, attempt 1 <span');
  });

  it('links attempt logs and bad-records logs through the link builder only', () => {
    const done: JobView = {
      ...view,
      status: 'Completed',
      log_files: { user_logs: 'http://127.0.0.1/acct/logs/job-1/user/' },
    };
    const report = tallyReport(tally({ finished: true, tabular: true }, receipts), done, {
      found: [{ index: 2, attempt: 1 }],
      more: true,
    });
    const html = renderStatusPage(done, {
      miniBatches: report,
      fileHref: (kind, name, rest) => `/api/download/${kind}.${name}.${rest ?? ''}`,
    });
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs).toEqual([
      '/api/download/logs.user_logs.mini_batch_000000002/attempt_001.log.txt',
      '/api/download/logs.user_logs.mini_batch_000000002/attempt_001.bad_records.jsonl',
      '/api/download/logs.user_logs.mini_batch_000000003/attempt_001.log.txt',
      '/api/download/logs.user_logs.mini_batch_000000004/attempt_001.log.txt',
      '/api/download/logs.user_logs.mini_batch_000000002/attempt_001.bad_records.jsonl',
      '/api/download/logs.user_logs.',
    ]);
    expect(html).toContain('canceled (never ran) <span id="count-canceled">3</span>');
    expect(html).toContain('only the first attempts are looked at here');
  });

  it('bands a large job and says what a cell stands for', () => {
    const t = new MiniBatchTally({ jobId: 'big', total: 10_000, maxRetries: 0, finished: true });
    t.add(receipt(7, 1, 'failed'));
    t.finish();
    const html = renderStatusPage(
      { ...view, status: 'Canceled', counters: { ...view.counters, miniBatches: 10_000 } },
      { miniBatches: tallyReport(t, { id: 'big', status: 'Canceled' }) },
    );
    expect(html.match(/<span class="\w+" data-state=/g)).toHaveLength(2000);
    expect(html).toContain('Each cell is 5 consecutive mini-batches');
    expect(html).toContain('title="mini-batches 5-9: 1 failed, 4 canceled (never ran)"');
  });

  it('says the grid is being counted and keeps refreshing, even for a finished job, until it is there', () => {
    const done: JobView = { ...view, status: 'Completed' };
    const html = renderStatusPage(done, { miniBatchesReading: true });
    expect(html).toContain('<main id="live" data-finished="true" data-waiting="true">');
    expect(html).toContain('<p id="grid-reading" class="muted" role="status">Counting the mini-batches');
    expect(html).toContain('<meta http-equiv="refresh" content="3">');
    expect(html).toContain("live().dataset.waiting === 'true'");
    const ready = renderStatusPage(done, {
      miniBatches: tallyReport(tally({ finished: true }, receipts), done),
    });
    expect(ready).toContain('<main id="live" data-finished="true">');
    expect(ready).not.toContain('http-equiv="refresh"');
  });

  it('says why the grid is missing when the report could not be read', () => {
    const html = renderStatusPage(view, { miniBatches: 'the attempts <do not> match' });
    expect(html).toContain(
      '<p id="grid-error" class="muted">The mini-batch grid is not available: the attempts &lt;do not&gt; match</p>',
    );
  });
});

describe('MiniBatchReports', () => {
  const services = { store: {} as never, containers: { logs: 'logs' } };
  const reader = () => {
    const calls: string[] = [];
    const read = (_: unknown, view: { id: string; status: JobView['status'] }) => {
      calls.push(view.status);
      const t = new MiniBatchTally({ jobId: view.id, total: 3, maxRetries: 0, finished: false });
      t.finish();
      return Promise.resolve(tallyReport(t, view));
    };
    return { calls, read };
  };
  const job = (id: string, status: JobView['status']) => ({ id, status, first_errors: [] });

  it("reads a running job's states again only after a while, a finished job's once", async () => {
    const { calls, read } = reader();
    const reports = new MiniBatchReports(services, read);
    await reports.get(job('c-1', 'Running'), 0);
    await reports.get(job('c-1', 'Running'), 500);
    expect(calls).toEqual(['Running']);
    // Stale: both requests are answered at once with what there is, and share one new read.
    const [first, second] = await Promise.all([
      reports.get(job('c-1', 'Running'), 1500),
      reports.get(job('c-1', 'Running'), 1500),
    ]);
    expect(first).toBe(second);
    expect(calls).toEqual(['Running', 'Running']);
    const fresh = await reports.get(job('c-1', 'Running'), 1600);
    expect(fresh).not.toBe(first);
    expect(calls).toEqual(['Running', 'Running']);
    // A new status is a new report, read before answering; once finished it is kept.
    expect((await reports.get(job('c-1', 'Completed'), 1700)).status).toBe('Completed');
    await reports.get(job('c-1', 'Completed'), 10_000_000);
    expect(calls).toEqual(['Running', 'Running', 'Completed']);
  });

  it('does not keep a failed read', async () => {
    const { calls, read } = reader();
    let broken = true;
    const reports = new MiniBatchReports(services, (used, view) => {
      if (!broken) return read(used, view);
      broken = false;
      return Promise.reject(new MiniBatchReportError('c-2', 'broken'));
    });
    await expect(reports.get(job('c-2', 'Failed'), 0)).rejects.toThrow(MiniBatchReportError);
    await reports.get(job('c-2', 'Failed'), 1);
    expect(calls).toEqual(['Failed']);
  });
});

describe('a re-run on the page', () => {
  it('names what the earlier run did in the legend and the grid, and leaves it out of the bar', () => {
    const t = tally(
      { total: 4, finished: true },
      [receipt(2, 1, 'succeeded'), receipt(3, 1, 'failed')],
      [0, 1],
    );
    const view = jobView({
      id: 'job-1.r1',
      status: 'Completed',
      runtime_status: 'Completed',
      counters: { ...emptyCounters(), miniBatches: 2, scheduled: 2, succeeded: 1, failed: 1 },
      rerun_of: 'job-1',
    });
    const html = renderStatusPage(view, { miniBatches: tallyReport(t, view) });
    expect(html).toContain('done by an earlier run <span id="count-earlier">2</span>');
    expect(html).not.toContain('id="progress-earlier"');
    expect(html).toContain('<div id="progress-ok" class="ok" style="width:50%" title="succeeded 1">');
    expect([...html.matchAll(/<span class="\w+" data-state="(\w+)"/g)].map((m) => m[1])).toEqual([
      'earlier',
      'earlier',
      'succeeded',
      'failed',
    ]);
  });
});
