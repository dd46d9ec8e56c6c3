import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { specToPlain } from '../job/dump';
import type { LoadedJob } from '../job/load';

/**
 * What makes two `parallel-job run` commands "the same job", so that running a command again resumes
 * it: the resolved spec (every field, after defaults and bindings) and the listing of the local inputs
 * it uploads (each file's relative path, size and modification time). The task code is not part of it:
 * fixing the code and running the command again re-runs what failed with the fixed code.
 */
export function runKey(loaded: LoadedJob): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(specToPlain(loaded.spec)));
  const baseDir = loaded.baseDir ?? process.cwd();
  for (const [name, input] of Object.entries(loaded.spec.inputs ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    const local = localInputPath(input, baseDir);
    if (!local) continue;
    hash.update(`\0input ${name}\0`);
    for (const line of listing(local)) hash.update(`${line}\n`);
  }
  return hash.digest('hex');
}

/** The local file or folder an input names (relative to the spec), if it names one. */
export function localInputPath(input: unknown, baseDir: string): string | undefined {
  if (typeof input !== 'object' || input === null || !('path' in input)) return undefined;
  const value = input.path;
  if (typeof value !== 'string' || /^[a-z][a-z0-9+.-]*:/i.test(value)) return undefined;
  const local = path.resolve(baseDir, value);
  return existsSync(local) ? local : undefined;
}

function listing(local: string): string[] {
  const stat = statSync(local);
  if (!stat.isDirectory()) return [`${path.basename(local)} ${stat.size} ${stat.mtimeMs}`];
  return readdirSync(local, { recursive: true, encoding: 'utf8' })
    .map((relative) => {
      const entry = statSync(path.join(local, relative), { throwIfNoEntry: false });
      return entry?.isFile()
        ? `${relative.split(path.sep).join('/')} ${entry.size} ${entry.mtimeMs}`
        : undefined;
    })
    .filter((line): line is string => line !== undefined)
    .sort();
}

/** A job id for a run: the spec's name and the key, `--fresh` adds the time. */
export function runJobId(loaded: LoadedJob, key: string, fresh: boolean): string {
  const name = (loaded.spec.name ?? 'job').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 60);
  const suffix = fresh ? `-${Date.now().toString(36)}` : '';
  return `${name}-${key.slice(0, 12)}${suffix}`;
}

const runsSchema = z.record(z.string(), z.object({ jobId: z.string(), spec: z.string() }));
type Runs = z.infer<typeof runsSchema>;

/** `<dataDir>/runs.json`: the latest job of each run key (a re-run or a `--fresh` run replaces it). */
export class RunRecord {
  constructor(private readonly dataDir: string) {}

  private get file(): string {
    return path.join(this.dataDir, 'runs.json');
  }

  private read(): Runs {
    try {
      const parsed = runsSchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      return parsed.success ? parsed.data : {};
    } catch {
      return {};
    }
  }

  latest(key: string): string | undefined {
    return this.read()[key]?.jobId;
  }

  remember(key: string, jobId: string, spec: string): void {
    const runs = { ...this.read(), [key]: { jobId, spec } };
    const temporary = `${this.file}.${process.pid}`;
    writeFileSync(temporary, JSON.stringify(runs, null, 2));
    renameSync(temporary, this.file);
  }
}
