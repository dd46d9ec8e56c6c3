'use strict';
// Runs every benchmark of this app in turn (`npm run bench` builds first and runs the workspace packages'
// own benchmarks before these). Quick sizes by default, so a run takes a few minutes; `npm run bench --
// --full` runs the sizes recorded in RESULTS.md (about an hour on 2 cores).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const full = process.argv.includes('--full');
const benches = [
  ['pool-overhead.js', ...(full ? [] : ['1000'])],
  ['python-pool.js', ...(full ? [] : ['1000'])],
  ['python-dataframe.js', ...(full ? [] : ['20000'])],
  ['plan.js', ...(full ? [] : ['--quick'])],
  ['orchestrator.js', ...(full ? [] : ['--quick'])],
  ['dispatch.js', ...(full ? [] : ['--quick'])],
];
let failed = 0;
for (const [file, ...args] of benches) {
  console.log(`\n== bench/${file} ${args.join(' ')}`);
  const run = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, file), ...args], {
    stdio: 'inherit',
  });
  if (run.status !== 0) failed += 1;
}
process.exitCode = failed > 0 ? 1 : 0;
