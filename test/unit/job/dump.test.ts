import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { JobSpecExistsError, JobSpecWriteError } from '../../../src/errors';
import { dumpJob, loadJobSpec, parseJobText } from '../../../src/job';
import { REALISTIC_SPECS, SPEC_FIXTURES } from './helpers';

const freshDir = () => mkdtempSync(path.join(tmpdir(), 'dump-'));

describe('round trip load -> dump -> load', () => {
  it.each(REALISTIC_SPECS)('%s loads back equal', (file) => {
    const first = loadJobSpec(path.join(SPEC_FIXTURES, file));
    const yaml = dumpJob(first.spec);
    expect(parseJobText(yaml).spec).toEqual(first.spec);
  });

  it('writes block-style YAML with no flow collections', () => {
    const yaml = dumpJob(loadJobSpec(path.join(SPEC_FIXTURES, 'file-append-row.yml')).spec);
    expect(yaml).not.toMatch(/[{[]\s*$/m);
    expect(yaml).toMatch(/^retry_settings:\n {2}max_retries: 3\n {2}timeout: 120$/m);
    expect(yaml).toMatch(/^input_data: \$\{\{inputs.images\}\}$/m);
  });

  it('drops the ignored Azure ML keys from the dump', () => {
    const yaml = dumpJob(loadJobSpec(path.join(SPEC_FIXTURES, 'azureml-docs-style.yml')).spec);
    expect(yaml).not.toMatch(/compute|\$schema|experiment_name|instance_type/);
  });
});

describe('dumpJob destinations', () => {
  const spec = loadJobSpec(path.join(SPEC_FIXTURES, 'partitioned.yml')).spec;

  it('creates a new file', () => {
    const file = path.join(freshDir(), 'job.yml');
    const yaml = dumpJob(spec, file);
    expect(readFileSync(file, 'utf8')).toBe(yaml);
  });

  it('refuses an existing file unless asked to overwrite', () => {
    const file = path.join(freshDir(), 'job.yml');
    writeFileSync(file, 'keep me');
    expect(() => dumpJob(spec, file)).toThrow(JobSpecExistsError);
    expect(() => dumpJob(spec, file)).toThrow(/already exists; pass \{ overwrite: true \}/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    dumpJob(spec, file, { overwrite: true });
    expect(parseJobText(readFileSync(file, 'utf8')).spec).toEqual(spec);
  });

  it('gives the SPEC_EXISTS code', () => {
    const file = path.join(freshDir(), 'job.yml');
    writeFileSync(file, '');
    let code = '';
    try {
      dumpJob(spec, file);
    } catch (error) {
      code = (error as JobSpecExistsError).code;
    }
    expect(code).toBe('SPEC_EXISTS');
  });

  it('reports a folder that does not exist', () => {
    const file = path.join(freshDir(), 'missing', 'job.yml');
    expect(() => dumpJob(spec, file)).toThrow(JobSpecWriteError);
    expect(() => dumpJob(spec, file)).toThrow(/ENOENT.*check that the folder exists/);
  });

  it('writes to an open stream', () => {
    const stream = new PassThrough();
    const yaml = dumpJob(spec, stream);
    expect(String(stream.read())).toBe(yaml);
  });

  it('refuses a stream that has ended or is read-only', () => {
    const ended = new PassThrough();
    ended.end();
    expect(() => dumpJob(spec, ended)).toThrow(JobSpecWriteError);
    const readOnly = Readable.from(['x']) as unknown as NodeJS.WritableStream;
    expect(() => dumpJob(spec, readOnly)).toThrow(/stream is not writable/);
  });
});
