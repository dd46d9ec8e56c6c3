import { DataPlaceRefusedError } from '../errors';
import type { InputLocation } from '../plan/descriptor';

/**
 * Where jobs may read and write. A job spec is untrusted input, and the app's identity can touch every
 * blob of its account (the Functions host's secrets, the task hub, the deployment package), so every
 * data path a job names is checked against this policy: at submission, and again where it is used
 * (plan, run, finalize, the file route), so that a job record edited in storage cannot widen it.
 */

export type AccessMode = 'read' | 'write';

/** A container, or a folder in it, on one account. `prefix` '' is the whole container. */
export interface DataPlace {
  accountUrl: string;
  container: string;
  prefix: string;
}

export interface AccessPolicySettings {
  /** The app's own account (BlobStore.accountUrl). */
  appAccountUrl: string;
  /** Places as settings write them: `<container>[/<prefix>]` or `https://<account>.blob.<suffix>/<container>[/<prefix>]`. */
  readable: readonly string[];
  writable: readonly string[];
  /** Containers of the app's account that only the app itself uses, each with the reason. */
  reserved: Readonly<Record<string, string>>;
  /** Container-name prefixes the platform owns (the Functions host's, the task hub's). */
  reservedPrefixes: Readonly<Record<string, string>>;
}

/** Blob endpoints of the Azure clouds; a token is sent to no other host. */
export const AZURE_BLOB_SUFFIXES = [
  '.blob.core.windows.net',
  '.blob.core.usgovcloudapi.net',
  '.blob.core.chinacloudapi.cn',
  '.blob.core.cloudapi.de',
] as const;

const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;

/** A problem with a settings entry, or undefined: the place as written and why it cannot be used. */
export class PlaceSettingError extends Error {
  constructor(
    readonly entry: string,
    readonly problem: string,
  ) {
    super(`'${entry}' ${problem}`);
  }
}

const normalizeAccount = (url: string): string => url.replace(/\/+$/, '').toLowerCase();

/** Whether two account URLs name the same account (case and trailing slashes aside). */
export function sameAccount(a: string, b: string): boolean {
  return normalizeAccount(a) === normalizeAccount(b);
}

export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  );
}

/** `<account>.blob.core.windows.net` and the sovereign clouds' equivalents. */
export function isAzureBlobHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return AZURE_BLOB_SUFFIXES.some(
    (suffix) => host.endsWith(suffix) && /^[a-z0-9]{3,24}$/.test(host.slice(0, -suffix.length)),
  );
}

/**
 * Why a blob name or prefix is unsafe to hand to storage, or undefined. The storage SDK resolves `.` and
 * `..` segments in URLs, so `logs` + `../jobs/x` would address the `jobs` container.
 */
export function blobPathProblem(name: string): string | undefined {
  if (name.length > 1024) return 'is longer than the 1,024 characters a blob name may have';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains control characters';
  if (name.includes('\\')) return 'contains a backslash; blob paths use /';
  if (name.split('/').some((segment) => segment === '.' || segment === '..'))
    return 'contains a "." or ".." segment';
  return undefined;
}

function trimPrefix(prefix: string): string {
  return prefix.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Reads one settings entry into a place; throws PlaceSettingError. */
function parsePlace(entry: string, appAccountUrl: string): DataPlace {
  const text = entry.trim();
  let accountUrl = appAccountUrl;
  let rest = text;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new PlaceSettingError(entry, 'is not a valid URL');
    }
    if (url.search || url.hash) throw new PlaceSettingError(entry, 'must not carry a query or fragment');
    let segments: string[];
    try {
      segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    } catch {
      throw new PlaceSettingError(entry, 'has a malformed %-escape');
    }
    const appLocal = isLoopbackHost(new URL(appAccountUrl).hostname);
    if (isLoopbackHost(url.hostname)) {
      if (!appLocal)
        throw new PlaceSettingError(
          entry,
          'is an emulator address, allowed only when the app itself runs on one',
        );
      accountUrl = `${url.origin}/${segments.shift() ?? ''}`;
    } else if (url.protocol === 'https:' && isAzureBlobHost(url.hostname)) {
      accountUrl = url.origin;
    } else {
      throw new PlaceSettingError(
        entry,
        `is not an Azure blob endpoint (https://<account>${AZURE_BLOB_SUFFIXES[0]}/<container>, or a sovereign cloud's)`,
      );
    }
    rest = segments.join('/');
  }
  const trimmed = trimPrefix(rest);
  const slash = trimmed.indexOf('/');
  const container = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const prefix = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (!CONTAINER_NAME.test(container))
    throw new PlaceSettingError(entry, `does not start with a valid container name ('${container}')`);
  const problem = blobPathProblem(prefix);
  if (problem) throw new PlaceSettingError(entry, problem);
  return { accountUrl: normalizeAccount(accountUrl), container, prefix: trimPrefix(prefix) };
}

export class AccessPolicy {
  readonly appAccountUrl: string;
  readonly readable: readonly DataPlace[];
  readonly writable: readonly DataPlace[];
  private readonly reserved: Readonly<Record<string, string>>;
  private readonly reservedPrefixes: Readonly<Record<string, string>>;

  /** Throws PlaceSettingError for an entry that cannot be a place, or that names a reserved container. */
  constructor(settings: AccessPolicySettings) {
    this.appAccountUrl = normalizeAccount(settings.appAccountUrl);
    this.reserved = settings.reserved;
    this.reservedPrefixes = settings.reservedPrefixes;
    const parse = (entries: readonly string[]): DataPlace[] =>
      entries
        .filter((entry) => entry.trim() !== '')
        .map((entry) => {
          const place = parsePlace(entry, this.appAccountUrl);
          const why = this.reservedReason(place);
          if (why) throw new PlaceSettingError(entry, `is ${why}; jobs may never use it`);
          return place;
        });
    this.writable = parse(settings.writable);
    // A job reads what jobs write (a later job's input, the file route), so writable places are readable.
    this.readable = [...parse(settings.readable), ...this.writable];
  }

  /** Why a place on the app's account is off limits whatever the settings say, or undefined. */
  private reservedReason(place: { accountUrl: string; container: string }): string | undefined {
    if (place.container.startsWith('$')) return 'a system container of the storage service';
    if (normalizeAccount(place.accountUrl) !== this.appAccountUrl) return undefined;
    const exact = this.reserved[place.container];
    if (exact) return exact;
    for (const [prefix, why] of Object.entries(this.reservedPrefixes))
      if (place.container.startsWith(prefix)) return why;
    return undefined;
  }

  /** The places of a mode as a user reads them: `outputs`, `https://acct.blob.core.windows.net/data/x`. */
  describe(mode: AccessMode): string {
    const places = mode === 'read' ? this.readable : this.writable;
    if (places.length === 0) return 'none';
    const shown = places.map((place) => {
      const path = place.prefix ? `${place.container}/${place.prefix}/` : place.container;
      return place.accountUrl === this.appAccountUrl ? path : `${place.accountUrl}/${path}`;
    });
    return [...new Set(shown)].join(', ');
  }

  /**
   * Why a job may not read or write the location, or undefined when it may. The message names the
   * allowed places and the settings that widen them.
   */
  problem(location: InputLocation, mode: AccessMode): string | undefined {
    const pathProblem = blobPathProblem(location.prefix);
    if (pathProblem) return `the path ${pathProblem}`;
    const account = normalizeAccount(location.accountUrl);
    const reserved = this.reservedReason({ accountUrl: account, container: location.container });
    if (reserved) return `'${location.container}' is ${reserved}; jobs never read or write it`;
    // Only trailing slashes go: a leading one is part of the blob name ('/public' is not under 'public').
    const prefix = location.prefix.replace(/\/+$/, '');
    const places = mode === 'read' ? this.readable : this.writable;
    const inside = places.some(
      (place) =>
        place.accountUrl === account &&
        place.container === location.container &&
        (place.prefix === '' || prefix === place.prefix || prefix.startsWith(`${place.prefix}/`)),
    );
    if (inside) return undefined;
    const setting = mode === 'read' ? 'PARALLEL_JOB_READ_PLACES' : 'PARALLEL_JOB_WRITE_PLACES';
    const where = account === this.appAccountUrl ? '' : ` on ${location.accountUrl}`;
    return `'${location.container}/${prefix}'${where} is not a place jobs may ${mode}; jobs may ${mode} ${this.describe(mode)} (the app setting ${setting} lists them)`;
  }

  /** Throws DataPlaceRefusedError naming `what` (e.g. "the output blob") when the location is refused. */
  assert(location: InputLocation, mode: AccessMode, what: string): void {
    const problem = this.problem(location, mode);
    if (problem) throw new DataPlaceRefusedError(what, problem);
  }
}
