import { SpecValidationError } from '../../../src/errors';
import { effectiveJobSchema, loadJobSpec, resolveJob, type JobSpec } from '../../../src/job';
import { load, minimalSpec, REALISTIC_SPECS, SPEC_FIXTURES, withTask } from './helpers';

const options = { jobId: 'job-7', outputRoot: 'outputs/job-7' };

describe('resolveJob', () => {
  it('produces a value that satisfies the effective job contract for every fixture', () => {
    for (const file of REALISTIC_SPECS) {
      const loaded = loadJobSpec(`${SPEC_FIXTURES}/${file}`);
      const job = resolveJob(loaded.spec, { ...options, warnings: loaded.warnings });
      expect(effectiveJobSchema.safeParse(job).success).toBe(true);
    }
  });

  it('resolves bindings in input_data, append_row_to and program_arguments', () => {
    const job = resolveJob(loadJobSpec(`${SPEC_FIXTURES}/file-append-row.yml`).spec, options);
    expect(job.inputData).toEqual({
      name: 'images',
      type: 'uri_folder',
      path: 'inputs/mnist/2026-11',
      mode: 'ro_mount',
    });
    expect(job.appendRowTo).toEqual({
      output: 'predictions',
      type: 'uri_file',
      path: 'outputs/mnist/predictions.csv',
      fileName: 'predictions.csv',
    });
    expect(job.task.programArguments).toBe(
      '--model https://mlstore.blob.core.windows.net/models/digits/model.onnx --labels "0 1 2 3 4 5 6 7 8 9"',
    );
    expect(job.task.argv).toEqual([
      '--model',
      'https://mlstore.blob.core.windows.net/models/digits/model.onnx',
      '--labels',
      '0 1 2 3 4 5 6 7 8 9',
    ]);
    expect(job.tags).toEqual({ team: 'vision', cost_center: '4711' });
  });

  it('places outputs without a path under the output root', () => {
    const spec = load(
      withTask(
        { append_row_to: '${{outputs.rows}}', program_arguments: '--file ${{outputs.single}}' },
        { outputs: { rows: {}, single: { type: 'uri_file' } } },
      ),
    ).spec;
    const job = resolveJob(spec, { jobId: 'j', outputRoot: 'outputs/j/' });
    expect(job.outputs).toEqual({
      rows: { type: 'uri_folder', path: 'outputs/j/rows' },
      single: { type: 'uri_file', path: 'outputs/j/single/parallel_run_step.txt' },
    });
    expect(job.appendRowTo).toEqual({
      output: 'rows',
      type: 'uri_folder',
      path: 'outputs/j/rows',
      fileName: 'parallel_run_step.txt',
    });
    expect(job.task.argv).toEqual(['--file', 'outputs/j/single/parallel_run_step.txt']);
  });

  it('keeps side inputs and uri_folder outputs as parts of their tokens, for each worker to resolve to a local path', () => {
    const spec = load(
      withTask(
        {
          entry_script: 'score.py',
          program_arguments:
            '--model ${{inputs.model}} --lookup=${{inputs.lookup}} --threshold ${{inputs.threshold}} --data ${{inputs.data}} --out "${{outputs.models}}/run 1" --summary ${{outputs.summary}}',
        },
        {
          inputs: {
            data: { path: 'inputs/data' },
            model: { type: 'uri_folder', path: 'inputs/models/v3' },
            lookup: { type: 'uri_file', path: 'inputs/lookup.csv' },
            threshold: 0.5,
          },
          outputs: { models: { type: 'uri_folder' }, summary: { type: 'uri_file' } },
        },
      ),
    );
    const job = resolveJob(spec.spec, options);
    // What runner flags read and people see: every binding as its storage path.
    expect(job.task.argv).toEqual([
      '--model',
      'inputs/models/v3',
      '--lookup=inputs/lookup.csv',
      '--threshold',
      '0.5',
      '--data',
      'inputs/data',
      '--out',
      'outputs/job-7/models/run 1',
      '--summary',
      'outputs/job-7/summary/parallel_run_step.txt',
    ]);
    // input_data, literals and uri_file outputs stay text; side inputs and folder outputs become parts.
    expect(job.task.argvParts).toEqual([
      ['--model'],
      [{ input: 'model' }],
      ['--lookup=', { input: 'lookup' }],
      ['--threshold'],
      ['0.5'],
      ['--data'],
      ['inputs/data'],
      ['--out'],
      [{ output: 'models' }, '/run 1'],
      ['--summary'],
      ['outputs/job-7/summary/parallel_run_step.txt'],
    ]);
  });

  it('has no argument parts when program_arguments binds no side input or folder output', () => {
    const job = resolveJob(
      load(withTask({ program_arguments: '--data ${{inputs.data}} --k 3' })).spec,
      options,
    );
    expect(job.task.argvParts).toBeUndefined();
    expect(job.task.argv).toEqual(['--data', 'inputs/data', '--k', '3']);
  });

  it('refuses a NUL character in program_arguments, which no process argument can hold', () => {
    expect(() => resolveJob(load(withTask({ program_arguments: '--a \u0000b' })).spec, options)).toThrow(
      /task\.program_arguments.*contains a NUL character, which no process argument can hold; remove it/,
    );
  });

  it('substitutes literal inputs with their value', () => {
    const job = resolveJob(loadJobSpec(`${SPEC_FIXTURES}/tabular-size-batches.yml`).spec, options);
    expect(job.task.argv).toEqual(['--horizon', '14', '--out', 'outputs/job-7/forecasts']);
    expect(job).toMatchObject({
      miniBatchSize: 2 * 1024 * 1024,
      miniBatchSizeUnit: 'bytes',
      loggingLevel: 'DEBUG',
    });
  });

  it('merges job and task environment variables, the task winning', () => {
    const spec = load(
      withTask(
        { environment_variables: { SHARED: 'task', ONLY_TASK: 1 } },
        { environment_variables: { SHARED: 'job', ONLY_JOB: 'x' } },
      ),
    ).spec;
    expect(resolveJob(spec, options).environmentVariables).toEqual({
      SHARED: 'task',
      ONLY_TASK: '1',
      ONLY_JOB: 'x',
    });
  });

  it('reads every runner flag, with progress_update_timeout given explicitly', () => {
    const job = resolveJob(loadJobSpec(`${SPEC_FIXTURES}/thresholds-and-flags.yml`).spec, options);
    expect(job.settings).toEqual({
      maxRetries: 0,
      timeoutSeconds: 45,
      maxConcurrencyPerInstance: 1,
      instanceCount: 1,
      errorThreshold: 100,
      miniBatchErrorThreshold: 10,
      allowedFailedPercent: 5,
      taskOverheadTimeoutSeconds: 15,
      progressUpdateTimeoutSeconds: 900,
      firstTaskCreationTimeoutSeconds: 120,
      copyLogsToParent: true,
      onBadRecord: 'fail_item',
    });
    expect(job.task.argv).toContain('--language');
  });

  it('carries on_bad_record into the settings, fail_item when absent', () => {
    const failing = load(minimalSpec({ on_bad_record: 'fail_mini_batch' })).spec;
    expect(resolveJob(failing, options).settings.onBadRecord).toBe('fail_mini_batch');
    expect(resolveJob(load(minimalSpec()).spec, options).settings.onBadRecord).toBe('fail_item');
  });

  it('derives progress_update_timeout from the run timeout and the task overhead', () => {
    const spec = load(
      withTask({ program_arguments: '--task_overhead_timeout 10' }, { retry_settings: { timeout: 20 } }),
    ).spec;
    expect(resolveJob(spec, options).settings.progressUpdateTimeoutSeconds).toBe(3 * (20 + 10));
  });

  it('lets the typed error_threshold win over the flag and says so', () => {
    const loaded = load(withTask({ program_arguments: '--error_threshold 9' }, { error_threshold: 3 }));
    const job = resolveJob(loaded.spec, { ...options, warnings: loaded.warnings });
    expect(job.settings.errorThreshold).toBe(3);
    expect(job.warnings).toEqual([
      expect.stringMatching(/error_threshold is 3 .*--error_threshold 9; the field wins, so 3 is used/),
    ]);
  });

  it('keeps load warnings first and without duplicates', () => {
    const loaded = loadJobSpec(`${SPEC_FIXTURES}/azureml-docs-style.yml`);
    const job = resolveJob(loaded.spec, { ...options, warnings: loaded.warnings });
    expect(job.warnings.slice(0, loaded.warnings.length)).toEqual(loaded.warnings);
    expect(new Set(job.warnings).size).toBe(job.warnings.length);
    expect(job.identity).toBeUndefined();
  });

  it('maps identity to the managed form', () => {
    const job = resolveJob(loadJobSpec(`${SPEC_FIXTURES}/partitioned.yml`).spec, options);
    expect(job.identity).toEqual({ type: 'managed', clientId: '00000000-1111-2222-3333-444444444444' });
    expect(job.partitionKeys).toEqual(['store', 'department']);
  });

  it('refuses a typed spec that breaks a cross-field rule', () => {
    const spec = { ...load(minimalSpec()).spec, input_data: '${{inputs.other}}' } as JobSpec;
    expect(() => resolveJob(spec, options)).toThrow(SpecValidationError);
  });
});
