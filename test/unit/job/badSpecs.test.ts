import { minimalSpec, valueIssues, withTask, yamlIssues, type Spec } from './helpers';

/** [description, spec, field path, what the message must say] */
type BadSpec = [string, unknown, string, RegExp];

const fileInput = (size: unknown): Spec => minimalSpec({ mini_batch_size: size });

const BAD_SPECS: BadSpec[] = [
  [
    'timeout of 0',
    minimalSpec({ retry_settings: { timeout: 0 } }),
    'retry_settings.timeout',
    /greater than 0 and at most 259200.*got 0/,
  ],
  [
    'timeout over 3 days',
    minimalSpec({ retry_settings: { timeout: 259201 } }),
    'retry_settings.timeout',
    /at most 259200 \(3 days\); got 259201/,
  ],
  [
    'timeout as text',
    minimalSpec({ retry_settings: { timeout: '60s' } }),
    'retry_settings.timeout',
    /number of seconds.*got the string "60s"/,
  ],
  [
    'negative max_retries',
    minimalSpec({ retry_settings: { max_retries: -1 } }),
    'retry_settings.max_retries',
    /whole number >= 0 \(retries after the first attempt\); got -1/,
  ],
  [
    'fractional max_retries',
    minimalSpec({ retry_settings: { max_retries: 1.5 } }),
    'retry_settings.max_retries',
    /whole number >= 0.*got 1.5/,
  ],
  [
    'retry_settings not a mapping',
    minimalSpec({ retry_settings: 3 }),
    'retry_settings',
    /a mapping with max_retries and timeout; got 3/,
  ],
  [
    'zero concurrency',
    minimalSpec({ max_concurrency_per_instance: 0 }),
    'max_concurrency_per_instance',
    /whole number >= 1; got 0/,
  ],
  [
    'error_threshold below -1',
    minimalSpec({ error_threshold: -2 }),
    'error_threshold',
    /whole number >= -1 \(-1 = no limit\); got -2/,
  ],
  [
    'fractional mini_batch_error_threshold',
    minimalSpec({ mini_batch_error_threshold: 1.5 }),
    'mini_batch_error_threshold',
    /whole number >= -1.*got 1.5/,
  ],
  [
    'unknown on_bad_record policy',
    minimalSpec({ on_bad_record: 'skip' }),
    'on_bad_record',
    /must be fail_item or fail_mini_batch/,
  ],
  ['size with a space', fileInput('100 kb'), 'mini_batch_size', /space before the unit; write "100kb"/],
  [
    'size with words',
    fileInput('10 files'),
    'mini_batch_size',
    /"10 files" is not a valid size; write a whole number/,
  ],
  ['size of zero', fileInput(0), 'mini_batch_size', /at least 1; got 0/],
  ['size with a repeated unit', fileInput('10kbmb'), 'mini_batch_size', /"10kbmb" is not a valid size/],
  [
    'byte size on file input',
    fileInput('1mb'),
    'mini_batch_size',
    /uri_folder input mini_batch_size counts files.*number of files such as 10/,
  ],
  [
    'unknown logging level',
    minimalSpec({ logging_level: 'VERBOSE' }),
    'logging_level',
    /one of DEBUG, INFO, WARNING, ERROR; got the string "VERBOSE"/,
  ],
  [
    'name with spaces',
    minimalSpec({ name: 'my job!' }),
    'name',
    /1-63 letters, digits, "-" or "_".*blob paths/,
  ],
  ['name too long', minimalSpec({ name: 'a'.repeat(64) }), 'name', /1-63 letters/],
  [
    'wrong job type',
    minimalSpec({ type: 'pipeline' }),
    'type',
    /must be parallel; got the string "pipeline"/,
  ],
  [
    'missing input_data',
    { inputs: { data: { path: 'x/y' } }, task: { entry_script: 'a.ts' } },
    'input_data',
    /is required: give a binding such as \$\{\{inputs.data\}\}/,
  ],
  [
    'input_data not a binding',
    minimalSpec({ input_data: 'inputs/data' }),
    'input_data',
    /must be a binding to a declared data input.*got "inputs\/data"/,
  ],
  [
    'input_data names an undeclared input',
    minimalSpec({ input_data: '${{inputs.dta}}' }),
    'input_data',
    /inputs\.dta, which is not declared \(declared inputs: data\)\. Did you mean \$\{\{inputs\.data\}\}\?/,
  ],
  [
    'input_data names a literal',
    minimalSpec({ inputs: { data: { path: 'a/b' }, n: 3 }, input_data: '${{inputs.n}}' }),
    'input_data',
    /inputs\.n is a literal value; input_data must name a data input/,
  ],
  [
    'azureml asset input',
    minimalSpec({ inputs: { data: { path: 'azureml:mnist:1' } } }),
    'inputs.data.path',
    /Azure ML asset references.*blob URL/,
  ],
  [
    'azureml:// input path',
    minimalSpec({ inputs: { data: { path: 'azureml://datastores/blob/paths/x' } } }),
    'inputs.data.path',
    /azureml:\/\/ paths are not supported; use a blob URL/,
  ],
  [
    'wasbs input path',
    minimalSpec({ inputs: { data: { path: 'wasbs://c@a.blob.core.windows.net/x' } } }),
    'inputs.data.path',
    /wasbs:\/\/ paths are not supported/,
  ],
  [
    'unknown input type',
    minimalSpec({ inputs: { data: { type: 'csv', path: 'a/b' } } }),
    'inputs.data.type',
    /one of uri_folder, uri_file, mltable; got the string "csv"/,
  ],
  [
    'input without path',
    minimalSpec({ inputs: { data: { type: 'uri_folder' } } }),
    'inputs.data.path',
    /is required: give a blob URL or <container>\/<path>/,
  ],
  [
    'input name with a dash',
    minimalSpec({ inputs: { 'my-data': { path: 'a/b' } }, input_data: '${{inputs.data}}' }),
    'inputs.my-data',
    /input names must be a name of letters, digits and underscores/,
  ],
  [
    'mltable output',
    minimalSpec({ outputs: { result: { type: 'mltable' } } }),
    'outputs.result.type',
    /uri_folder or uri_file; got the string "mltable"/,
  ],
  [
    'uri_file output naming a folder',
    minimalSpec({ outputs: { result: { type: 'uri_file', path: 'out/dir/' } } }),
    'outputs.result.path',
    /must name a file, not a folder/,
  ],
  [
    'missing task',
    { input_data: '${{inputs.data}}', inputs: { data: { path: 'a/b' } } },
    'task',
    /is required: give a mapping with at least entry_script/,
  ],
  [
    'missing entry_script',
    minimalSpec({ task: { code: 'src' } }),
    'task.entry_script',
    /is required: give a relative path inside task.code/,
  ],
  [
    'code escaping with ..',
    withTask({ code: '../shared' }),
    'task.code',
    /stays inside the job's folder; "..\/shared" escapes it/,
  ],
  ['absolute code path', withTask({ code: '/opt/code' }), 'task.code', /"\/opt\/code" is an absolute path/],
  ['code with a drive letter', withTask({ code: 'C:\\code' }), 'task.code', /starts with a drive letter/],
  [
    'entry_script escaping code',
    withTask({ entry_script: 'lib/../../../etc/x.js' }),
    'task.entry_script',
    /stays inside task.code.*escapes it/,
  ],
  ['remote code', withTask({ code: 'azureml:code:1' }), 'task.code', /looks like a URL or an azureml: asset/],
  [
    'append_row_to an undeclared output',
    withTask({ append_row_to: '${{outputs.reslt}}' }, { outputs: { result: {} } }),
    'task.append_row_to',
    /outputs\.reslt, which is not declared.*Did you mean \$\{\{outputs\.result\}\}\?/,
  ],
  [
    'append_row_to an input',
    withTask({ append_row_to: '${{inputs.data}}' }),
    'task.append_row_to',
    /binding to a declared output/,
  ],
  [
    'unknown binding in program_arguments',
    withTask(
      { program_arguments: '--model ${{inputs.modle}}' },
      { inputs: { data: { path: 'a/b' }, model: { path: 'm/1' } } },
    ),
    'task.program_arguments',
    /inputs\.modle, which is not declared.*Did you mean \$\{\{inputs\.model\}\}/,
  ],
  [
    'parent binding in program_arguments',
    withTask({ program_arguments: '--x ${{parent.inputs.x}}' }),
    'task.program_arguments',
    /\$\{\{parent\.inputs\.x\}\} is not a binding; only \$\{\{inputs\.<name>\}\}/,
  ],
  [
    'unclosed quote',
    withTask({ program_arguments: '--label "a b' }),
    'task.program_arguments',
    /unclosed double quote/,
  ],
  [
    'allowed_failed_percent over 100',
    withTask({ program_arguments: '--allowed_failed_percent 120' }),
    'task.program_arguments',
    /--allowed_failed_percent must be a number from 0 to 100.*got "120"/,
  ],
  [
    'zero task overhead',
    withTask({ program_arguments: '--task_overhead_timeout=0' }),
    'task.program_arguments',
    /--task_overhead_timeout must be a number of seconds greater than 0/,
  ],
  [
    'copy_logs_to_parent not a boolean',
    withTask({ program_arguments: '--copy_logs_to_parent maybe' }),
    'task.program_arguments',
    /--copy_logs_to_parent must be true or false; got "maybe"/,
  ],
  [
    'error_threshold flag without value',
    withTask({ program_arguments: '--error_threshold --other 1' }),
    'task.program_arguments',
    /--error_threshold must be a whole number >= -1.*got no value/,
  ],
  [
    'user identity',
    minimalSpec({ identity: { type: 'user_identity' } }),
    'identity.type',
    /user_identity is not supported on Azure Functions; use \{type: managed\}/,
  ],
  [
    'AML token identity',
    minimalSpec({ identity: { type: 'aml_token' } }),
    'identity.type',
    /aml_token is not supported on Azure Functions/,
  ],
  [
    'typo in a root key',
    minimalSpec({ mini_batch_sise: 3 }),
    'mini_batch_sise',
    /unknown field "mini_batch_sise"\. Did you mean "mini_batch_size"\?/,
  ],
  ['timeout at the root', minimalSpec({ timeout: 30 }), 'timeout', /It belongs under retry_settings/],
  ['v1 node_count', minimalSpec({ node_count: 2 }), 'node_count', /v1 name; use resources.instance_count/],
  [
    'typo in a task key',
    withTask({ entry_scrip: 'a.ts' }),
    'task.entry_scrip',
    /Did you mean "entry_script"\?/,
  ],
  [
    'unknown key without a near match',
    minimalSpec({ flavour: 'x' }),
    'flavour',
    /unknown field "flavour"\. Known fields: type, name/,
  ],
  [
    'zero instances',
    minimalSpec({ resources: { instance_count: 0 } }),
    'resources.instance_count',
    /whole number >= 1; got 0/,
  ],
  [
    'bad environment variable name',
    minimalSpec({ environment_variables: { '1BAD': 'x' } }),
    'environment_variables.1BAD',
    /letters, digits and underscores/,
  ],
  [
    'empty partition_keys',
    minimalSpec({ partition_keys: [] }),
    'partition_keys',
    /at least one key, or be left out/,
  ],
  [
    'empty partition key',
    minimalSpec({ partition_keys: ['store', ''] }),
    'partition_keys[1]',
    /must not be empty/,
  ],
  ['tags as a list', minimalSpec({ tags: ['a'] }), 'tags', /a mapping of names to strings; got a list/],
  ['a list instead of a spec', [1, 2], '', /a mapping of job fields; got a list/],
];

describe('bad specs', () => {
  it('has at least 30 distinct cases', () => {
    expect(
      new Set(BAD_SPECS.map(([, , path, message]) => `${path} ${message.source}`)).size,
    ).toBeGreaterThanOrEqual(30);
  });

  it.each(BAD_SPECS)('%s: names the field and what to change', (_name, spec, path, message) => {
    const issues = valueIssues(spec);
    expect(issues).toContainEqual(expect.objectContaining({ path, message: expect.stringMatching(message) }));
  });

  it.each(BAD_SPECS)(
    '%s: as YAML text, the issue carries a line and column',
    (_name, spec, path, message) => {
      const issue = yamlIssues(spec).find(
        (candidate) => candidate.path === path && message.test(candidate.message),
      );
      expect(issue).toBeDefined();
      expect(issue!.line).toBeGreaterThanOrEqual(1);
      expect(issue!.column).toBeGreaterThanOrEqual(1);
    },
  );
});

describe('every problem at once', () => {
  it('reports schema problems and key problems together', () => {
    const issues = valueIssues(
      minimalSpec({
        retry_settings: { timeout: -1, max_retries: -1 },
        mini_batch_sise: 1,
        logging_level: 'LOUD',
      }),
    );
    expect(issues.map((issue) => issue.path).sort()).toEqual(
      ['logging_level', 'mini_batch_sise', 'retry_settings.max_retries', 'retry_settings.timeout'].sort(),
    );
  });

  it('reports cross-field problems alongside schema problems', () => {
    const issues = valueIssues(
      withTask(
        { program_arguments: '--allowed_failed_percent 150', code: '../up' },
        { mini_batch_size: '1 mb' },
      ),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'mini_batch_size',
      'task.code',
      'task.program_arguments',
    ]);
  });

  it('reports every cross-field problem together', () => {
    const issues = valueIssues(
      withTask(
        {
          append_row_to: '${{outputs.missing}}',
          program_arguments: '--allowed_failed_percent 101 ${{inputs.nope}}',
        },
        { input_data: '${{inputs.absent}}' },
      ),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'input_data',
      'task.append_row_to',
      'task.program_arguments',
      'task.program_arguments',
    ]);
  });
});
