'use strict';
// Seeding many blobs for benchmarks: one blob is uploaded over HTTP and its metadata record is cloned
// under the other names inside Azurite's store (100,000 HTTP uploads take minutes; cloning, seconds).
// The clones are listed and read over HTTP like any other blob. Used by plan.js and orchestrator.js.

const { createRequire } = require('node:module');

/** Catches the next Azurite blob server this process starts; call before starting Azurite. */
function captureBlobServer() {
  // The Azurite the host's storage loads: the one @parallel-job/functions-host depends on.
  const hostRequire = createRequire(require.resolve('@parallel-job/functions-host'));
  const serverModule = hostRequire('azurite/dist/src/blob/BlobServer');
  const Original = serverModule.default;
  const captured = {};
  serverModule.default = class extends Original {
    constructor(config) {
      super(config);
      captured.server = this;
    }
  };
  return captured;
}

/** Clones the record of the uploaded blob `container/nameOf(0)` under `nameOf(1)` .. `nameOf(count - 1)`. */
function cloneBlobRecords(captured, container, nameOf, count) {
  const blobs = captured.server.metadataStore.db.getCollection('$BLOBS_COLLECTION$');
  const template = blobs.findOne({ containerName: container, name: nameOf(0) });
  // lokijs keeps its binary indices sorted on every insert (an array splice each: quadratic at a million
  // blobs); insert with the indices left dirty, then sort each once.
  blobs.adaptiveBinaryIndices = false;
  for (let i = 1; i < count; i += 1) {
    const doc = structuredClone(template);
    delete doc.$loki;
    delete doc.meta;
    doc.name = nameOf(i);
    blobs.insert(doc);
  }
  blobs.ensureAllIndexes(true);
  blobs.adaptiveBinaryIndices = true;
}

module.exports = { captureBlobServer, cloneBlobRecords };
