/** @type {import('jest').Config} */
module.exports = {
  displayName: 'functions-host',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  testTimeout: 60_000,
  // One test file at a time keeps timing-sensitive tests (crash recovery, kills) honest on two cores:
  // `npm test` here passes --maxWorkers=1, and the repository's jest, which runs this configuration as
  // one of its projects, sets it for all of them.
};
