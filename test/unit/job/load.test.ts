import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadJobSpec, parseJobText, parseJobValue } from '../../../src/job';
import { issuesFrom, SPEC_FIXTURES } from './helpers';

const FIXTURES = SPEC_FIXTURES;

const VALID_YAML = `input_data: \${{inputs.data}}
inputs:
  data:
    path: inputs/data
task:
  entry_script: score.ts
`;

describe('loadJobSpec', () => {
  it('loads a file and records its folder and source', () => {
    const file = path.join(FIXTURES, 'partitioned.yml');
    const loaded = loadJobSpec(file);
    expect(loaded.baseDir).toBe(FIXTURES);
    expect(loaded.source).toBe(file);
    expect(loaded.spec.name).toBe('per-store-training');
  });

  it('treats text with a newline, or starting with {, as the spec itself', () => {
    expect(loadJobSpec(VALID_YAML).spec.task.entry_script).toBe('score.ts');
    const json = readFileSync(path.join(FIXTURES, 'http-body.json'), 'utf8').replace(/\n/g, ' ');
    expect(loadJobSpec(json).spec.name).toBe('json-submission');
  });

  it('loads the Azure ML docs-style YAML with warnings, not errors', () => {
    const loaded = loadJobSpec(path.join(FIXTURES, 'azureml-docs-style.yml'));
    expect(loaded.warnings).toEqual(
      expect.arrayContaining([
        'Ignored Azure ML settings (no meaning on Azure Functions): $schema, experiment_name, compute, is_deterministic, task.environment, resources.instance_type.',
        expect.stringMatching(
          /--resource_monitor_interva is not a runner flag; did you mean --resource_monitor_interval\?/,
        ),
      ]),
    );
  });

  it('reports a missing file as a validation problem', () => {
    const issues = issuesFrom(() => loadJobSpec('/nonexistent/folder/job.yml'));
    expect(issues).toEqual([
      { path: '', message: expect.stringMatching(/cannot read the spec file .*ENOENT.*check the path/) },
    ]);
  });

  it('reads .json files as JSON', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spec-'));
    const file = path.join(dir, 'job.json');
    writeFileSync(
      file,
      '{"input_data": "${{inputs.d}}", "inputs": {"d": {"path": "a/b"}}, "task": {"entry_script": "x.ts"}',
    );
    expect(issuesFrom(() => loadJobSpec(file))[0]!.message).toMatch(/^JSON: /);
  });
});

describe('YAML and JSON text', () => {
  it('points at the line and column of the field', () => {
    const issues = issuesFrom(() => parseJobText(`${VALID_YAML}retry_settings:\n  timeout: -3\n`));
    expect(issues).toEqual([
      { path: 'retry_settings.timeout', line: 8, column: 3, message: expect.stringMatching(/got -3/) },
    ]);
  });

  it('points at positions in JSON text too', () => {
    const text =
      '{\n  "input_data": "${{inputs.d}}",\n  "inputs": {"d": {"path": "a/b"}},\n  "task": {"entry_script": "x.ts", "code": "/abs"}\n}';
    const issues = issuesFrom(() => parseJobText(text));
    expect(issues).toEqual([expect.objectContaining({ path: 'task.code', line: 4 })]);
  });

  it('reports YAML syntax errors with their position', () => {
    const issues = issuesFrom(() => parseJobText('task: [a\ninput_data: x\n'));
    expect(issues[0]).toEqual(
      expect.objectContaining({
        path: '',
        line: expect.any(Number),
        message: expect.stringMatching(/^YAML: /),
      }),
    );
  });

  it('reports JSON syntax errors with their position', () => {
    const issues = issuesFrom(() => parseJobText('{\n  "a": 1,\n}', { format: 'json' }));
    expect(issues).toEqual([
      expect.objectContaining({ path: '', line: 3, message: expect.stringMatching(/^JSON: /) }),
    ]);
  });

  it('refuses custom tags', () => {
    const issues = issuesFrom(() =>
      parseJobText(`${VALID_YAML}description: !!js/function "function () {}"\n`),
    );
    expect(issues).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/YAML: Unresolved tag/), line: 7 }),
    ]);
  });

  it('refuses duplicate keys', () => {
    const issues = issuesFrom(() => parseJobText(`${VALID_YAML}name: a\nname: b\n`));
    expect(issues[0]!.message).toMatch(/YAML: Map keys must be unique/);
  });

  it('bounds alias expansion', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(i === 1 ? '*a' : `*a${i - 1}`)
          .join(', ')}]`,
      );
    const issues = issuesFrom(() => parseJobText(`${lines.join('\n')}\n`));
    expect(issues[0]!.message).toMatch(/YAML: .*alias/i);
  });

  it('refuses more than one document', () => {
    expect(issuesFrom(() => parseJobText(`${VALID_YAML}---\nname: second\n`))[0]!.message).toMatch(/^YAML: /);
  });

  it('refuses text beyond the size limit', () => {
    expect(issuesFrom(() => parseJobText(`# ${'x'.repeat(1024 * 1024)}\n`))[0]!.message).toMatch(
      /may have at most 262,144/,
    );
  });

  it.each([null, 42, 'just a string', [], true])('refuses a document that is %p', (value) => {
    expect(issuesFrom(() => parseJobValue(value))[0]!.message).toMatch(/a mapping of job fields/);
  });

  it('keeps the source in the error message', () => {
    let message = '';
    try {
      parseJobText('name: x\n', { source: 'jobs/nightly.yml' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^The job spec jobs\/nightly.yml is not valid/);
  });
});
