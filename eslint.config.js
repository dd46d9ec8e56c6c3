// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const jest = require('eslint-plugin-jest');
const prettier = require('eslint-config-prettier');
const { builtinModules } = require('node:module');

// The dependency rules between folders (docs/architecture.md says why). Imports are matched as written,
// relative to the importing file.
/** Project modules the orchestrators may import: schemas, constants and types, no I/O. */
const ORCHESTRATION_MAY_IMPORT = ['activities/contracts', 'job/effective', 'plan/descriptor'];
/** What the client may import from the rest of the project: the wire shapes and the error classes. */
const CLIENT_MAY_IMPORT = ['api/wire', 'errors'];
const LOCAL_MESSAGE =
  'src/local imports nothing outside src/local: the local host must be able to host any Functions app.';

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.parallel-job/**', 'bench/results/**'] },
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
    files: ['test/**/*.ts'],
    ...jest.configs['flat/recommended'],
    rules: {
      ...jest.configs['flat/recommended'].rules,
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
    files: ['src/local/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./', message: LOCAL_MESSAGE }] }],
    },
  },
  {
    files: ['src/local/*/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^\\.\\./\\.\\./', message: LOCAL_MESSAGE }] },
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
