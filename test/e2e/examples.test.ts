import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');

/** Each example runs green through the CLI on the embedded host, as the README says. */
describe('examples through `parallel-job run`', () => {
  const reviewFiles = Array.from({ length: 60 }, (_, i) => `review-${String(i).padStart(4, '0')}.txt`);
  // [example, output, rows, what the first column of the rows must be (in order), when known]
  const cases: Array<[string, string, number, string[] | undefined]> = [
    ['score-files', 'scores', 60, reviewFiles],
    ['tabular-csv', 'flagged', 1979, undefined],
    ['partitioned-sales', 'totals', 360, undefined],
    // Order ids run across the Hive folders in listing order (asia, eu, us), row groups in file order.
    ['parquet-sales', 'revenue', 3000, Array.from({ length: 3000 }, (_, i) => String(i + 1))],
    [
      'aml-score-py',
      'predictions',
      40,
      Array.from({ length: 40 }, (_, i) => `review-${String(i).padStart(4, '0')}.txt: `),
    ],
  ];
  it.each(cases)(
    '%s completes with its output rows in order',
    async (example, output, rows, firstColumn) => {
      const out = mkdtempSync(path.join(os.tmpdir(), `example-${example}-`));
      const state = mkdtempSync(path.join(os.tmpdir(), `example-${example}-state-`));
      const { stdout } = await run(
        process.execPath,
        [
          path.join(root, 'bin', 'parallel-job.js'),
          'run',
          `examples/${example}/job.yml`,
          '--out',
          out,
          '--data-dir',
          state,
        ],
        {
          cwd: root,
          timeout: 120_000,
        },
      );
      expect(stdout).toMatch(/: Completed/);
      const folder = path.join(out, 'outputs', output);
      const [file] = readdirSync(folder);
      const lines = readFileSync(path.join(folder, file!), 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(rows);
      const result = JSON.parse(readFileSync(path.join(out, 'logs', 'job_result.json'), 'utf8'));
      expect(result.status).toBe('Completed');
      expect(result.counters.rows).toBe(rows);
      const keys = lines.map((l) => (example === 'aml-score-py' ? /^\S+: /.exec(l)![0] : l.split(',')[0]));
      expect(keys.slice(0, firstColumn?.length ?? 0)).toEqual(firstColumn ?? []);
      rmSync(state, { recursive: true, force: true });
    },
    180_000,
  );

  it('aml-score-py writes one explanation per review into its output folder', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'example-aml-score-py-files-'));
    const state = mkdtempSync(path.join(os.tmpdir(), 'example-aml-score-py-files-state-'));
    await run(
      process.execPath,
      [
        path.join(root, 'bin', 'parallel-job.js'),
        'run',
        'examples/aml-score-py/job.yml',
        '--out',
        out,
        '--data-dir',
        state,
      ],
      { cwd: root, timeout: 120_000 },
    );
    const explanations = readdirSync(path.join(out, 'outputs', 'explanations')).sort();
    expect(explanations).toEqual(reviewFiles.slice(0, 40).map((name) => `${name}.json`));
    const first = JSON.parse(
      readFileSync(path.join(out, 'outputs', 'explanations', explanations[0]!), 'utf8'),
    );
    expect(first).toMatchObject({
      review: 'review-0000.txt',
      label: expect.stringMatching(/^(positive|negative)$/),
    });
    const manifest = JSON.parse(readFileSync(path.join(out, 'logs', 'manifest.json'), 'utf8'));
    expect(manifest.miniBatches[0].files).toEqual({
      explanations: reviewFiles.slice(0, 5).map((name) => `${name}.json`),
    });
    rmSync(state, { recursive: true, force: true });
  }, 180_000);
});
