import fs from 'node:fs';
import path from 'node:path';
import { startAzurite } from './azurite';
import { childConfigSchema, stateFile, type StorageState } from './localStorage';

/**
 * The storage process (started by storage.ts, one JSON argument): Azurite's blob, queue and table
 * servers with their data under the folder, and the blob-lookup speed-up of azurite.ts. Writes
 * `storage.json` once it serves; SIGTERM/SIGINT close the servers, which saves Azurite's metadata.
 * Nothing else stops it: it outlives a host that crashed, for the next host on the folder.
 */
async function serve(): Promise<void> {
  const config = childConfigSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
  fs.mkdirSync(config.folder, { recursive: true });
  const azurite = await startAzurite({
    dataDir: config.folder,
    host: config.host,
    blobPort: config.ports.blob,
    queuePort: config.ports.queue,
    tablePort: config.ports.table,
  });
  const port = (endpoint: string): number => Number(new URL(endpoint).port);
  const state: StorageState = {
    pid: process.pid,
    token: config.token,
    host: config.host,
    ports: {
      blob: port(azurite.blobEndpoint),
      queue: port(azurite.queueEndpoint),
      table: port(azurite.tableEndpoint),
    },
    startedAt: new Date().toISOString(),
  };
  const file = stateFile(config.folder);
  const temporary = path.join(config.folder, `.storage.${process.pid}.json`);
  fs.writeFileSync(temporary, JSON.stringify(state, null, 2));
  fs.renameSync(temporary, file);
  console.log(`${state.startedAt} storage ${process.pid} serving on ${config.host}:${state.ports.blob}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${new Date().toISOString()} storage ${process.pid}: ${signal}, saving and stopping`);
    azurite.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The terminal of the host that started it may close; storage stays until told to stop.
  process.on('SIGHUP', () => undefined);
}

serve().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
