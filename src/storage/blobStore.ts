import { open, stat } from 'node:fs/promises';
import {
  BlobServiceClient,
  type BlobClient,
  type BlobGetPropertiesResponse,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { z } from 'zod';
import type { Settings } from '../config';
import { ConfigError, InputChangedError, StorageContentError, UnsafeBlobNameError } from '../errors';
import { blobPathProblem } from './access';
import {
  BlobLister,
  connectionStringAccess,
  type ListedBlob,
  type ListingAccess,
  type ListingPage,
  type ListingRequest,
} from './listing';
import { isStatus, toStorageError } from './storageErrors';

/** Files up to this size are uploaded in one request from memory (uploadFile). */
const SMALL_FILE_BYTES = 4 * 2 ** 20;

/** What a listing or a stat tells about one blob; enough to plan without downloading anything. */
export type BlobInfo = ListedBlob;

export interface ListOptions {
  includeMetadata?: boolean;
  /** Blobs per listing request (the service caps it at 5000). */
  pageSize?: number;
}

export interface WriteOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Write only when no blob has the name; an existing blob is not an error (`created: false`). */
  ifNotExists?: boolean;
}

export interface WriteResult {
  etag: string;
  created: boolean;
}

/** How requests retry throttled and failed calls before a StorageTransientError reaches the caller. */
export interface StoreRetryOptions {
  /** Attempts per request, the first included. */
  maxTries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

export interface BlobStoreOptions {
  retry?: StoreRetryOptions;
}

const DEFAULT_RETRY: Required<StoreRetryOptions> = {
  maxTries: 4,
  retryDelayInMs: 500,
  maxRetryDelayInMs: 8000,
};

function pipelineOptions(options: BlobStoreOptions | undefined): StoragePipelineOptions {
  return { retryOptions: { ...DEFAULT_RETRY, ...options?.retry } };
}

function normalizeAccountUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

function infoFromProperties(name: string, props: BlobGetPropertiesResponse): BlobInfo {
  const info: BlobInfo = {
    name,
    size: props.contentLength ?? 0,
    etag: props.etag ?? '',
    lastModified: props.lastModified ?? new Date(0),
  };
  if (props.contentType) info.contentType = props.contentType;
  if (props.metadata) info.metadata = props.metadata;
  return info;
}

async function collect(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/**
 * The one way the project talks to blob storage. Every failure leaves as a project error
 * (StorageNotFoundError, StorageAccessDeniedError, StorageTransientError, StorageError) naming the
 * container and blob, so callers never see SDK errors.
 */
export class BlobStore {
  readonly accountUrl: string;
  private readonly ensured = new Set<string>();
  private readonly lister: BlobLister;

  private constructor(
    private readonly service: BlobServiceClient,
    /** Set for identity-based stores; reused when another account is addressed. */
    private readonly credential: TokenCredential | undefined,
    private readonly options: BlobStoreOptions | undefined,
    access: ListingAccess,
  ) {
    const url = new URL(service.url);
    this.accountUrl = normalizeAccountUrl(`${url.origin}${url.pathname}`);
    this.lister = new BlobLister(this.accountUrl, access, { ...DEFAULT_RETRY, ...options?.retry });
  }

  static fromConnectionString(connectionString: string, options?: BlobStoreOptions): BlobStore {
    const service = BlobServiceClient.fromConnectionString(connectionString, pipelineOptions(options));
    const access = connectionStringAccess(connectionString);
    if (!access) {
      throw new ConfigError([
        {
          path: 'AzureWebJobsStorage',
          message: 'the connection string has neither AccountName/AccountKey nor SharedAccessSignature',
        },
      ]);
    }
    return new BlobStore(service, undefined, options, access);
  }

  /** An identity-based store: Azure AD tokens from `credential` (DefaultAzureCredential when omitted). */
  static fromAccountUrl(
    accountUrl: string,
    credential?: TokenCredential,
    options?: BlobStoreOptions,
  ): BlobStore {
    const cred = credential ?? new DefaultAzureCredential();
    return new BlobStore(
      new BlobServiceClient(normalizeAccountUrl(accountUrl), cred, pipelineOptions(options)),
      cred,
      options,
      { kind: 'token', credential: cred },
    );
  }

  /**
   * The app's store: the `AzureWebJobsStorage` connection string, or identity-based access through
   * `AzureWebJobsStorage__blobServiceUri` (a user-assigned identity when `__clientId` is set).
   */
  static fromSettings(settings: Settings, options?: BlobStoreOptions): BlobStore {
    if (settings.AzureWebJobsStorage)
      return BlobStore.fromConnectionString(settings.AzureWebJobsStorage, options);
    const serviceUri = settings.AzureWebJobsStorage__blobServiceUri;
    if (!serviceUri) {
      throw new ConfigError([
        {
          path: 'AzureWebJobsStorage',
          message:
            'set a connection string, or AzureWebJobsStorage__blobServiceUri for identity-based access',
        },
      ]);
    }
    const clientId = settings.AzureWebJobsStorage__clientId;
    const credential: TokenCredential =
      settings.AzureWebJobsStorage__credential === 'managedidentity'
        ? new ManagedIdentityCredential(clientId ? { clientId } : {})
        : new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
    return BlobStore.fromAccountUrl(serviceUri, credential, options);
  }

  /** The store for an input on another account: this one when it is the same account, else identity-based. */
  forAccount(accountUrl: string): BlobStore {
    const normalized = normalizeAccountUrl(accountUrl);
    if (normalized.toLowerCase() === this.accountUrl.toLowerCase()) return this;
    return BlobStore.fromAccountUrl(normalized, this.credential, this.options);
  }

  private container(container: string): ContainerClient {
    return this.service.getContainerClient(container);
  }

  /** Every call on one blob goes through here: `.` and `..` segments would address another container. */
  private blob(container: string, name: string): BlobClient {
    const problem = blobPathProblem(name);
    if (problem) throw new UnsafeBlobNameError(container, name, problem);
    return this.container(container).getBlobClient(name);
  }

  /** Creates the container if needed; remembered per instance so hot paths pay once. */
  async ensureContainer(container: string): Promise<void> {
    if (this.ensured.has(container)) return;
    try {
      await this.container(container).createIfNotExists();
    } catch (error) {
      throw toStorageError(error, container);
    }
    this.ensured.add(container);
  }

  /** Every blob under `prefix` in listing (lexicographic) order, one page in memory at a time. */
  async *list(container: string, prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    for await (const page of this.listPages(container, prefix, options)) yield* page;
  }

  /** The listing one service page at a time. */
  async *listPages(container: string, prefix: string, options?: ListOptions): AsyncIterable<BlobInfo[]> {
    for await (const page of this.listing(container, {
      prefix,
      pageSize: options?.pageSize ?? 5000,
      includeMetadata: options?.includeMetadata ?? false,
    }))
      yield page.blobs;
  }

  /** One service page of a listing from `marker`, and the marker of the next page (none at the end). */
  async listPage(
    container: string,
    prefix: string,
    options: ListOptions & { marker?: string },
  ): Promise<{ blobs: BlobInfo[]; nextMarker?: string }> {
    try {
      const page = await this.lister.page({
        container,
        prefix,
        ...(options.marker ? { marker: options.marker } : {}),
        pageSize: options.pageSize ?? 5000,
        includeMetadata: options.includeMetadata ?? false,
      });
      return { blobs: page.blobs, ...(page.nextMarker ? { nextMarker: page.nextMarker } : {}) };
    } catch (error) {
      throw toStorageError(error, container);
    }
  }

  /**
   * One folder level under `prefix`: sub-folder names (ending in `/`) and the blobs directly in it, in
   * listing order. Used to walk partition folders without listing every file.
   */
  async *listFolder(
    container: string,
    prefix: string,
    options?: { pageSize?: number },
  ): AsyncIterable<{ folder: string } | { blob: BlobInfo }> {
    for await (const page of this.listing(container, {
      prefix,
      pageSize: options?.pageSize ?? 5000,
      delimiter: '/',
    })) {
      // The service returns folders and blobs of one page in two lists; merge them back into name order.
      const entries: Array<{ folder: string } | { blob: BlobInfo }> = [
        ...page.prefixes.map((folder) => ({ folder })),
        ...page.blobs.map((blob) => ({ blob })),
      ];
      const nameOf = (entry: { folder: string } | { blob: BlobInfo }): string =>
        'folder' in entry ? entry.folder : entry.blob.name;
      entries.sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
      yield* entries;
    }
  }

  /** Every page of a listing, following the service's continuation markers. */
  private async *listing(
    container: string,
    request: Omit<ListingRequest, 'container' | 'marker'>,
  ): AsyncIterable<ListingPage> {
    let marker: string | undefined;
    do {
      let page: ListingPage;
      try {
        page = await this.lister.page({ container, marker, ...request });
      } catch (error) {
        throw toStorageError(error, container);
      }
      marker = page.nextMarker;
      yield page;
    } while (marker);
  }

  /** The blob's properties, or undefined when it does not exist. */
  async stat(container: string, name: string): Promise<BlobInfo | undefined> {
    try {
      return infoFromProperties(name, await this.blob(container, name).getProperties());
    } catch (error) {
      if (isStatus(error, 404) && !isContainerMissing(error)) return undefined;
      throw toStorageError(error, container, name);
    }
  }

  /**
   * The blob's bytes, or the bytes of [start, end) when a range is given (empty past the end). With
   * `ifMatch`, only that version is read: another one is an InputChangedError.
   */
  async read(
    container: string,
    name: string,
    range?: { start: number; end?: number },
    options?: { ifMatch?: string },
  ): Promise<Buffer> {
    const start = range?.start ?? 0;
    const count = range?.end === undefined ? undefined : range.end - start;
    if (count !== undefined && count <= 0) return Buffer.alloc(0);
    try {
      const response = await this.blob(container, name).download(start, count, {
        maxRetryRequests: 3,
        ...(options?.ifMatch ? { conditions: { ifMatch: options.ifMatch } } : {}),
      });
      return await collect(response.readableStreamBody);
    } catch (error) {
      // A range that starts at or past the end is empty, not an error: readers probe past the end.
      if (isStatus(error, 416)) return Buffer.alloc(0);
      if (options?.ifMatch && isStatus(error, 412))
        throw new InputChangedError(container, name, { cause: error });
      throw toStorageError(error, container, name);
    }
  }

  async readText(container: string, name: string): Promise<string> {
    return (await this.read(container, name)).toString('utf8');
  }

  /** Reads and validates a JSON blob; a blob that is not JSON or does not fit the schema names itself. */
  async readJson<T>(container: string, name: string, schema: z.ZodType<T>): Promise<T> {
    const text = await this.readText(container, name);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new StorageContentError(container, name, `not valid JSON (${(error as Error).message})`, {
        cause: error,
      });
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      throw new StorageContentError(container, name, issues, { cause: parsed.error });
    }
    return parsed.data;
  }

  /**
   * Writes a block blob in one request. With `ifNotExists`, the write happens only when the name is
   * free, which makes "first writer wins" markers and idempotent re-runs cheap.
   */
  async write(
    container: string,
    name: string,
    body: string | Buffer,
    options?: WriteOptions,
  ): Promise<WriteResult> {
    const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const client = this.blob(container, name).getBlockBlobClient();
    try {
      const response = await client.upload(data, data.length, {
        ...(options?.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {}),
        ...(options?.metadata ? { metadata: options.metadata } : {}),
        ...(options?.ifNotExists ? { conditions: { ifNoneMatch: '*' } } : {}),
      });
      return { etag: response.etag ?? '', created: true };
    } catch (error) {
      if (options?.ifNotExists && isNameTaken(error)) return this.existing(container, name);
      throw toStorageError(error, container, name);
    }
  }

  /** The answer to a write with `ifNotExists` whose name was taken: the blob that holds it. */
  private async existing(container: string, name: string): Promise<WriteResult> {
    return { etag: (await this.stat(container, name))?.etag ?? '', created: false };
  }

  async writeJson(
    container: string,
    name: string,
    value: unknown,
    options?: { ifNotExists?: boolean; metadata?: Record<string, string> },
  ): Promise<WriteResult> {
    return this.write(container, name, JSON.stringify(value), {
      ...options,
      contentType: 'application/json',
    });
  }

  /**
   * Uploads a local file; returns its size in bytes. A small file is read whole and sent as one request
   * (one open and read here, none of the stream's); a larger one is streamed in parallel chunks without
   * being held whole.
   */
  async uploadFile(
    container: string,
    name: string,
    localPath: string,
    options?: { contentType?: string },
  ): Promise<number> {
    const headers = options?.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {};
    try {
      const client = this.blob(container, name).getBlockBlobClient();
      const file = await open(localPath);
      let small: Buffer | undefined;
      try {
        if ((await file.stat()).size <= SMALL_FILE_BYTES) small = await file.readFile();
      } finally {
        await file.close();
      }
      if (small) {
        await client.upload(small, small.length, headers);
        return small.length;
      }
      await client.uploadFile(localPath, { concurrency: 4, ...headers });
      return (await stat(localPath)).size;
    } catch (error) {
      throw toStorageError(error, container, name);
    }
  }

  /**
   * Creates an empty append blob unless one exists; says whether it did. Append blobs take one write per
   * batch of lines, where a block blob would need a rewrite or a stage and a commit.
   */
  async createAppendBlob(
    container: string,
    name: string,
    contentType: string,
  ): Promise<{ created: boolean }> {
    try {
      await this.blob(container, name)
        .getAppendBlobClient()
        .create({ blobHTTPHeaders: { blobContentType: contentType }, conditions: { ifNoneMatch: '*' } });
      return { created: true };
    } catch (error) {
      if (isStatus(error, 409) || isStatus(error, 412)) return { created: false };
      throw toStorageError(error, container, name);
    }
  }

  /**
   * Appends `body` at byte `position` (the blob's length when the caller last saw it). A retried request
   * whose first try landed finds the blob already `position + body.length` long: that is success, not a
   * second copy.
   */
  async appendAt(container: string, name: string, position: number, body: Buffer): Promise<void> {
    try {
      await this.blob(container, name)
        .getAppendBlobClient()
        .appendBlock(body, body.length, { conditions: { appendPosition: position } });
    } catch (error) {
      if (isStatus(error, 412)) {
        const size = (await this.stat(container, name))?.size;
        if (size === position + body.length) return;
      }
      throw toStorageError(error, container, name);
    }
  }

  /** Stages one uncommitted block; staging the same id again replaces it (idempotent by id). */
  async stageBlock(container: string, name: string, blockId: string, body: Buffer): Promise<void> {
    try {
      await this.blob(container, name).getBlockBlobClient().stageBlock(blockId, body, body.length);
    } catch (error) {
      throw toStorageError(error, container, name);
    }
  }

  /** Makes the blob the given blocks in the given order (staged or already committed ones). */
  async commitBlocks(
    container: string,
    name: string,
    blockIds: string[],
    options?: {
      contentType?: string;
      metadata?: Record<string, string>;
      /** Commit only if the blob still has this etag, or (`ifNoneMatch: '*'`) still does not exist. */
      conditions?: { ifMatch?: string; ifNoneMatch?: string };
    },
  ): Promise<void> {
    try {
      await this.blob(container, name)
        .getBlockBlobClient()
        .commitBlockList(blockIds, {
          ...(options?.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {}),
          ...(options?.metadata ? { metadata: options.metadata } : {}),
          ...(options?.conditions ? { conditions: options.conditions } : {}),
        });
    } catch (error) {
      throw toStorageError(error, container, name);
    }
  }

  /** The blob's block ids; both lists are empty when nothing was staged or committed under the name. */
  async listBlocks(container: string, name: string): Promise<{ committed: string[]; uncommitted: string[] }> {
    try {
      const list = await this.blob(container, name).getBlockBlobClient().getBlockList('all');
      return {
        committed: (list.committedBlocks ?? []).map((block) => block.name),
        uncommitted: (list.uncommittedBlocks ?? []).map((block) => block.name),
      };
    } catch (error) {
      if (isStatus(error, 404) && !isContainerMissing(error)) return { committed: [], uncommitted: [] };
      throw toStorageError(error, container, name);
    }
  }

  /** Deletes the blob; a blob that is already gone is fine. */
  async delete(container: string, name: string): Promise<void> {
    try {
      await this.blob(container, name).deleteIfExists();
    } catch (error) {
      if (isStatus(error, 404)) return;
      throw toStorageError(error, container, name);
    }
  }

  /** The container's or blob's URL (no credentials in it). */
  url(container: string, name?: string): string {
    const client = this.container(container);
    return name === undefined ? client.url : this.blob(container, name).url;
  }

  /** The blob's body as a stream, for large reads that must not be buffered. */
  async stream(container: string, name: string): Promise<NodeJS.ReadableStream> {
    try {
      const response = await this.blob(container, name).download(0, undefined, { maxRetryRequests: 3 });
      if (!response.readableStreamBody) throw new Error('the service returned no body');
      return response.readableStreamBody;
    } catch (error) {
      throw toStorageError(error, container, name);
    }
  }

  /**
   * Downloads the blob into a local file (streamed, not buffered whole). With `ifMatch`, only that version
   * is read: another one is an InputChangedError.
   */
  async downloadToFile(
    container: string,
    name: string,
    localPath: string,
    options?: { ifMatch?: string },
  ): Promise<void> {
    try {
      await this.blob(container, name).downloadToFile(localPath, 0, undefined, {
        maxRetryRequests: 3,
        ...(options?.ifMatch ? { conditions: { ifMatch: options.ifMatch } } : {}),
      });
    } catch (error) {
      if (options?.ifMatch && isStatus(error, 412))
        throw new InputChangedError(container, name, { cause: error });
      throw toStorageError(error, container, name);
    }
  }

  /**
   * Uploads a local file with metadata, as `write` does for bytes: with `ifNotExists` only when the name is
   * free (`created: false` otherwise), with `ifMatch` only over that version.
   */
  async putFile(
    container: string,
    name: string,
    localPath: string,
    options: WriteOptions & { ifMatch?: string },
  ): Promise<WriteResult> {
    const conditions = options.ifNotExists
      ? { ifNoneMatch: '*' }
      : options.ifMatch
        ? { ifMatch: options.ifMatch }
        : undefined;
    try {
      const response = await this.blob(container, name)
        .getBlockBlobClient()
        .uploadFile(localPath, {
          concurrency: 4,
          ...(options.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {}),
          ...(options.metadata ? { metadata: options.metadata } : {}),
          ...(conditions ? { conditions } : {}),
        });
      return { etag: response.etag ?? '', created: true };
    } catch (error) {
      if (options.ifNotExists && isNameTaken(error)) return this.existing(container, name);
      throw toStorageError(error, container, name);
    }
  }
}

/** A conditional create found the name taken. */
function isNameTaken(error: unknown): boolean {
  return isStatus(error, 409) || isStatus(error, 412);
}

function isContainerMissing(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ContainerNotFound';
}
