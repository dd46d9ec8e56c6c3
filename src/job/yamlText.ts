import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { PathIssue } from './issues';

/**
 * Safe YAML: the core schema only (no custom tags, no `!!js` or merge keys), a bounded number of alias
 * expansions (no "billion laughs"), unique keys, one document. Positions are kept so that validation
 * issues can point at a line and column.
 */
export const MAX_ALIAS_COUNT = 50;

export interface Position {
  line: number;
  column: number;
}

export type YamlParse =
  | { ok: true; value: unknown; locate: (path: readonly (string | number)[]) => Position | undefined }
  | { ok: false; issues: (PathIssue & Partial<Position>)[] };

export function parseYaml(text: string): YamlParse {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    schema: 'core',
    customTags: [],
    uniqueKeys: true,
    lineCounter,
    prettyErrors: true,
  });
  // Unresolved tags are only warnings to the yaml library; here any unknown tag is a refusal.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length) {
    return {
      ok: false,
      issues: problems.map((problem) => ({
        path: [],
        message: `YAML: ${firstLine(problem.message)}`,
        ...(problem.linePos ? { line: problem.linePos[0].line, column: problem.linePos[0].col } : {}),
      })),
    };
  }
  try {
    const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return { ok: true, value, locate: (path) => locate(doc, lineCounter, path) };
  } catch (error) {
    return {
      ok: false,
      issues: [{ path: [], message: `YAML: ${firstLine(String((error as Error).message))}` }],
    };
  }
}

/** The library's first line, without its own " at line x, column y:" (the issue carries the position). */
function firstLine(message: string): string {
  return message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** The deepest node on `path`; for a mapping entry, its key (where the user looks for the field). */
function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): Position | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined = isNodeWithRange(node) ? node : undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) break;
      if (isNodeWithRange(pair.key)) found = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (isNodeWithRange(node)) found = node;
    } else break;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return undefined;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function isNodeWithRange(value: unknown): value is Node {
  return (
    typeof value === 'object' && value !== null && 'range' in value && Array.isArray((value as Node).range)
  );
}
