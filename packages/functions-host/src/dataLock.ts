import fs from 'node:fs';
import path from 'node:path';
import { LocalHostError } from './errors';
import { isAlive } from './storage/localStorage';

/**
 * One host per data folder: two hosts driving the same journal would run every orchestration twice.
 * `<dataDir>/host.pid` names the host that uses the folder; one left by a host that died is taken over.
 * Returns the release (on a clean stop).
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'host.pid');
  for (let tries = 0; tries < 3; tries += 1) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(fs.readFileSync(file, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new LocalHostError(
        'DATA_DIR_IN_USE',
        `The data folder ${dataDir} is in use by another host (process ${owner}). Stop it, or give this ` +
          'one another folder (--data-dir).',
      );
    }
    fs.rmSync(file, { force: true }); // left by a host that did not stop cleanly (or by this process)
  }
  throw new LocalHostError('DATA_DIR_IN_USE', `Could not take the data folder ${dataDir}; try again.`);
}
