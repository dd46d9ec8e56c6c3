const ESM_PACKAGES = ['hyparquet', 'hyparquet-compressors', 'hyparquet-writer', 'hysnappy'];

/** @type {import('jest').Config} */
module.exports = {
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
  // Two cores: one file at a time keeps timing-sensitive tests (timeouts, crash recovery) honest.
  maxWorkers: 1,
};
