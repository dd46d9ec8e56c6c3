#!/usr/bin/env node
// Runs before `npm test`: the page tests drive a real headless Chromium. Finds one, or installs Debian's
// `chromium` package when it can (root with apt-get, as on a fresh machine of this project's kind), or
// says in one line what to install. No browser is downloaded from anywhere else.
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');

const candidates = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter(Boolean);

const found = () => candidates.find((candidate) => existsSync(candidate));

if (!found()) {
  const canInstall =
    process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    console.error(
      'npm test needs Chromium for the page tests: install it first (Debian/Ubuntu: sudo apt-get install chromium), or set CHROMIUM_PATH.',
    );
    process.exit(1);
  }
  console.error("npm test: installing Debian's chromium package for the page tests (once)...");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (!found()) {
    console.error(
      'npm test: apt-get installed chromium, but no browser was found at ' + candidates.join(', '),
    );
    process.exit(1);
  }
}
