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
