import { parseProgramArguments } from '../../../src/task/args';

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
