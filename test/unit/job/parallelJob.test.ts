import { PassThrough } from 'node:stream';
import path from 'node:path';
import { SpecValidationError } from '../../../src/errors';
import { jobStatusSchema, loadJob, loadJobSpec, ParallelJob, parseJobValue } from '../../../src/job';
import * as library from '../../../src';
import { SPEC_FIXTURES } from './helpers';

const FIXTURES = SPEC_FIXTURES;

const fields = {
  name: 'score-images',
  version: 2,
  display_name: 'Score images',
  description: 'Scores images',
  tags: { team: 'vision' },
  properties: { owner: 'ml' },
  retry_settings: { max_retries: 1, timeout: 30 },
  logging_level: 'WARNING',
  max_concurrency_per_instance: 2,
  error_threshold: 10,
  mini_batch_error_threshold: 3,
  task: { code: 'score', entry_script: 'index.ts', append_row_to: '${{outputs.rows}}' },
  mini_batch_size: '4',
  input_data: '${{inputs.images}}',
  inputs: { images: { type: 'uri_folder' as const, path: 'inputs/images' } },
  outputs: { rows: { type: 'uri_folder' as const } },
  identity: { type: 'managed' as const },
  resources: { instance_count: 3 },
  environment_variables: { MODE: 'fast' },
};

describe('ParallelJob', () => {
  it('is exported by the library entry point', () => {
    expect(library.ParallelJob).toBe(ParallelJob);
    expect(typeof library.loadJob).toBe('function');
  });

  it('exposes every constructor field under its YAML name, defaults applied', () => {
    const job = new ParallelJob(fields);
    expect(job).toMatchObject({
      type: 'parallel',
      name: 'score-images',
      version: '2',
      display_name: 'Score images',
      description: 'Scores images',
      tags: { team: 'vision' },
      properties: { owner: 'ml' },
      retry_settings: { max_retries: 1, timeout: 30 },
      logging_level: 'WARNING',
      max_concurrency_per_instance: 2,
      error_threshold: 10,
      mini_batch_error_threshold: 3,
      mini_batch_size: '4',
      partition_keys: undefined,
      input_data: '${{inputs.images}}',
      inputs: { images: { type: 'uri_folder', path: 'inputs/images', mode: 'ro_mount' } },
      outputs: { rows: { type: 'uri_folder' } },
      identity: { type: 'managed' },
      resources: { instance_count: 3 },
      environment_variables: { MODE: 'fast' },
      task: {
        type: 'run_function',
        code: 'score',
        entry_script: 'index.ts',
        append_row_to: '${{outputs.rows}}',
      },
    });
    const attributes = [
      'base_path',
      'creation_context',
      'id',
      'inputs',
      'outputs',
      'log_files',
      'resources',
      'retry_settings',
      'status',
      'studio_url',
      'task',
      'type',
    ];
    expect(attributes.filter((attribute) => !(attribute in job))).toEqual([]);
  });

  it('starts as NotStarted with no server-side attributes', () => {
    const job = new ParallelJob(fields, { base_path: '/jobs' });
    expect(job).toMatchObject({
      status: 'NotStarted',
      id: undefined,
      studio_url: undefined,
      creation_context: undefined,
      log_files: undefined,
      base_path: '/jobs',
    });
    expect(jobStatusSchema.parse(job.status)).toBe('NotStarted');
  });

  it('records the state the service reports', () => {
    const job = new ParallelJob(fields);
    job.applyServerState({ id: 'job-9', status: 'Running', studio_url: 'http://localhost/status/job-9' });
    expect(job).toMatchObject({
      id: 'job-9',
      status: 'Running',
      studio_url: 'http://localhost/status/job-9',
    });
  });

  it('validates its fields', () => {
    let thrown: unknown;
    try {
      new ParallelJob({ ...fields, retry_settings: { timeout: 0 }, name: 'bad name' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SpecValidationError);
    expect((thrown as SpecValidationError).issues.map((issue) => issue.path).sort()).toEqual([
      'name',
      'retry_settings.timeout',
    ]);
  });

  it('keeps its spec fields read-only', () => {
    const job = new ParallelJob(fields);
    expect(() => {
      (job.retry_settings as { timeout: number }).timeout = 5;
    }).toThrow(TypeError);
  });

  it('gives the wire form from toJSON, which loads back to the same job', () => {
    const job = new ParallelJob(fields);
    const wire = JSON.parse(JSON.stringify(job));
    expect(wire).toEqual(job.toJSON());
    expect(parseJobValue(wire).spec).toEqual(job.toSpec());
  });

  it('dumps YAML that loads back equal', () => {
    const job = new ParallelJob(fields);
    const stream = new PassThrough();
    const yaml = job.dump(stream);
    expect(String(stream.read())).toBe(yaml);
    expect(ParallelJob.load(yaml).toSpec()).toEqual(job.toSpec());
  });

  it('loads from a file, keeping warnings and the folder', () => {
    const file = path.join(FIXTURES, 'azureml-docs-style.yml');
    const job = ParallelJob.load(file);
    expect(job.base_path).toBe(FIXTURES);
    expect(job.warnings).toEqual(loadJobSpec(file).warnings);
    expect(job.task.entry_script).toBe('iris_prediction.ts');
  });

  it('loadJob returns the job entity, as load_job does in the Azure ML SDK', () => {
    const file = path.join(FIXTURES, 'azureml-docs-style.yml');
    const job = loadJob(file);
    expect(job).toBeInstanceOf(ParallelJob);
    expect(job.status).toBe('NotStarted');
    expect(job.warnings).toEqual(loadJobSpec(file).warnings);
    expect(job.toSpec()).toEqual(loadJobSpec(file).spec);
    // It dumps and loads back to the same job.
    expect(loadJob(job.dump()).toJSON()).toEqual(job.toJSON());
  });
});
