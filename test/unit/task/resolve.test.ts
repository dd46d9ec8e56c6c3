import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TaskPathError } from '../../../src/errors';
import { resolveTaskModule } from '../../../src/task/resolve';

describe('resolveTaskModule', () => {
  let base: string;
  let root: string;
  beforeAll(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'pj-resolve-'));
    root = path.join(base, 'tasks');
    mkdirSync(path.join(root, 'score'), { recursive: true });
    writeFileSync(path.join(root, 'score', 'run.ts'), 'export function run() { return []; }');
    writeFileSync(path.join(root, 'score', 'notes.txt'), 'not code');
    writeFileSync(path.join(base, 'outside.js'), 'exports.run = () => [];');
    symlinkSync(path.join(base, 'outside.js'), path.join(root, 'score', 'link.js'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('returns the real path of a module inside the root', () => {
    expect(resolveTaskModule(root, 'score', 'run.ts')).toBe(path.join(root, 'score', 'run.ts'));
    expect(resolveTaskModule(root, './score/', './run.ts')).toBe(path.join(root, 'score', 'run.ts'));
  });

  it.each([
    ['..', 'outside.js', 'outside the tasks root'],
    ['score', 'link.js', 'outside the tasks root'],
    ['score', 'missing.js', 'was not found'],
    ['score', 'notes.txt', 'is not a task module'],
    ['.', 'score', 'is not a file'],
  ])('refuses code %s with entry script %s', (code, entry, reason) => {
    let caught: unknown;
    try {
      resolveTaskModule(root, code, entry);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TaskPathError);
    expect((caught as TaskPathError).code).toBe('TASK_PATH_INVALID');
    expect((caught as TaskPathError).message).toContain(reason);
  });

  it('refuses a missing tasks root', () => {
    expect(() => resolveTaskModule(path.join(base, 'nope'), 'score', 'run.ts')).toThrow(
      /PARALLEL_JOB_TASKS_ROOT/,
    );
  });
});
