import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');

/** Each example runs green through the CLI on the embedded host, as the README says. */
describe('examples through `parallel-job run`', () => {
  const cases: Array<[string, string, number]> = [
    ['score-files', 'scores', 60],
    ['tabular-csv', 'flagged', 1979],
    ['partitioned-sales', 'totals', 360],
  ];
  it.each(cases)(
    '%s completes with its output rows in order',
    async (example, output, rows) => {
      const out = mkdtempSync(path.join(os.tmpdir(), `example-${example}-`));
      const { stdout } = await run(
        process.execPath,
        [path.join(root, 'bin', 'parallel-job.js'), 'run', `examples/${example}/job.yml`, '--out', out],
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
      if (example === 'score-files') {
        expect(lines.map((l) => l.split(',')[0])).toEqual(
          Array.from({ length: 60 }, (_, i) => `review-${String(i).padStart(4, '0')}.txt`),
        );
      }
    },
    180_000,
  );
});
