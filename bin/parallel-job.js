#!/usr/bin/env node
'use strict';
// The CLI runs from the compiled output; `npm ci` builds it (the "prepare" script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  console.error('parallel-job is not built yet: run `npm run build` (npm ci does it for you).');
  process.exit(1);
}
require(entry)
  .main(process.argv)
  .then(
    (code) => process.exit(code ?? 0),
    (error) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
