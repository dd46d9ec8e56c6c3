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
