import { existsSync } from 'node:fs';

/** The Chromium the page tests drive (test/support/ensure-browser.js finds or installs it before `npm test`). */
export function chromiumPath(): string {
  const candidates = [
    process.env.CHROMIUM_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ].filter((candidate): candidate is string => Boolean(candidate));
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error('No Chromium found: run `npm test` (it installs one) or set CHROMIUM_PATH.');
  return found;
}
