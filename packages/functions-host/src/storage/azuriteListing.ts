/**
 * Blob listing in time proportional to the page. Azurite's lokijs store lists a page by filtering every
 * blob of the store (`name > marker`, then the prefix as a regular expression) and sorting what is left:
 * each 5,000-blob page of a million-blob container scanned and sorted the million, and planning a
 * million blobs took 909 s. Here a page starts with a binary search in lokijs's own sorted index of
 * blob names and walks it in order until the page is full or the names leave the prefix. Pages, order,
 * markers, delimiters and leases are Azurite's (its PageWithDelimiter and lease syncer run as before).
 */

interface BlobDocument {
  accountName: string;
  containerName: string;
  name: string;
  snapshot: string;
  isCommitted: boolean;
  properties: { contentMD5?: unknown };
}

interface NameIndex {
  dirty: boolean;
  values: number[];
}
export interface BlobCollection {
  data: BlobDocument[];
  binaryIndices: Record<string, NameIndex | undefined>;
  ensureIndex(property: string, force?: boolean): void;
}

type ReadPage = (offset: number) => Promise<BlobDocument[]>;
interface Page {
  fill(read: ReadPage, name: (item: BlobDocument) => string): Promise<[BlobDocument[], unknown[], string]>;
}
type PageClass = new (maxResults: number, delimiter: string | undefined, prefix: string) => Page;

interface LeaseState {
  sync(syncer: unknown): BlobDocument;
}
interface AzuriteLeases {
  createLeaseState(adapter: unknown, context: unknown): LeaseState;
  Adapter: new (document: BlobDocument) => unknown;
  Syncer: new (document: BlobDocument) => unknown;
}

/** The part of Azurite's LokiBlobMetadataStore that listing replaces or uses. */
export interface ListingStore {
  restoreUint8Array(value: unknown): unknown;
  listBlobs: (...args: never[]) => Promise<unknown>;
  listAllBlobs: (...args: never[]) => Promise<unknown>;
}

/** The first position in the name index whose name is not below `name`. */
function lowerBound(collection: BlobCollection, values: number[], name: string): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((collection.data[values[middle] as number] as BlobDocument).name < name) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The name index, rebuilt first if lokijs left it to rebuild. */
function nameIndex(collection: BlobCollection): number[] {
  const index = collection.binaryIndices.name;
  if (!index || index.dirty) collection.ensureIndex('name', true);
  return (collection.binaryIndices.name as NameIndex).values;
}

/**
 * Documents in name order, from the first name above `after` (and at or above `prefix`), while the name
 * starts with `prefix`, that pass `keep`.
 */
function* walk(
  collection: BlobCollection,
  prefix: string,
  after: string,
  keep: (document: BlobDocument) => boolean,
): Generator<BlobDocument> {
  const values = nameIndex(collection);
  let position = lowerBound(collection, values, after > prefix ? after : prefix);
  for (; position < values.length; position += 1) {
    const document = collection.data[values[position] as number] as BlobDocument;
    // Every name from here on is at or above the prefix: the first one without it ends the range.
    if (!document.name.startsWith(prefix)) return;
    if (document.name <= after) continue;
    if (keep(document)) yield document;
  }
}

/**
 * Replaces `listBlobs` and `listAllBlobs` of Azurite's lokijs blob store (azurite 3.35.0, pinned in
 * package.json) with index walks.
 */
export function listBlobsByNameIndex(
  store: ListingStore,
  blobs: BlobCollection,
  PageWithDelimiter: PageClass,
  leases: AzuriteLeases,
): void {
  const restore = (document: BlobDocument): BlobDocument => {
    document.properties.contentMD5 = store.restoreUint8Array(document.properties.contentMD5);
    return document;
  };
  const listBlobs = async (
    context: unknown,
    account: string | undefined,
    container: string | undefined,
    delimiter: string | undefined,
    blob: string | undefined,
    prefix = '',
    maxResults = 5000,
    marker = '',
    includeSnapshots?: boolean,
    includeUncommittedBlobs?: boolean,
  ): Promise<[BlobDocument[], unknown[], string]> => {
    const keep = (document: BlobDocument): boolean =>
      (account === undefined || document.accountName === account) &&
      (container === undefined || document.containerName === container) &&
      (blob === undefined || document.name === blob) &&
      (includeSnapshots === true || document.snapshot.length === 0) &&
      (includeUncommittedBlobs === true || document.isCommitted);
    const matches = walk(blobs, blob ?? prefix, marker, keep);
    let taken = 0;
    // PageWithDelimiter asks for the matches from `offset` on, offsets only growing.
    const readPage: ReadPage = (offset) => {
      const page: BlobDocument[] = [];
      for (; taken < offset; taken += 1) if (matches.next().done) return Promise.resolve(page);
      while (page.length < maxResults) {
        const next = matches.next();
        if (next.done) break;
        page.push(next.value);
        taken += 1;
      }
      return Promise.resolve(page);
    };
    const page = new PageWithDelimiter(maxResults, delimiter, prefix);
    const [items, prefixes, nextMarker] = await page.fill(readPage, (item) => item.name);
    return [
      items.map((document) =>
        leases
          .createLeaseState(new leases.Adapter(restore(document)), context)
          .sync(new leases.Syncer(document)),
      ),
      prefixes,
      nextMarker,
    ];
  };
  // Used by Azurite's garbage collector to find the extents still referred to: every blob, every
  // container. A page also takes the blobs after it that share its last name (in other containers),
  // which the marker (a name) would otherwise skip.
  const listAllBlobs = (
    maxResults = 5000,
    marker = '',
    includeSnapshots?: boolean,
    includeUncommittedBlobs?: boolean,
  ): Promise<[BlobDocument[], string | undefined]> => {
    const keep = (document: BlobDocument): boolean =>
      (includeSnapshots === true || document.snapshot.length === 0) &&
      (includeUncommittedBlobs === true || document.isCommitted);
    const page: BlobDocument[] = [];
    for (const document of walk(blobs, '', marker, keep)) {
      const last = page[page.length - 1];
      if (page.length >= maxResults && last && document.name !== last.name)
        return Promise.resolve([page.map(restore), last.name]);
      page.push(document);
    }
    return Promise.resolve([page.map(restore), undefined]);
  };
  store.listBlobs = listBlobs;
  store.listAllBlobs = listAllBlobs;
}
