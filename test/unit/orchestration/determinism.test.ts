import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Determinism lint for the orchestrators. Orchestrator code is replayed from history, so it must not
 * read the clock, draw random numbers, wait on real timers, touch the process, the network or storage,
 * or import a module that might. The checker parses the sources with the TypeScript compiler and follows
 * relative imports, so a helper module that breaks the rules is caught through the file importing it.
 */

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const orchestrationDir = path.join(repoRoot, 'src', 'orchestration');

/** Project modules outside src/orchestration that hold only schemas, constants and types. */
const PURE_PROJECT_MODULES = [
  'src/activities/contracts.ts',
  'src/job/effective.ts',
  'src/plan/descriptor.ts',
  'src/failureCodes.ts',
];

/** Packages the orchestrators may import: zod for values, durable-functions for types only. */
const ALLOWED_PACKAGES: Record<string, 'value' | 'type'> = { zod: 'value', 'durable-functions': 'type' };

/** Globals whose mere use makes replay depend on the outside world. */
const FORBIDDEN_GLOBALS = new Set([
  'setTimeout',
  'setInterval',
  'setImmediate',
  'queueMicrotask',
  'process',
  'fetch',
  'crypto',
  'performance',
  'require',
  'globalThis',
  'eval',
]);

interface Finding {
  file: string;
  line: number;
  rule: string;
}

/** Files as the checker sees them: repo-relative path -> source text. */
type SourceReader = (file: string) => string | undefined;

function resolveRelative(from: string, specifier: string, read: SourceReader): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}/index.ts`]) {
    if (read(candidate) !== undefined && candidate.endsWith('.ts')) return candidate;
  }
  return `${base}.ts`;
}

/** Names of identifiers that are not references: property names, declarations of members, keys. */
function isReference(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false;
  if (ts.isQualifiedName(parent) && parent.right === node) return false;
  if (ts.isPropertyAssignment(parent) && parent.name === node) return false;
  if (ts.isPropertySignature(parent) || ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent))
    return parent.name !== node;
  if (ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent)) return false;
  // Inside type positions nothing runs.
  for (let up: ts.Node = node; up.parent; up = up.parent) if (ts.isTypeNode(up)) return false;
  return true;
}

function checkFile(file: string, source: string): { findings: Finding[]; imports: string[] } {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const findings: Finding[] = [];
  const imports: string[] = [];
  const report = (node: ts.Node, rule: string): void => {
    findings.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, rule });
  };
  const checkSpecifier = (node: ts.Node, specifier: string, typeOnly: boolean): void => {
    if (specifier.startsWith('.')) {
      imports.push(specifier);
      return;
    }
    const allowed = ALLOWED_PACKAGES[specifier];
    if (allowed === 'value' || (allowed === 'type' && typeOnly)) return;
    report(node, allowed === 'type' ? `value import of ${specifier}` : `import of ${specifier}`);
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.every((element) => element.isTypeOnly)));
      checkSpecifier(node, node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      checkSpecifier(node, node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node)) {
      report(node, 'import = require');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      report(node, 'dynamic import');
    } else if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const call = `${node.expression.text}.${node.name.text}`;
      if (call === 'Date.now' || call === 'Math.random') report(node, call);
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'Date' &&
      (node.arguments === undefined || node.arguments.length === 0)
    ) {
      report(node, 'new Date()');
    } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text) && isReference(node)) {
      report(node, node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { findings, imports };
}

/** Checks `entries` and every module they reach through relative imports. */
function lintOrchestration(entries: string[], read: SourceReader, pureModules: string[]): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = read(file);
    if (source === undefined) {
      findings.push({ file, line: 0, rule: 'unresolved import' });
      continue;
    }
    const result = checkFile(file, source);
    findings.push(...result.findings);
    for (const specifier of result.imports) {
      const target = resolveRelative(file, specifier, read);
      const inOrchestration = path.posix.dirname(target) === 'src/orchestration';
      if (!inOrchestration && !pureModules.includes(target)) {
        findings.push({ file, line: 0, rule: `import of ${target}` });
        continue;
      }
      queue.push(target);
    }
  }
  return findings;
}

const readRepoFile: SourceReader = (file) => {
  try {
    return readFileSync(path.join(repoRoot, file), 'utf8');
  } catch {
    return undefined;
  }
};

describe('determinism lint of src/orchestration', () => {
  const sources = readdirSync(orchestrationDir)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => `src/orchestration/${name}`);

  it('finds the orchestrators and their pure dependencies', () => {
    expect(sources).toEqual(
      expect.arrayContaining(['src/orchestration/root.ts', 'src/orchestration/shard.ts']),
    );
    for (const module of PURE_PROJECT_MODULES) expect(readRepoFile(module)).toBeDefined();
  });

  it('has no I/O, clock, randomness, real timers or impure imports', () => {
    expect(lintOrchestration(sources, readRepoFile, PURE_PROJECT_MODULES)).toEqual([]);
  });

  describe('the checker itself', () => {
    const files: Record<string, string> = {
      'src/orchestration/bad.ts': [
        "import { readFileSync } from 'node:fs';",
        "import * as df from 'durable-functions';",
        "import { BlobStore } from '../storage/blobStore';",
        "import { helper } from './helper';",
        "import { z } from 'zod';",
        'export function* orchestrator() {',
        '  const a = Date.now();',
        '  const b = new Date();',
        '  const c = Math.random();',
        '  setTimeout(() => undefined, 10);',
        '  setInterval(() => undefined, 10);',
        '  const d = process.env.HOME;',
        "  const e = fetch('http://x');",
        '  const f = crypto.randomUUID();',
        '  const g = performance.now();',
        "  const h = await import('./other');",
        '  const ok = new Date(1000);',
        '  const key = { fetch: 1 }.fetch;',
        '  return [a, b, c, d, e, f, g, h, ok, key, helper, z, df, readFileSync, BlobStore];',
        '}',
      ].join('\n'),
      'src/orchestration/helper.ts': 'export const helper = () => Math.random();\n',
      'src/orchestration/other.ts': 'export const other = 1;\n',
      'src/orchestration/clean.ts': [
        "import type { OrchestrationContext } from 'durable-functions';",
        "import { z } from 'zod';",
        "import { ActivityNames } from '../activities/contracts';",
        'export const schema = z.object({ at: z.string() });',
        'export function at(context: OrchestrationContext): string {',
        '  return new Date(context.df.currentUtcDateTime.getTime()).toISOString() + ActivityNames.plan;',
        '}',
      ].join('\n'),
      'src/activities/contracts.ts': "export const ActivityNames = { plan: 'plan' } as const;\n",
    };
    const read: SourceReader = (file) => files[file];
    const pure = ['src/activities/contracts.ts'];

    it('reports every violation, including one reached through a relative import', () => {
      const findings = lintOrchestration(['src/orchestration/bad.ts'], read, pure);
      const rules = findings.map((finding) => `${finding.file}:${finding.line} ${finding.rule}`);
      expect(rules).toEqual([
        'src/orchestration/bad.ts:1 import of node:fs',
        'src/orchestration/bad.ts:2 value import of durable-functions',
        'src/orchestration/bad.ts:7 Date.now',
        'src/orchestration/bad.ts:8 new Date()',
        'src/orchestration/bad.ts:9 Math.random',
        'src/orchestration/bad.ts:10 setTimeout',
        'src/orchestration/bad.ts:11 setInterval',
        'src/orchestration/bad.ts:12 process',
        'src/orchestration/bad.ts:13 fetch',
        'src/orchestration/bad.ts:14 crypto',
        'src/orchestration/bad.ts:15 performance',
        'src/orchestration/bad.ts:16 dynamic import',
        'src/orchestration/bad.ts:0 import of src/storage/blobStore.ts',
        'src/orchestration/helper.ts:1 Math.random',
      ]);
    });

    it('accepts type imports of durable-functions, zod, pure modules and new Date(value)', () => {
      expect(lintOrchestration(['src/orchestration/clean.ts'], read, pure)).toEqual([]);
    });

    it('reports an impure module imported by an allowed pure module', () => {
      const withImpureContract: SourceReader = (file) =>
        file === 'src/activities/contracts.ts'
          ? "import { x } from '../storage/layout';\nexport const ActivityNames = { plan: x } as const;\n"
          : files[file];
      expect(lintOrchestration(['src/orchestration/clean.ts'], withImpureContract, pure)).toEqual([
        { file: 'src/activities/contracts.ts', line: 0, rule: 'import of src/storage/layout.ts' },
      ]);
    });
  });
});
