import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  type HttpClient,
  type Pipeline,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import { storageRetryPolicy, storageSharedKeyCredentialPolicy } from '@azure/storage-common';
import type { StoreRetryOptions } from './blobStore';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY, parseConnectionString } from '@parallel-job/functions-host';

/**
 * List Blobs without the SDK's response mapping. The SDK turns each page of XML into a generic object
 * tree and then maps it field by field; for 5,000 blobs a page that costs several times what the
 * service takes to answer, and it is most of a large plan's CPU and garbage. The listing XML has a
 * fixed, flat shape, so a scan for the few fields planning needs is exact and far cheaper.
 */

/** How requests are authorized: a shared key, a SAS query, or Azure AD tokens. */
export type ListingAccess =
  | { kind: 'sharedKey'; accountName: string; accountKey: Buffer }
  | { kind: 'sas'; query: string }
  | { kind: 'token'; credential: TokenCredential };

export interface ListedBlob {
  name: string;
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
  metadata?: Record<string, string>;
}

export interface ListingPage {
  blobs: ListedBlob[];
  /** Folder names ending in the delimiter (hierarchical listings only). */
  prefixes: string[];
  nextMarker?: string;
}

export interface ListingRequest {
  container: string;
  prefix: string;
  marker?: string;
  pageSize: number;
  includeMetadata?: boolean;
  delimiter?: string;
}

/** The newest service version Azurite and the SDK both speak; listing's XML shape is stable across them. */
const SERVICE_VERSION = '2025-01-05';

/** How to sign listing requests with what a connection string holds (a SAS or an account key). */
export function connectionStringAccess(connectionString: string): ListingAccess | undefined {
  if (/UseDevelopmentStorage=true/i.test(connectionString))
    return {
      kind: 'sharedKey',
      accountName: DEV_ACCOUNT,
      accountKey: Buffer.from(DEV_ACCOUNT_KEY, 'base64'),
    };
  const parts = parseConnectionString(connectionString);
  const sas = parts.get('sharedaccesssignature');
  if (sas) return { kind: 'sas', query: sas.replace(/^\?/, '') };
  const accountName = parts.get('accountname');
  const accountKey = parts.get('accountkey');
  if (accountName && accountKey)
    return { kind: 'sharedKey', accountName, accountKey: Buffer.from(accountKey, 'base64') };
  return undefined;
}

export class BlobLister {
  private readonly pipeline: Pipeline;
  private readonly client: HttpClient;

  constructor(
    private readonly accountUrl: string,
    private readonly access: ListingAccess,
    retry: Required<StoreRetryOptions>,
  ) {
    this.pipeline = createEmptyPipeline();
    this.pipeline.addPolicy(storageRetryPolicy(retry), { phase: 'Retry' });
    if (access.kind === 'sharedKey') {
      this.pipeline.addPolicy(
        storageSharedKeyCredentialPolicy({ accountName: access.accountName, accountKey: access.accountKey }),
        { phase: 'Sign' },
      );
    } else if (access.kind === 'token') {
      this.pipeline.addPolicy(
        bearerTokenAuthenticationPolicy({
          credential: access.credential,
          scopes: 'https://storage.azure.com/.default',
        }),
        { phase: 'Sign' },
      );
    }
    this.client = createDefaultHttpClient();
  }

  /** One page of the listing. Errors carry `statusCode` and `code` like the SDK's, for toStorageError. */
  async page(request: ListingRequest): Promise<ListingPage> {
    const query: [string, string][] = [
      ['restype', 'container'],
      ['comp', 'list'],
    ];
    if (request.prefix) query.push(['prefix', request.prefix]);
    if (request.delimiter) query.push(['delimiter', request.delimiter]);
    if (request.marker) query.push(['marker', request.marker]);
    query.push(['maxresults', String(request.pageSize)]);
    if (request.includeMetadata) query.push(['include', 'metadata']);
    // %20, not URLSearchParams' '+': the shared-key signature is computed over the decoded query.
    const encoded = query.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
    const sas = this.access.kind === 'sas' ? `&${this.access.query}` : '';
    const url = `${this.accountUrl}/${encodeURIComponent(request.container)}?${encoded}${sas}`;
    const response = await this.pipeline.sendRequest(
      this.client,
      createPipelineRequest({
        url,
        method: 'GET',
        headers: createHttpHeaders({ 'x-ms-version': SERVICE_VERSION }),
        // Azurite speaks plain HTTP; tokens are never sent over it (the bearer policy refuses).
        allowInsecureConnection: this.access.kind !== 'token',
      }),
    );
    const body = response.bodyAsText ?? '';
    if (response.status !== 200) {
      const code = response.headers.get('x-ms-error-code') ?? element(body, 'Code');
      const message = element(body, 'Message') ?? `List Blobs answered ${response.status}`;
      throw Object.assign(new RestError(message.split('\n')[0] ?? message, { statusCode: response.status }), {
        code,
      });
    }
    return parseListing(body);
  }
}

const ENTITY = /&(?:#x([0-9a-fA-F]+)|#(\d+)|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(
    ENTITY,
    (_, hex: string | undefined, dec: string | undefined, name: string | undefined) =>
      hex ? String.fromCodePoint(parseInt(hex, 16)) : dec ? String.fromCodePoint(Number(dec)) : NAMED[name!]!,
  );
}

/** The text of the first `<tag>` (with or without attributes) inside `xml`, unescaped. */
function element(xml: string, tag: string): string | undefined {
  const open = xml.indexOf(`<${tag}`);
  if (open < 0) return undefined;
  const close = xml.indexOf('>', open);
  if (xml[close - 1] === '/') return '';
  const end = xml.indexOf(`</${tag}>`, close);
  if (end < 0) return undefined;
  const text = unescapeXml(xml.slice(close + 1, end));
  // Names with characters XML cannot carry come percent-encoded, flagged Encoded="true".
  return /\sEncoded="true"/.test(xml.slice(open, close)) ? decodeURIComponent(text) : text;
}

/** Each `<tag>...</tag>` block in order (blocks of the same tag do not nest in a listing). */
function* blocks(xml: string, tag: string): Generator<string> {
  const open = `<${tag}>`;
  const close = `</${tag}>`;
  let at = xml.indexOf(open);
  while (at >= 0) {
    const end = xml.indexOf(close, at);
    if (end < 0) return;
    yield xml.slice(at + open.length, end);
    at = xml.indexOf(open, end + close.length);
  }
}

function metadataOf(blob: string): Record<string, string> | undefined {
  const start = blob.indexOf('<Metadata>');
  if (start < 0) return undefined;
  const end = blob.indexOf('</Metadata>', start);
  const body = blob.slice(start + '<Metadata>'.length, end);
  const metadata: Record<string, string> = {};
  for (const match of body.matchAll(/<([A-Za-z_][\w.-]*)>([^<]*)<\/\1>/g))
    metadata[match[1]!] = unescapeXml(match[2]!);
  return metadata;
}

/** The fields of a List Blobs response body that planning needs. */
export function parseListing(xml: string): ListingPage {
  const blobsStart = xml.indexOf('<Blobs>');
  const blobsEnd = xml.lastIndexOf('</Blobs>');
  const list = blobsStart >= 0 && blobsEnd > blobsStart ? xml.slice(blobsStart, blobsEnd) : '';
  const blobs: ListedBlob[] = [];
  for (const blob of blocks(list, 'Blob')) {
    const properties = element(blob, 'Properties') ?? '';
    const listed: ListedBlob = {
      name: element(blob, 'Name') ?? '',
      size: Number(element(properties, 'Content-Length') ?? 0),
      etag: element(properties, 'Etag') ?? '',
      lastModified: new Date(element(properties, 'Last-Modified') ?? 0),
    };
    const contentType = element(properties, 'Content-Type');
    if (contentType) listed.contentType = contentType;
    const metadata = metadataOf(blob);
    if (metadata) listed.metadata = metadata;
    blobs.push(listed);
  }
  const prefixes = [...blocks(list, 'BlobPrefix')].map((prefix) => element(prefix, 'Name') ?? '');
  const tail = blobsEnd >= 0 ? xml.slice(blobsEnd) : xml;
  const nextMarker = element(tail, 'NextMarker');
  return nextMarker ? { blobs, prefixes, nextMarker } : { blobs, prefixes };
}
