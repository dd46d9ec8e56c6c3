/**
 * Connection strings: the one parser the product uses, and the emulator's development account that
 * `UseDevelopmentStorage=true` stands for. (src/local has its own copy: it imports nothing from here.)
 */

/** Azurite's well-known development account. It is public and only ever valid against the emulator. */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

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
