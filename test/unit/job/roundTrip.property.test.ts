import fc from 'fast-check';
import { dumpJob, parseJobText, parseJobValue, specToPlain } from '../../../src/job';

const identifier = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/);
const segment = fc
  .stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,9}$/)
  .filter((s) => s !== '..' && !s.startsWith('..'));
const relativePath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));
const blobPath = fc.oneof(
  relativePath.map((p) => `container/${p}`),
  relativePath.map((p) => `https://acct.blob.core.windows.net/c/${p}`),
);
const anyText = fc.string({ unit: 'grapheme', maxLength: 40 });
/** Bindings are substituted as text before argv is split, so literals with quotes would need quoting. */
const shellSafeText = anyText.filter((text) => !/['"\\]/.test(text));
const literal = fc.oneof(
  shellSafeText,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
);
const seconds = fc.oneof(
  fc.integer({ min: 1, max: 259_200 }),
  fc.double({ min: 0.001, max: 259_200, noNaN: true }),
);

const runnerFlag = fc.oneof(
  fc.integer({ min: -1, max: 1000 }).map((n) => `--error_threshold ${n}`),
  fc.integer({ min: 0, max: 100 }).map((n) => `--allowed_failed_percent=${n}`),
  fc.integer({ min: 1, max: 259_200 }).map((n) => `--task_overhead_timeout ${n}`),
  fc.constantFrom('--copy_logs_to_parent true', '--copy_logs_to_parent=no', '--verbose'),
);

/** A valid job spec value, with bindings only to names it declares. */
const specValue = fc
  .record({
    dataType: fc.constantFrom('uri_folder', 'uri_file', 'mltable'),
    sideInputs: fc.dictionary(identifier, literal, { maxKeys: 3 }),
    outputs: fc.dictionary(
      identifier,
      fc.record(
        { type: fc.constantFrom('uri_folder', 'uri_file'), path: blobPath.map((p) => `${p}.out`) },
        { requiredKeys: ['type'] },
      ),
      { maxKeys: 3 },
    ),
  })
  .chain(({ dataType, sideInputs, outputs }) => {
    const inputs = { ...sideInputs, data: { type: dataType } };
    const outputNames = Object.keys(outputs);
    const bindings = [
      ...Object.keys(inputs).map((n) => `\${{inputs.${n}}}`),
      ...outputNames.map((n) => `\${{outputs.${n}}}`),
    ];
    const size =
      dataType === 'mltable'
        ? fc.oneof(fc.integer({ min: 1024, max: 1 << 30 }), fc.constantFrom('1mb', '512kb', '2GB', '4096'))
        : fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 99 }).map(String));
    return fc.record(
      {
        name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$/),
        version: fc.oneof(fc.integer({ min: 1, max: 99 }), fc.stringMatching(/^\d+\.\d+$/)),
        description: anyText,
        display_name: anyText,
        tags: fc.dictionary(anyText, anyText, { maxKeys: 3 }),
        retry_settings: fc.record({ max_retries: fc.nat(10), timeout: seconds }, { requiredKeys: [] }),
        logging_level: fc.constantFrom('DEBUG', 'INFO', 'WARNING', 'ERROR', 'info'),
        max_concurrency_per_instance: fc.integer({ min: 1, max: 64 }),
        error_threshold: fc.integer({ min: -1, max: 1000 }),
        mini_batch_error_threshold: fc.integer({ min: -1, max: 1000 }),
        on_bad_record: fc.constantFrom('fail_item', 'fail_mini_batch'),
        mini_batch_size: size,
        partition_keys: fc.array(identifier, { minLength: 1, maxLength: 3 }),
        input_data: fc.constant('${{inputs.data}}'),
        inputs: blobPath.map((path) => ({ ...inputs, data: { ...inputs.data, path } })),
        outputs: fc.constant(outputs),
        task: fc.record(
          {
            code: relativePath,
            entry_script: relativePath.map((p) => `${p}.ts`),
            program_arguments: fc
              .array(
                fc.oneof(
                  runnerFlag,
                  fc.constantFrom(...bindings).map((b) => `--arg "${b}"`),
                  anyText.map((t) => `'${t.replace(/'/g, '')}'`),
                ),
                { maxLength: 5 },
              )
              .map((parts) => parts.join(' ')),
            environment_variables: fc.dictionary(identifier, anyText, { maxKeys: 3 }),
            ...(outputNames.length
              ? { append_row_to: fc.constantFrom(...outputNames).map((n) => `\${{outputs.${n}}}`) }
              : {}),
          },
          { requiredKeys: ['entry_script'] },
        ),
        resources: fc.record({ instance_count: fc.integer({ min: 1, max: 16 }) }),
        environment_variables: fc.dictionary(identifier, anyText, { maxKeys: 3 }),
        identity: fc.record(
          { type: fc.constant('managed'), client_id: fc.uuid() },
          { requiredKeys: ['type'] },
        ),
      },
      { requiredKeys: ['input_data', 'inputs', 'outputs', 'task'] },
    );
  });

describe('dump/load round trip (property)', () => {
  it('loads every dumped valid spec back equal', () => {
    fc.assert(
      fc.property(specValue, (value) => {
        const { spec } = parseJobValue(value);
        expect(parseJobText(dumpJob(spec)).spec).toEqual(spec);
      }),
      { numRuns: 300 },
    );
  });

  it('loads the JSON wire form back equal', () => {
    fc.assert(
      fc.property(specValue, (value) => {
        const { spec } = parseJobValue(value);
        expect(parseJobValue(JSON.parse(JSON.stringify(specToPlain(spec)))).spec).toEqual(spec);
      }),
      { numRuns: 100 },
    );
  });
});

describe('negative zero', () => {
  it('is stored as 0 so that the JSON wire form loads back equal', () => {
    const { spec } = parseJobValue({
      input_data: '${{inputs.data}}',
      inputs: { data: { path: 'c/d' }, offset: -0 },
      max_concurrency_per_instance: 1,
      retry_settings: { max_retries: -0 },
      task: { entry_script: 'a.ts' },
    });
    expect(Object.is(spec.inputs.offset, 0)).toBe(true);
    expect(Object.is(spec.retry_settings.max_retries, 0)).toBe(true);
  });
});
