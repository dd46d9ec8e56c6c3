#!/usr/bin/env node
'use strict';
// `functions-host [appDir] [options]`: the host alone, for any Functions app. It runs from the compiled
// output, which the repository's `npm ci` builds.
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'main.js');
if (!fs.existsSync(entry)) {
  console.error('functions-host is not built yet: run `npm run build` (npm ci does it for you).');
  process.exit(1);
}
require(entry).runMain(process.argv);
