import type { ArgvPart } from './protocol';
import type { ProgramArguments } from './contract';

/**
 * Parses the tokens of `program_arguments` the way `argparse.parse_known_args` users expect:
 * `--key value`, `--key=value`, and `--flag` (an option followed by another option or by nothing).
 * A value may start with a single dash (`--offset -1`); only `--` marks the next option.
 */
export function parseProgramArguments(argv: readonly string[]): ProgramArguments {
  const options: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const token = argv[i]!;
    if (!token.startsWith('--') || token === '--') {
      positionals.push(token);
      continue;
    }
    const body = token.slice(2);
    const equals = body.indexOf('=');
    if (equals >= 0) {
      options[body.slice(0, equals)] = body.slice(equals + 1);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      options[body] = next;
      i += 1;
    } else {
      options[body] = true;
    }
  }
  return { options, positionals, argv: [...argv] };
}

/**
 * The argv a worker's task sees: each token's parts joined, a side input's binding replaced by its local
 * path and a uri_folder output's by the worker's folder for it. Without parts, `argv` as it is.
 */
export function workerArgv(
  job: { argv: readonly string[]; argvParts?: readonly (readonly ArgvPart[])[] },
  localInputs: Readonly<Record<string, string>>,
  outputFolders: Readonly<Record<string, string>>,
): string[] {
  if (!job.argvParts) return [...job.argv];
  return job.argvParts.map((parts) =>
    parts
      .map((part) => {
        if (typeof part === 'string') return part;
        const local = 'input' in part ? localInputs[part.input] : outputFolders[part.output];
        // The activity materializes every side input and the worker makes every folder before init().
        if (local === undefined) throw new Error(`no local path for ${JSON.stringify(part)}`);
        return local;
      })
      .join(''),
  );
}
