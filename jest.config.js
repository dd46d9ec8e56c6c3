const ESM_PACKAGES = ['hyparquet', 'hyparquet-compressors', 'hyparquet-writer', 'hysnappy'];

/** This app's own tests. */
const app = {
  displayName: 'parallel-job',
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
    // The Parquet reader and writer ship as ES modules only: Node requires them as they are, jest's
    // module system needs them as CommonJS.
    [`/node_modules/(${ESM_PACKAGES.join('|')})/.+\\.js$`]: [
      '@swc/jest',
      { jsc: { target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  testTimeout: 60_000,
};

/**
 * One run for every package: `npm test` (and .ci/run's one JSON report) counts the app's tests and each
 * workspace package's, which keeps its own configuration (packages/<name>/jest.config.js).
 */
/** @type {import('jest').Config} */
module.exports = {
  projects: [app, '<rootDir>/packages/functions-host'],
  // Two cores: one file at a time keeps timing-sensitive tests (timeouts, crash recovery) honest.
  maxWorkers: 1,
};
