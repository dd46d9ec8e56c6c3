/**
 * A Dockerfile read as its stages and instructions, enough to check what the image is built from and what
 * its last stage contains. Nothing here can run Docker: the checks read the file the way the builder would
 * (continuation lines joined, comments dropped, ARG defaults substituted into FROM).
 */

export interface DockerInstruction {
  keyword: string;
  args: string;
}

export interface DockerStage {
  name: string | undefined;
  /** The FROM argument with the global ARG defaults substituted. */
  from: string;
  instructions: DockerInstruction[];
}

export function dockerStages(text: string): DockerStage[] {
  const globalArgs = new Map<string, string>();
  const stages: DockerStage[] = [];
  const logicalLines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logicalLines.push(`${pending}${line}`.trim());
    pending = '';
  }
  if (pending.trim() !== '') logicalLines.push(pending.trim());
  const substitute = (value: string): string =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? '';
      return globalArgs.get(name) ?? all;
    });
  for (const line of logicalLines) {
    const match = /^(\w+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const keyword = (match[1] ?? '').toUpperCase();
    const args = match[2] ?? '';
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args);
      stages.push({ name: from?.[2], from: substitute(from?.[1] ?? ''), instructions: [] });
    } else if (stages.length === 0 && keyword === 'ARG') {
      const arg = /^(\w+)(?:=(\S*))?/.exec(args);
      if (arg?.[1]) globalArgs.set(arg[1], arg[2] ?? '');
    } else {
      stages.at(-1)?.instructions.push({ keyword, args });
    }
  }
  return stages;
}

/** The stage and the stages it builds on, last stage first: what a stage's image holds comes from all of them. */
export function stageChain(stages: readonly DockerStage[], stage: DockerStage): DockerStage[] {
  const chain = [stage];
  let current = stage;
  for (;;) {
    const base = stages.find((candidate) => candidate.name !== undefined && candidate.name === current.from);
    if (!base || chain.includes(base)) return chain;
    chain.push(base);
    current = base;
  }
}

/** ENV pairs of the instructions, in `KEY=value` or legacy `KEY value` form. */
export function envValues(instructions: readonly DockerInstruction[]): Map<string, string> {
  const values = new Map<string, string>();
  for (const { keyword, args } of instructions) {
    if (keyword !== 'ENV') continue;
    if (!args.includes('=')) {
      const legacy = /^(\S+)\s+(.*)$/.exec(args);
      if (legacy?.[1]) values.set(legacy[1], legacy[2] ?? '');
      continue;
    }
    for (const pair of args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) {
      if (pair[1]) values.set(pair[1], (pair[2] ?? '').replace(/^"|"$/g, ''));
    }
  }
  return values;
}

export interface CopyInstruction {
  /** The stage copied from, or undefined for the build context. */
  from: string | undefined;
  sources: string[];
  destination: string;
  /** The WORKDIR in effect, for a relative destination. */
  workdir: string;
}

/** COPY instructions of one stage, with the WORKDIR each one runs in. */
export function copies(stage: DockerStage): CopyInstruction[] {
  const result: CopyInstruction[] = [];
  let workdir = '/';
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'WORKDIR')
      workdir = args.startsWith('/') ? args : `${workdir.replace(/\/$/, '')}/${args}`;
    if (keyword !== 'COPY') continue;
    const words = args.split(/\s+/).filter((word) => word !== '');
    const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((word) => !word.startsWith('--'));
    const destination = paths.pop() ?? '';
    result.push({ from, sources: paths, destination, workdir });
  }
  return result;
}

/** Where a COPY puts its files, as an absolute path without a trailing slash. */
export function copyTarget(copy: CopyInstruction): string {
  const absolute = copy.destination.startsWith('/')
    ? copy.destination
    : `${copy.workdir.replace(/\/$/, '')}/${copy.destination}`;
  const parts: string[] = [];
  for (const part of absolute.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}
