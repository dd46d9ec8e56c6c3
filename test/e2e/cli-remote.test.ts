import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main';
import { startProductHost, type ProductHost } from '../support/productHost';

/** The CLI's remote commands against the product on the local host, as a user would type them. */
describe('parallel-job CLI against a running app (--endpoint)', () => {
  let product: ProductHost;
  let dir: string;

  beforeAll(async () => {
    product = await startProductHost();
    dir = mkdtempSync(path.join(os.tmpdir(), 'cli-remote-'));
    for (let i = 0; i < 12; i += 1)
      await product.store.write(
        'inputs',
        `cli/doc-${String(i).padStart(2, '0')}.txt`,
        i === 5 ? 'bad' : `text ${i}`,
      );
  });
  afterAll(async () => {
    await product?.stop();
  });

  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['node', 'parallel-job', ...args], {
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      interactive: false,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  function specFile(name: string, entry: string, extra = ''): string {
    const file = path.join(dir, `${name}.yml`);
    writeFileSync(
      file,
      [
        'type: parallel',
        `name: ${name}`,
        'inputs: { docs: { type: uri_folder, path: inputs/cli } }',
        'outputs: { rows: { type: uri_folder } }',
        'input_data: ${{inputs.docs}}',
        "mini_batch_size: '2'",
        `task: { code: ., entry_script: ${entry}, append_row_to: '\${{outputs.rows}}'${extra} }`,
      ].join('\n'),
    );
    return file;
  }

  it('submit --wait, status, list, logs and logs --show', async () => {
    const submitted = await cli(
      'submit',
      specFile('cli-files', 'files.js'),
      '--id',
      'cli-files',
      '--wait',
      '--endpoint',
      product.url,
    );
    expect(submitted.out).toMatch(/^Submitted: cli-files /);
    expect(submitted.out).toMatch(/Job cli-files: Completed/);
    expect(submitted.out).toMatch(/mini-batches: 5 succeeded, 1 failed of 6/);
    expect(submitted.out).toMatch(/items: 11 succeeded, 1 failed; output rows: 11/);
    expect(submitted.code).toBe(0);

    const again = await cli(
      'submit',
      specFile('cli-files', 'files.js'),
      '--id',
      'cli-files',
      '--endpoint',
      product.url,
    );
    expect(again.out).toMatch(/^Already submitted: cli-files /);

    const status = await cli('status', 'cli-files', '--endpoint', product.url);
    expect(status.out).toMatch(/Job cli-files: Completed/);

    const list = await cli('list', '--status', 'Completed', '--endpoint', product.url);
    expect(list.out).toMatch(/^cli-files\s+Completed\s+6\/6/m);

    const logs = await cli('logs', 'cli-files', '--endpoint', product.url);
    expect(logs.out).toMatch(/^job_result\s+http/m);
    const shown = await cli('logs', 'cli-files', '--show', 'job_result', '--endpoint', product.url);
    expect(JSON.parse(shown.out)).toMatchObject({ status: 'Completed', counters: { itemsFailed: 1 } });
    const missing = await cli('logs', 'cli-files', '--show', 'nope', '--endpoint', product.url);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/No log file 'nope'. This job has: .*job_result/);
  });

  it('cancel, then rerun only what did not finish', async () => {
    const submitted = await cli(
      'submit',
      specFile('cli-slow', 'slow.js', ", program_arguments: '--sleep_ms 400'"),
      '--id',
      'cli-slow',
      '--endpoint',
      product.url,
    );
    expect(submitted.code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const canceled = await cli('cancel', 'cli-slow', '--endpoint', product.url);
    expect(canceled.out).toBe('Cancel requested for cli-slow.');
    const view = await product.client.wait('cli-slow', { intervalMs: 100 });
    expect(view.status).toBe('Canceled');
    expect(view.counters.succeeded).toBeLessThan(6);

    const rerun = await cli('rerun', 'cli-slow', '--endpoint', product.url);
    const id = /Re-run started: (\S+)/.exec(rerun.out)?.[1];
    expect(id).toBeDefined();
    const finished = await product.client.wait(id!, { intervalMs: 100 });
    expect(finished.status).toBe('Completed');
    expect(finished.counters.scheduled).toBe(6 - view.counters.succeeded);
  });

  it('list pages newest first: --top, then --continuation from the printed token', async () => {
    const ids = (text: string): string[] =>
      text
        .split('\n')
        .filter((line) => line && !line.startsWith('more: '))
        .map((line) => line.split(/\s+/)[0]!);
    const whole = await cli('list', '--top', '500', '--endpoint', product.url);
    expect(whole.out).not.toMatch(/^more: /m);
    const all = ids(whole.out);
    expect(all.length).toBeGreaterThanOrEqual(3);
    // The two jobs submitted by the tests above, newest first.
    expect(all.indexOf('cli-slow')).toBeLessThan(all.indexOf('cli-files'));

    const seen: string[] = [];
    let args: string[] = [];
    for (let page = 0; page <= all.length; page += 1) {
      const listed = await cli('list', '--top', '2', ...args, '--endpoint', product.url);
      expect(listed.code).toBe(0);
      expect(ids(listed.out).length).toBeLessThanOrEqual(2);
      seen.push(...ids(listed.out));
      const more = /^more: --continuation (\S+)$/m.exec(listed.out)?.[1];
      if (!more) break;
      args = ['--continuation', more];
    }
    expect(seen).toEqual(all);
  });

  it('names what is wrong: an unreachable endpoint, an unknown job, a bad spec with its field path', async () => {
    const unreachable = await cli('status', 'x', '--endpoint', 'http://127.0.0.1:9');
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toMatch(/ENDPOINT_UNREACHABLE: Cannot reach http:\/\/127.0.0.1:9/);
    const unknown = await cli('status', 'no-such-job', '--endpoint', product.url);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no-such-job/);
    const bad = path.join(dir, 'bad.yml');
    writeFileSync(bad, "type: parallel\nmini_batch_size: 'ten'\ntask: { entry_script: files.js }\n");
    const refused = await cli('submit', bad, '--endpoint', product.url);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/mini_batch_size/);
    expect(refused.err).toMatch(/input_data/);
  });

  it('has --help on every command', async () => {
    for (const command of [
      'run',
      'plan',
      'dump',
      'host',
      'submit',
      'status',
      'list',
      'cancel',
      'rerun',
      'logs',
    ]) {
      const written: string[] = [];
      const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        written.push(String(chunk));
        return true;
      });
      try {
        const help = await cli(command, '--help');
        expect(help.code).toBe(0);
      } finally {
        spy.mockRestore();
      }
      expect(written.join('')).toMatch(new RegExp(`^Usage: parallel-job ${command}`, 'm'));
    }
  });
});
