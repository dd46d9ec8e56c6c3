import fs from 'node:fs';
import path from 'node:path';
import { PATCHED_VERSIONS, checkPatchedVersions } from '../../../src/storage/azurite';

const packageRoot = path.join(__dirname, '..', '..', '..');

describe('the Azurite and lokijs versions the local storage patches', () => {
  it('are the exact versions package.json pins, and the installed ones', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies.azurite).toBe(PATCHED_VERSIONS.azurite);
    expect(pkg.dependencies.lokijs).toBe(PATCHED_VERSIONS.lokijs);
    expect(() => checkPatchedVersions()).not.toThrow();
  });

  it('refuses to start on another version, naming it', () => {
    const other = (name: keyof typeof PATCHED_VERSIONS): string =>
      name === 'lokijs' ? '1.5.13' : PATCHED_VERSIONS[name];
    expect(() => checkPatchedVersions(other)).toThrow(
      expect.objectContaining({ code: 'STORAGE_VERSION', message: expect.stringContaining('lokijs 1.5.13') }),
    );
  });
});
