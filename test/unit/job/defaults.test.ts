import { resolveJob } from '../../../src/job';
import { load, minimalSpec, valueIssues, withTask, type Spec } from './helpers';

const effective = (spec: Spec) =>
  resolveJob(load(spec).spec, { jobId: 'job-1', outputRoot: 'outputs/job-1' });

describe('spec defaults', () => {
  const { spec } = load(minimalSpec());

  it.each([
    ['type', spec.type, 'parallel'],
    ['retry_settings', spec.retry_settings, { max_retries: 2, timeout: 60 }],
    ['logging_level', spec.logging_level, 'INFO'],
    ['max_concurrency_per_instance', spec.max_concurrency_per_instance, 1],
    ['error_threshold (absent so a runner flag can apply)', spec.error_threshold, undefined],
    ['mini_batch_error_threshold', spec.mini_batch_error_threshold, -1],
    ['mini_batch_size (depends on the input type)', spec.mini_batch_size, undefined],
    [
      'inputs.data.type and mode',
      spec.inputs.data,
      { type: 'uri_folder', path: 'inputs/data', mode: 'ro_mount' },
    ],
    ['outputs', spec.outputs, {}],
    ['task.type and code', [spec.task.type, spec.task.code], ['run_function', '.']],
    ['resources.instance_count', spec.resources, { instance_count: 1 }],
    ['environment_variables', spec.environment_variables, {}],
    ['identity', spec.identity, undefined],
    ['name', spec.name, undefined],
  ])('%s', (_field, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it('gives the effective settings their documented defaults', () => {
    expect(effective(minimalSpec()).settings).toEqual({
      maxRetries: 2,
      timeoutSeconds: 60,
      maxConcurrencyPerInstance: 1,
      instanceCount: 1,
      errorThreshold: -1,
      miniBatchErrorThreshold: -1,
      allowedFailedPercent: 100,
      taskOverheadTimeoutSeconds: 30,
      progressUpdateTimeoutSeconds: 3 * (60 + 30),
      firstTaskCreationTimeoutSeconds: 600,
      copyLogsToParent: false,
      onBadRecord: 'fail_item',
    });
  });

  it('defaults mini_batch_size to 10 files for file input and 1 MiB for mltable', () => {
    expect(effective(minimalSpec())).toMatchObject({ miniBatchSize: 10, miniBatchSizeUnit: 'files' });
    const uriFile = minimalSpec({ inputs: { data: { type: 'uri_file', path: 'a/list.txt' } } });
    expect(effective(uriFile)).toMatchObject({ miniBatchSize: 10, miniBatchSizeUnit: 'files' });
    const tabular = minimalSpec({ inputs: { data: { type: 'mltable', path: 'a/t', mode: 'direct' } } });
    expect(effective(tabular)).toMatchObject({ miniBatchSize: 1048576, miniBatchSizeUnit: 'bytes' });
  });

  it('names the job after its id when the spec has no name, and is summary_only without append_row_to', () => {
    const job = effective(minimalSpec());
    expect(job.name).toBe('job-1');
    expect(job.appendRowTo).toBeUndefined();
    expect(job.tags).toEqual({});
    expect(job.warnings).toEqual([]);
  });
});

describe('accepted ranges', () => {
  it.each([
    ['timeout at its maximum', minimalSpec({ retry_settings: { timeout: 259200 } })],
    ['a fractional timeout', minimalSpec({ retry_settings: { timeout: 0.5 } })],
    ['no retries', minimalSpec({ retry_settings: { max_retries: 0 } })],
    ['thresholds at -1 and 0', minimalSpec({ error_threshold: 0, mini_batch_error_threshold: -1 })],
    ['a 63-character name', minimalSpec({ name: `a${'-_9'.repeat(20)}bc` })],
    ['lower-case logging level', minimalSpec({ logging_level: 'warning' })],
    ['identity with a client id', minimalSpec({ identity: { type: 'managed', client_id: 'abc' } })],
    ['nested code and entry script', withTask({ code: 'tasks/./score', entry_script: 'src/../main.ts' })],
    [
      'flags at their bounds',
      withTask({
        program_arguments: '--allowed_failed_percent 0 --task_overhead_timeout 259200 --error_threshold=-1',
      }),
    ],
    [
      'an Azurite blob URL',
      minimalSpec({ inputs: { data: { path: 'http://127.0.0.1:10000/devstoreaccount1/in/x' } } }),
    ],
  ])('accepts %s', (_case, spec) => {
    expect(() => load(spec)).not.toThrow();
  });

  it('upper-cases the logging level', () => {
    expect(load(minimalSpec({ logging_level: 'debug' })).spec.logging_level).toBe('DEBUG');
  });

  it.each([
    ['7', 7, 'files'],
    [12, 12, 'files'],
  ])('reads mini_batch_size %p on file input as %p files', (size, value, unit) => {
    expect(effective(minimalSpec({ mini_batch_size: size }))).toMatchObject({
      miniBatchSize: value,
      miniBatchSizeUnit: unit,
    });
  });

  it.each([
    ['512kb', 512 * 1024],
    ['1MB', 1024 ** 2],
    ['2Gb', 2 * 1024 ** 3],
    ['4096', 4096],
  ])('reads mini_batch_size %p on mltable input as %p bytes', (size, bytes) => {
    const spec = minimalSpec({ inputs: { data: { type: 'mltable', path: 'a/t' } }, mini_batch_size: size });
    expect(effective(spec)).toMatchObject({ miniBatchSize: bytes, miniBatchSizeUnit: 'bytes' });
  });

  it('rejects the boundaries just outside each range', () => {
    const paths = valueIssues(
      minimalSpec({
        retry_settings: { timeout: 259200.5, max_retries: -1 },
        max_concurrency_per_instance: 0,
        error_threshold: -2,
        mini_batch_error_threshold: -2,
        resources: { instance_count: 0 },
      }),
    ).map((issue) => issue.path);
    expect(paths.sort()).toEqual(
      [
        'error_threshold',
        'max_concurrency_per_instance',
        'mini_batch_error_threshold',
        'resources.instance_count',
        'retry_settings.max_retries',
        'retry_settings.timeout',
      ].sort(),
    );
  });
});

describe('warnings', () => {
  const warningsOf = (spec: Spec) => load(spec).warnings;

  it('warns that a small plain mini_batch_size on mltable input means bytes', () => {
    const spec = minimalSpec({ inputs: { data: { type: 'mltable', path: 'a/t' } }, mini_batch_size: 10 });
    expect(warningsOf(spec)).toEqual([
      expect.stringMatching(/means 10 bytes per mini-batch, not rows; write a size such as 1mb/),
    ]);
  });

  it('warns that partition_keys wins over mini_batch_size', () => {
    const spec = minimalSpec({ partition_keys: ['store'], mini_batch_size: '1mb' });
    expect(warningsOf(spec)).toEqual([
      expect.stringMatching(/partition_keys wins and mini_batch_size is ignored/),
    ]);
  });

  it('accepts a Python entry script without a word, and warns about one that is no task module', () => {
    expect(warningsOf(withTask({ entry_script: 'score.py' }))).toEqual([]);
    expect(warningsOf(withTask({ entry_script: 'score.R' }))).toEqual([
      expect.stringMatching(/"score.R" is not a task module: use a Python script \(\.py\) or a JavaScript/),
    ]);
  });

  it('drops ignored Azure ML keys and names them all in one short warning', () => {
    const loaded = load(
      minimalSpec({
        compute: 'azureml:cpu',
        environment: 'azureml:env@latest',
        $schema: 'https://example/schema.json',
        experiment_name: 'exp',
        is_deterministic: true,
        resources: { instance_count: 2, instance_type: 'Standard_DS3_v2' },
        task: { entry_script: 'a.ts', environment: { image: 'x' } },
      }),
    );
    expect(loaded.warnings).toEqual([
      'Ignored Azure ML settings (no meaning on Azure Functions): compute, environment, $schema, experiment_name, is_deterministic, task.environment, resources.instance_type.',
    ]);
    expect(loaded.spec).not.toHaveProperty('compute');
    expect(loaded.spec.resources).toEqual({ instance_count: 2 });
  });

  it('treats YAML keys without a value as absent, and an empty output as a default uri_folder', () => {
    const loaded = load(minimalSpec({ description: null, outputs: { result: null } }));
    expect(loaded.spec.description).toBeUndefined();
    expect(loaded.spec.outputs).toEqual({ result: { type: 'uri_folder' } });
  });
});

describe('numbers written where YAML users mean text', () => {
  it('reads an unquoted numeric name, version and tag values as strings', () => {
    const { spec } = load(minimalSpec({ name: 2026, version: 3, tags: { run: 7, nightly: true } }));
    expect(spec).toMatchObject({ name: '2026', version: '3', tags: { run: '7', nightly: 'true' } });
  });
});
