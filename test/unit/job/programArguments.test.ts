import { readRunnerFlags, splitShellWords } from '../../../src/job';

describe('splitShellWords', () => {
  it.each([
    ['--a 1  --b   2', ['--a', '1', '--b', '2']],
    [`--label "two words" --q 'it''s'`, ['--label', 'two words', '--q', 'its']],
    [`--json '{"a": 1}'`, ['--json', '{"a": 1}']],
    ['--path a\\ b', ['--path', 'a b']],
    ['"--esc \\"q\\" \\\\"', ['--esc "q" \\']],
    ['--empty ""', ['--empty', '']],
    ['', []],
    ['  \n\t ', []],
  ])('splits %p', (text, argv) => {
    expect(splitShellWords(text)).toEqual({ ok: true, argv });
  });

  it('reports an unclosed single quote', () => {
    expect(splitShellWords("--a 'open")).toEqual({
      ok: false,
      message: expect.stringMatching(/unclosed single quote/),
    });
  });
});

describe('readRunnerFlags', () => {
  it('reads `--flag value` and `--flag=value`', () => {
    const report = readRunnerFlags([
      '--error_threshold=-1',
      '--allowed_failed_percent',
      '12.5',
      '--copy_logs_to_parent=no',
    ]);
    expect(report).toEqual({
      values: { errorThreshold: -1, allowedFailedPercent: 12.5, copyLogsToParent: false },
      problems: [],
      warnings: [],
    });
  });

  it('treats a bare --copy_logs_to_parent as true and accepts True/yes/1', () => {
    expect(readRunnerFlags(['--copy_logs_to_parent']).values.copyLogsToParent).toBe(true);
    for (const text of ['True', 'yes', '1'])
      expect(readRunnerFlags(['--copy_logs_to_parent', text]).values.copyLogsToParent).toBe(true);
  });

  it('uses the last of repeated flags and warns', () => {
    const report = readRunnerFlags([
      '--first_task_creation_timeout',
      '60',
      '--first_task_creation_timeout',
      '90',
    ]);
    expect(report.values.firstTaskCreationTimeout).toBe(90);
    expect(report.warnings).toEqual([
      expect.stringMatching(/given more than once; the last value \(90\) is used/),
    ]);
  });

  it.each([
    ['--progress_update_timeout', '259201'],
    ['--first_task_creation_timeout', '-5'],
    ['--error_threshold', '1.5'],
    ['--allowed_failed_percent', 'ten'],
  ])('rejects %s %s', (flag, value) => {
    expect(readRunnerFlags([flag, value]).problems).toEqual([expect.stringContaining(`${flag} must be`)]);
  });

  it.each([
    ['--resource_monitor_interva', '--resource_monitor_interval'],
    ['--error-threshold', '--error_threshold'],
    ['--alowed_failed_percent', '--allowed_failed_percent'],
    ['--first_task_creation_timout', '--first_task_creation_timeout'],
  ])('warns that %s is a near miss of %s', (typo, meant) => {
    expect(readRunnerFlags([typo, '1']).warnings).toEqual([
      expect.stringContaining(`did you mean ${meant}?`),
    ]);
  });

  it('warns that v1 and Azure-only flags have no effect, saying what to use', () => {
    const report = readRunnerFlags(['--run_max_try', '3', '--process_count_per_node', '2']);
    expect(report.warnings).toEqual([
      expect.stringMatching(/--run_max_try has no effect here; set retry_settings.max_retries instead/),
      expect.stringMatching(
        /--process_count_per_node has no effect here; set max_concurrency_per_instance instead/,
      ),
    ]);
    expect(report.values).toEqual({});
  });

  it("leaves the script's own flags alone", () => {
    expect(readRunnerFlags(['--model', 'm', '--batch', '3', 'positional'])).toEqual({
      values: {},
      problems: [],
      warnings: [],
    });
  });
});
