const ESM_PACKAGES = ['hyparquet', 'hyparquet-compressors', 'hyparquet-writer', 'hysnappy'];

const typescript = ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }];

/** One of this app's three kinds of test: test/unit, test/integration or test/e2e. */
const appProject = (kind) => ({
  displayName: kind,
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: [`<rootDir>/test/${kind}`],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': typescript,
    // The Parquet reader and writer ship as ES modules only: Node requires them as they are, jest's
    // module system needs them as CommonJS.
    [`/node_modules/(${ESM_PACKAGES.join('|')})/.+\\.js$`]: typescript,
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
});

/**
 * One run for every kind and every package: `npm test` (and .ci/run's one JSON report) counts the app's
 * unit, integration and end-to-end tests and each workspace package's, which keeps its own configuration
 * (packages/<name>/jest.config.js). `npm run test:unit` runs the unit project alone, in seconds.
 */
/** @type {import('jest').Config} */
module.exports = {
  projects: [
    appProject('unit'),
    appProject('integration'),
    appProject('e2e'),
    '<rootDir>/packages/functions-host',
  ],
  // A run-wide option: jest ignores it inside a project's configuration.
  testTimeout: 60_000,
  // Two cores: one file at a time keeps timing-sensitive tests (timeouts, crash recovery) honest.
  maxWorkers: 1,
};
