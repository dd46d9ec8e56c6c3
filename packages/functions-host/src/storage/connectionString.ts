/**
 * Connection strings: the one parser, and the emulator's development account that
 * `UseDevelopmentStorage=true` stands for. It lives in the host because the host imports nothing from the
 * apps it hosts; an app that needs them (to reach the emulator's storage itself) imports them from the
 * package's entry point.
 */

/**
 * Azurite's well-known development account, which `UseDevelopmentStorage=true` stands for. It is public
 * and only ever valid against the emulator.
 */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** The connection string of the development account on an emulator's three endpoints. */
export function developmentConnectionString(endpoints: {
  blob: string;
  queue: string;
  table: string;
}): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_ACCOUNT_KEY};` +
    `BlobEndpoint=${endpoints.blob};QueueEndpoint=${endpoints.queue};TableEndpoint=${endpoints.table};`
  );
}

/** The development account's endpoints on an emulator whose services answer at these origins. */
export function developmentEndpoints(origins: { blob: string; queue: string; table: string }): {
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  connectionString: string;
} {
  const blobEndpoint = `${origins.blob}/${DEV_ACCOUNT}`;
  const queueEndpoint = `${origins.queue}/${DEV_ACCOUNT}`;
  const tableEndpoint = `${origins.table}/${DEV_ACCOUNT}`;
  return {
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    connectionString: developmentConnectionString({
      blob: blobEndpoint,
      queue: queueEndpoint,
      table: tableEndpoint,
    }),
  };
}

/** The `Key=value` fields of a connection string by lower-cased key (values may contain '='). */
export function parseConnectionString(connectionString: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const segment of connectionString.split(';')) {
    const equals = segment.indexOf('=');
    if (equals > 0)
      fields.set(segment.slice(0, equals).trim().toLowerCase(), segment.slice(equals + 1).trim());
  }
  return fields;
}
