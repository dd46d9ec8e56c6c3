import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  prepareWorkerFolders,
  removeStalePoolFolders,
  takeAttemptFiles,
  workerFolders,
  UNKEPT_OUTPUT_FOLDER,
} from '../../../src/task/workerFolders';

describe('worker folders', () => {
  let pool: string;
  beforeEach(() => {
    pool = mkdtempSync(path.join(os.tmpdir(), 'pj-folders-'));
  });
  afterEach(() => rmSync(pool, { recursive: true, force: true }));

  it("gives each uri_folder output a folder of the worker, and output_dir the append_row output's", () => {
    const folders = workerFolders(pool, 'w1', { folderOutputs: ['models', 'scores'], outputDirOf: 'scores' });
    expect(folders).toEqual({
      root: path.join(pool, 'w1'),
      outputs: {
        models: path.join(pool, 'w1', 'outputs', 'models'),
        scores: path.join(pool, 'w1', 'outputs', 'scores'),
      },
      logDir: path.join(pool, 'w1', 'logs'),
      outputDir: path.join(pool, 'w1', 'outputs', 'scores'),
    });
    expect(workerFolders(pool, 'w1', { folderOutputs: [] }).outputDir).toBe(
      path.join(pool, 'w1', 'outputs', UNKEPT_OUTPUT_FOLDER),
    );
  });

  it('moves what an attempt wrote aside and leaves the worker empty folders; nothing written costs no move', () => {
    const folders = workerFolders(pool, 'w1', { folderOutputs: ['models'], outputDirOf: 'models' });
    prepareWorkerFolders(folders);
    expect(takeAttemptFiles(folders, pool, 'w1')).toBeUndefined();
    mkdirSync(path.join(folders.outputs.models!, 'sub'));
    writeFileSync(path.join(folders.outputs.models!, 'sub', 'a.bin'), 'a');
    writeFileSync(path.join(folders.logDir, 'run.log'), 'log');
    const moved = takeAttemptFiles(folders, pool, 'w1')!;
    expect(readdirSync(path.join(moved, 'outputs', 'models', 'sub'))).toEqual(['a.bin']);
    expect(readdirSync(path.join(moved, 'logs'))).toEqual(['run.log']);
    expect(readdirSync(folders.outputs.models!)).toEqual([]);
    expect(readdirSync(folders.logDir)).toEqual([]);
    // A task that removed its folder gets it back.
    rmSync(folders.logDir, { recursive: true });
    writeFileSync(path.join(folders.outputs.models!, 'b.bin'), 'b');
    const again = takeAttemptFiles(folders, pool, 'w1')!;
    expect(again).not.toBe(moved);
    expect(existsSync(folders.logDir)).toBe(true);
  });

  it('removes the pool folders of processes that are gone, and only those', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      // The second and later app of a process have `pools-<pid>-<n>`.
      for (const name of [dead, `${dead}-2`, live.pid!, `${live.pid!}-2`, process.pid])
        mkdirSync(path.join(pool, `pools-${name}`, 'pool-1'), { recursive: true });
      mkdirSync(path.join(pool, 'side-inputs'));
      removeStalePoolFolders(pool);
      expect(readdirSync(pool).sort()).toEqual(
        [`pools-${live.pid}`, `pools-${live.pid}-2`, `pools-${process.pid}`, 'side-inputs'].sort(),
      );
    } finally {
      live.kill();
    }
  });
});
