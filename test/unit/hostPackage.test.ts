import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DURABLE_FUNCTIONS_VERSION } from '@parallel-job/functions-host';
import { Linter, type ESLint } from 'eslint';
import ts from 'typescript';

// This app uses the embedded host (packages/functions-host) through the package's one entry point. A
// deep import into its files is a build error (package.json `exports`, which moduleResolution nodenext
// honours), fails in Node too, and ESLint keeps relative paths from crossing the package's folder.

const repoRoot = path.join(__dirname, '..', '..');
const HOST = '@parallel-job/functions-host';
/** A file the package has (its build makes it), but not at its entry point. */
const DEEP = `${HOST}/dist/storage/azurite`;

/** What tsc says of a file of this app's holding `source`, compiled with the root tsconfig.json. */
function compile(source: string): string[] {
  const file = path.join(repoRoot, 'src', 'packageWall.ts');
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(repoRoot, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '));
      },
    },
  );
  if (!config) throw new Error('tsconfig.json did not parse');
  const options = { ...config.options, noEmit: true };
  const compilerHost = ts.createCompilerHost(options);
  const getSourceFile = compilerHost.getSourceFile.bind(compilerHost);
  const fileExists = compilerHost.fileExists.bind(compilerHost);
  const readFile = compilerHost.readFile.bind(compilerHost);
  compilerHost.getSourceFile = (name, languageVersion, ...rest) =>
    name === file
      ? ts.createSourceFile(name, source, languageVersion)
      : getSourceFile(name, languageVersion, ...rest);
  compilerHost.fileExists = (name) => name === file || fileExists(name);
  compilerHost.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, compilerHost);
  return ts
    .getPreEmitDiagnostics(program)
    .map(
      (diagnostic) => `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`,
    );
}

/** Node's own `require` of `id` from the repository root, in a process of its own (jest's differs). */
function requireInNode(id: string): void {
  execFileSync(process.execPath, ['-e', `require(${JSON.stringify(id)})`], { cwd: repoRoot, stdio: 'pipe' });
}

describe('the wall around the host package', () => {
  it('lets this app import the entry point', () => {
    expect(
      compile(`import { startLocalHost } from '${HOST}';\nexport const start = startLocalHost;\n`),
    ).toEqual([]);
    expect(() => requireInNode(HOST)).not.toThrow();
  });

  it('makes a deep import a build error, though the file is there', () => {
    expect(
      fs.existsSync(path.join(repoRoot, 'packages', 'functions-host', 'dist', 'storage', 'azurite.js')),
    ).toBe(true);
    expect(compile(`import { startAzurite } from '${DEEP}';\nexport const start = startAzurite;\n`)).toEqual([
      expect.stringMatching(new RegExp(`^TS2307: Cannot find module '${DEEP}'`)),
    ]);
  });

  it('makes a deep import fail in Node', () => {
    expect(() => requireInNode(DEEP)).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('has ESLint refuse paths across the package folder and deep imports by name', () => {
    // eslint.config.js is CommonJS; its rule is the one `npm run lint` runs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const config = require(path.join(repoRoot, 'eslint.config.js')) as {
      plugins?: Record<string, ESLint.Plugin>;
    }[];
    const workspace = config.find((entry) => entry.plugins?.workspace)?.plugins?.workspace;
    expect(workspace).toBeDefined();
    const linter = new Linter({ cwd: repoRoot });
    const lint = (file: string, code: string): (string | null)[] =>
      linter
        .verify(
          code,
          [
            {
              files: ['**/*.js'],
              plugins: { workspace: workspace! },
              rules: { 'workspace/package-wall': 'error' },
            },
          ],
          path.join(repoRoot, file),
        )
        .map((message) => message.messageId ?? message.message);

    expect(lint('src/cli/wall.js', `import { startLocalHost } from '${HOST}';`)).toEqual([]);
    expect(lint('src/cli/wall.js', `import { startAzurite } from '${DEEP}';`)).toEqual(['deep']);
    expect(lint('src/cli/wall.js', "import '../../packages/functions-host/src/host';")).toEqual(['byPath']);
    expect(lint('bench/wall.js', "require('../packages/functions-host/dist/index.js');")).toEqual(['byPath']);
    expect(lint('packages/functions-host/src/wall.js', "import './storage/azurite';")).toEqual([]);
    expect(lint('packages/functions-host/src/wall.js', "import '../../../src/errors';")).toEqual(['outside']);
    expect(
      lint('packages/functions-host/test/e2e/wall.js', "require('../../../../test/support/jobs');"),
    ).toEqual(['outside']);
  });
});

it('this app pins the durable-functions version the host engine reads', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  expect(pkg.dependencies['durable-functions']).toBe(DURABLE_FUNCTIONS_VERSION);
});
