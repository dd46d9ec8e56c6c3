import { formatPlanSummary } from '../../../src/cli/planSummary';
import { previewPlan } from '../../../src/plan/preview';
import type { PlanRequest } from '../../../src/plan/request';
import { uniqueContainer, useAzuriteStore } from '../../support/azurite';

/** The human summary of `parallel-job plan`, over real previews of each input kind. */

const env = useAzuriteStore();

async function preview(files: Record<string, string>, fields: Partial<PlanRequest>, prefix = 'in') {
  const container = uniqueContainer('summary');
  await env.store.ensureContainer(container);
  await Promise.all(Object.entries(files).map(([name, body]) => env.store.write(container, name, body)));
  return previewPlan(env.store, {
    jobId: 'preview',
    input: { accountUrl: env.store.accountUrl, container, prefix },
    inputType: 'uri_folder',
    miniBatchSize: 2,
    miniBatchSizeUnit: 'files',
    logsContainer: 'logs',
    ...fields,
  });
}

describe('parallel-job plan, for people', () => {
  it('files: counts, a histogram that accounts for every mini-batch, the first ones, the cost and the skew', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 9; i += 1) files[`in/f${i}.txt`] = 'x'.repeat(10 * (i + 1));
    files['in/huge.txt'] = 'y'.repeat(20_000);
    const summary = formatPlanSummary(await preview(files, {}), {
      appendRows: true,
      maxRetries: 2,
      concurrency: 2,
    });
    const lines = summary.split('\n');
    expect(lines[0]).toMatch(/^5 mini-batches of files of .*\/in \(10 files\), 20\.\d KiB in all\.$/);
    const bars = lines.filter((line) => /^ {2}<= /.test(line));
    expect(bars.length).toBeGreaterThan(1);
    expect(bars.reduce((sum, line) => sum + Number(line.trim().split(/\s+/).pop()), 0)).toBe(5);
    expect(summary).toContain('Files per mini-batch: min 2, median 2, max 2');
    expect(summary).toMatch(/#0 {2}2 files, 30 B: f0\.txt, f1\.txt/);
    expect(summary).toContain(
      'durable work items: about 1 for short tasks (a group call runs many mini-batches), up to 6 for tasks of 20 s or more (a call per lane-wide wave)',
    );
    expect(summary).toContain(
      'storage operations: about 20 (per mini-batch: its reads, 2 writes including the staged output rows)',
    );
    expect(summary).toContain('up to 2 retries per mini-batch');
    expect(summary).toMatch(
      /\nWarnings:\n {2}- One file holds most of the input \(in\/huge\.txt, 19\.5 KiB of 20\.0 KiB\)/,
    );
  });

  it('tables: byte ranges and the range of each first mini-batch', async () => {
    const csv = `id,v\n${Array.from({ length: 200 }, (_, i) => `${i},${'v'.repeat(20)}`).join('\n')}\n`;
    const summary = formatPlanSummary(
      await preview(
        { 'in/t.csv': csv },
        { inputType: 'mltable', miniBatchSize: 1024, miniBatchSizeUnit: 'bytes' },
      ),
      { appendRows: false, maxRetries: 0, concurrency: 1 },
    );
    expect(summary.split('\n')[0]).toMatch(
      /^5 mini-batches of byte ranges of tables in .*\/in, 4\.\d KiB in all\.$/,
    );
    expect(summary).toContain('#0  t.csv bytes 0-979 (979 B)');
    expect(summary).toContain('#4  t.csv bytes 3,916-4,895 (979 B)');
    expect(summary).toContain('storage operations: about 15 (per mini-batch: its reads, 1 write)');
    expect(summary).not.toContain('Files per mini-batch');
    expect(summary).not.toContain('retries per mini-batch');
  });

  it('partitions: the keys of each mini-batch', async () => {
    const summary = formatPlanSummary(
      await preview(
        { 'in/region=eu/a.txt': 'a', 'in/region=eu/b.txt': 'b', 'in/region=us/c.txt': 'c' },
        { partitionKeys: ['region'] },
      ),
      { appendRows: false, maxRetries: 1, concurrency: 1 },
    );
    expect(summary.split('\n')[0]).toMatch(
      /^2 mini-batches of partitions of .*\/in \(3 files\), 3 B in all\.$/,
    );
    expect(summary).toContain('#0  region=eu: 2 files, 2 B: region=eu/a.txt, region=eu/b.txt');
    expect(summary).toContain('#1  region=us: 1 file, 1 B: region=us/c.txt');
  });

  it('an empty container says so, with no cost', async () => {
    const summary = formatPlanSummary(await preview({}, {}, ''), {
      appendRows: true,
      maxRetries: 2,
      concurrency: 1,
    }).split('\n');
    expect(summary[0]).toMatch(/^0 mini-batches/);
    expect(summary.join('\n')).not.toContain('Estimated cost');
    expect(summary.join('\n')).toContain('  - The input is empty: the job would run no mini-batches.');
  });
});
