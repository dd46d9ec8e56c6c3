import fs from 'node:fs';
import path from 'node:path';
import { LocalHostAppLoadError } from '../../../src/errors';
import { DURABLE_FUNCTIONS_VERSION, checkDurableFunctionsVersion } from '../../../src/durable/sdkShapes';

const packageRoot = path.join(__dirname, '..', '..', '..');

function appWith(version: string | undefined): (id: string) => unknown {
  return (id) => {
    if (id !== 'durable-functions/package.json' || version === undefined)
      throw new Error(`Cannot find module '${id}'`);
    return { version };
  };
}

describe('the durable-functions version the engine reads', () => {
  it('is the exact version package.json pins', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies['durable-functions']).toBe(DURABLE_FUNCTIONS_VERSION);
  });

  it('passes the pinned version without a word', () => {
    const lines: string[] = [];
    checkDurableFunctionsVersion(appWith(DURABLE_FUNCTIONS_VERSION), (line) => lines.push(line));
    expect(lines).toEqual([]);
  });

  it('warns about another version of the same major, and about a version it cannot read', () => {
    const lines: string[] = [];
    checkDurableFunctionsVersion(appWith('3.99.0'), (line) => lines.push(line));
    checkDurableFunctionsVersion(appWith(undefined), (line) => lines.push(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('durable-functions 3.99.0');
    expect(lines[1]).toContain('could not read');
  });

  it('refuses another major version', () => {
    expect(() => checkDurableFunctionsVersion(appWith('4.0.0'), () => undefined)).toThrow(
      LocalHostAppLoadError,
    );
  });
});
