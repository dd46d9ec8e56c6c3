#!/usr/bin/env node
// Runs before `npm test`. The tests drive real programs the npm registry does not ship: a headless
// Chromium for the pages, and Python 3 with pandas for Python tasks. Finds them, or installs Debian's
// packages when it can (root with apt-get, as on a fresh machine of this project's kind), or says in one
// line what to install. Nothing is downloaded from anywhere else.
const { execFileSync, spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');

const browsers = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter(Boolean);
// The tests' interpreter: PARALLEL_JOB_PYTHON, or Debian's python3 (test/support/python.ts).
const python = process.env.PARALLEL_JOB_PYTHON || '/usr/bin/python3';

const hasBrowser = () => browsers.some((candidate) => existsSync(candidate));
const hasPandas = () => spawnSync(python, ['-c', 'import pandas'], { stdio: 'ignore' }).status === 0;

const missing = [];
if (!hasBrowser())
  missing.push({ package: 'chromium', what: 'Chromium for the page tests (or set CHROMIUM_PATH)' });
if (!hasPandas())
  missing.push({
    package: 'python3-pandas',
    what: `Python 3 with pandas for the Python task tests (or set PARALLEL_JOB_PYTHON to an interpreter that has it; tried ${python})`,
  });

if (missing.length > 0) {
  // Debian's pandas serves Debian's python3, not an interpreter PARALLEL_JOB_PYTHON names.
  const canInstall =
    process.platform === 'linux' &&
    process.getuid?.() === 0 &&
    existsSync('/usr/bin/apt-get') &&
    !(process.env.PARALLEL_JOB_PYTHON && !hasPandas());
  const names = missing.map((entry) => entry.package);
  if (!canInstall) {
    console.error(
      `npm test needs ${missing.map((entry) => entry.what).join(', and ')}: install them first (Debian/Ubuntu: sudo apt-get install ${['python3', ...names].join(' ')}).`,
    );
    process.exit(1);
  }
  console.error(`npm test: installing Debian's ${names.join(' and ')} for the tests (once)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'python3', ...names], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (!hasBrowser()) {
    console.error(`npm test: apt-get installed chromium, but no browser was found at ${browsers.join(', ')}`);
    process.exit(1);
  }
  if (!hasPandas()) {
    console.error(`npm test: apt-get installed python3-pandas, but ${python} still cannot import pandas`);
    process.exit(1);
  }
}
