// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const jestPlugin = require('eslint-plugin-jest');
const prettier = require('eslint-config-prettier');
const { builtinModules } = require('node:module');
const path = require('node:path');

// The dependency rules between folders (docs/architecture.md says why). Imports are matched as written,
// relative to the importing file.
/** Project modules the orchestrators may import: schemas, constants and types, no I/O. */
const ORCHESTRATION_MAY_IMPORT = ['activities/contracts', 'job/effective', 'plan/descriptor', 'failureCodes'];
/** What the client may import from the rest of the project: the wire shapes and the error classes. */
const CLIENT_MAY_IMPORT = ['api/wire', 'errors'];

/** The workspace packages' folder: packages/<name>, each with its own package.json and one entry point. */
const PACKAGES = path.join(__dirname, 'packages');

/** The workspace package a file belongs to (its folder), or undefined for this app's own files. */
function packageOf(file) {
  const relative = path.relative(PACKAGES, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  const name = relative.split(path.sep)[0];
  return name ? path.join(PACKAGES, name) : undefined;
}

/** The name a workspace package is imported by (its package.json `name`). */
const packageName = (home) => require(path.join(home, 'package.json')).name;

/**
 * The wall around each workspace package: it imports nothing outside its folder (packages/functions-host
 * hosts any Functions app, not only this one), and the rest of the repository imports it only by its
 * name, through its one entry point. Imports, exports, `import()` and `require()` are checked as written,
 * relative paths resolved from the importing file.
 */
const packageWall = {
  meta: {
    type: 'problem',
    schema: [],
    messages: {
      outside:
        'A workspace package imports nothing outside its folder ({{home}}): it must not change when the app changes.',
      byPath: "Import the workspace package by its name ('{{name}}'), never by path.",
      deep: "Import '{{name}}' itself: its entry point is its API, its other files are not.",
    },
  },
  create(context) {
    const file = context.filename;
    const home = packageOf(file);
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      const deep = /^(@parallel-job\/[^/]+)\/./.exec(source);
      if (deep) return context.report({ node, messageId: 'deep', data: { name: deep[1] } });
      if (!source.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), source);
      const targetHome = packageOf(target);
      if (home && targetHome !== home)
        context.report({ node, messageId: 'outside', data: { home: path.relative(__dirname, home) } });
      else if (!home && targetHome)
        context.report({ node, messageId: 'byPath', data: { name: packageName(targetHome) } });
    };
    const fromSource = (node) => node.source && check(node, node.source.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      CallExpression: (node) => {
        const [first] = node.arguments;
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && first?.type === 'Literal')
          check(node, first.value);
      },
    };
  },
};

module.exports = tseslint.config(
  {
    ignores: [
      'dist/**',
      'packages/*/dist/**',
      'node_modules/**',
      'coverage/**',
      '.parallel-job/**',
      'bench/results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    plugins: { workspace: { rules: { 'package-wall': packageWall } } },
    rules: { 'workspace/package-wall': 'error' },
  },
  {
    // Plain JavaScript (bins, benchmarks, examples, fixtures) is linted without type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: null },
      sourceType: 'commonjs',
      globals: { ...require('globals').node },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
  {
    // The pages' script runs in the browser, as a classic script inlined into each page.
    files: ['src/api/pages/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...require('globals').browser } },
  },
  {
    files: ['test/**/*.ts', 'packages/*/test/**/*.ts'],
    ...jestPlugin.configs['flat/recommended'],
    rules: {
      ...jestPlugin.configs['flat/recommended'].rules,
      'jest/no-disabled-tests': 'error',
      'jest/no-focused-tests': 'error',
      'jest/expect-expect': [
        'error',
        { assertFunctionNames: ['expect', 'expect*', 'assert*', 'fc.assert', 'refused'] },
      ],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Orchestrators are replayed: no I/O, no clock, no randomness, no Node built-ins.
    files: ['src/orchestration/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.flatMap((m) => [m, `node:${m}`]),
          patterns: [
            { group: ['@azure/*', '!@azure/functions'], message: 'No Azure clients in orchestration code.' },
            {
              group: ['@parallel-job/*'],
              message: 'Orchestration code stays free of I/O: not the host package.',
            },
            {
              // Whitelist, the same as PURE_PROJECT_MODULES in test/unit/orchestration/determinism.test.ts.
              regex: `^\\.\\./(?!(${ORCHESTRATION_MAY_IMPORT.join('|')})$)`,
              message: `Orchestration code stays free of I/O: of the project outside src/orchestration it imports only ${ORCHESTRATION_MAY_IMPORT.join(', ')} (schemas, constants, types).`,
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Use context.df.currentUtcDateTime.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use context.df.currentUtcDateTime.',
        },
        {
          selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']",
          message: 'Randomness breaks replay; derive jitter from ids.',
        },
        {
          selector: "MemberExpression[object.name='process']",
          message: 'No process state in orchestration code.',
        },
      ],
    },
  },
  {
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^\\.\\./(?!(${CLIENT_MAY_IMPORT.join('|')})$)`,
              message: `The client imports only ${CLIENT_MAY_IMPORT.map((m) => `src/${m}.ts`).join(' and ')} of the server's code: a program using it must not load the server.`,
            },
          ],
        },
      ],
    },
  },
  prettier,
);
