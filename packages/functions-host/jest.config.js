/** @type {import('jest').Config} */
module.exports = {
  displayName: 'functions-host',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // Run-wide options, used when this package runs its tests alone (`npm test` here, with
  // --maxWorkers=1); as a project of the repository's jest, the repository's configuration sets them.
  testTimeout: 60_000,
};
