import { parseProgramArguments, workerArgv } from '../../../src/task/args';

describe('parseProgramArguments', () => {
  it('reads --key value, --key=value and lone flags', () => {
    const parsed = parseProgramArguments([
      '--model',
      'resnet',
      '--threshold=0.5',
      '--verbose',
      '--offset',
      '-1',
      '--dry',
    ]);
    expect(parsed.options).toEqual({
      model: 'resnet',
      threshold: '0.5',
      verbose: true,
      offset: '-1',
      dry: true,
    });
    expect(parsed.positionals).toEqual([]);
    expect(parsed.argv).toEqual([
      '--model',
      'resnet',
      '--threshold=0.5',
      '--verbose',
      '--offset',
      '-1',
      '--dry',
    ]);
  });

  it('keeps positionals and the last value of a repeated option', () => {
    const parsed = parseProgramArguments(['input.csv', '--mode', 'a', '--mode', 'b', '--', 'rest']);
    expect(parsed.options).toEqual({ mode: 'b' });
    expect(parsed.positionals).toEqual(['input.csv', '--', 'rest']);
  });

  it('gives an empty option set for no arguments', () => {
    expect(parseProgramArguments([])).toEqual({ options: {}, positionals: [], argv: [] });
  });
});

describe('workerArgv', () => {
  const job = {
    argv: ['--model', 'inputs/models/v3', '--out', 'outputs/j/models/run 1', '--k', '3'],
    argvParts: [
      ['--model'],
      [{ input: 'model' }],
      ['--out'],
      [{ output: 'models' }, '/run 1'],
      ['--k'],
      ['3'],
    ],
  };

  it('puts the local paths of this host and worker where the bindings were', () => {
    expect(workerArgv(job, { model: '/cache/abc' }, { models: '/work/py1/outputs/models' })).toEqual([
      '--model',
      '/cache/abc',
      '--out',
      '/work/py1/outputs/models/run 1',
      '--k',
      '3',
    ]);
  });

  it('gives argv as it is without parts', () => {
    expect(workerArgv({ argv: ['--k', '3'] }, {}, {})).toEqual(['--k', '3']);
  });

  it('refuses a binding with no local path rather than pass a wrong argument', () => {
    expect(() => workerArgv(job, {}, { models: '/w' })).toThrow('no local path for {"input":"model"}');
  });
});
