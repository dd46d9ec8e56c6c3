import fc from 'fast-check';
import { accessPolicyFor } from '../../../src/composition';
import { loadSettings } from '../../../src/config';
import { InputPathError, UnsafeBlobNameError } from '../../../src/errors';
import { BlobStore } from '../../../src/storage/blobStore';
import { DEV_ACCOUNT, DEV_ACCOUNT_KEY } from '@parallel-job/functions-host';
import { resolveInputLocation } from '../../../src/storage/inputs';
import { blobJobId } from '../../../src/triggers/fromBlob';
import { jobIdForMessage } from '../../../src/triggers/fromMessage';
import { checkClientJobId, isJobId } from '../../../src/submit/ids';
import { scheduleJobId } from '../../../src/triggers/schedules/occurrences';

/**
 * Random paths, URLs and ids, hostile by construction (unicode, `..`, encoded slashes and dots,
 * backslashes, long strings): whatever the policy accepts addresses storage inside an allowed place, as
 * the storage SDK itself resolves the URL; and ids from different sources never meet.
 */

const blobEndpoint = `http://127.0.0.1:10000/${DEV_ACCOUNT}`;
const store = BlobStore.fromConnectionString(
  `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
);
const settings = loadSettings({
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  PARALLEL_JOB_READ_PLACES: 'inputs, shared/public',
  PARALLEL_JOB_WRITE_PLACES: 'outputs',
});
const access = accessPolicyFor(settings, store.accountUrl);
const readableContainers = new Set(['inputs', 'outputs', 'shared']);
const writableContainers = new Set(['outputs']);

const pieces = [
  'inputs',
  'outputs',
  'shared',
  'public',
  'logs',
  'jobs',
  'schedules',
  'app-package',
  'azure-webjobs-secrets',
  'paralleljob-leases',
  '..',
  '.',
  '%2e%2e',
  '%2E%2e',
  '%2F',
  '%2f',
  '%5C',
  '\\',
  '/',
  '//',
  'é',
  '漢',
  '😀',
  ' ',
  '?',
  '#',
  '%',
  '%00',
  'a',
  'data',
  '..%2F',
  '.%2e',
  'x'.repeat(300),
];
const hostilePath = fc
  .array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.join(''));
/** `<container>/<segment>/...`: mostly plausible paths, with hostile segments mixed in. */
const structuredPath = fc
  .tuple(
    fc.constantFrom(
      'inputs',
      'outputs',
      'shared',
      'logs',
      'jobs',
      'app-package',
      'azure-webjobs-secrets',
      '',
    ),
    fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 8 })), { maxLength: 5 }),
  )
  .map(([container, segments]) => [container, ...segments].join('/'));
const somePath = fc.oneof(hostilePath, structuredPath);
const hostileUrl = fc
  .tuple(
    fc.constantFrom(
      `${blobEndpoint}/`,
      'http://localhost:10000/devstoreaccount1/',
      'https://evil.blob.example.test/',
      'https://someaccount.blob.core.windows.net/',
      'https://x.blob.core.windows.net.evil.test/',
      'https://user@someaccount.blob.core.windows.net/',
    ),
    somePath,
  )
  .map(([base, rest]) => `${base}${rest}`);

/** Where the SDK would send a request for this location: the account and container of the URL it builds. */
function addressed(container: string, prefix: string): { account: string; container: string } {
  const url = new URL(store.url(container, prefix));
  const segments = url.pathname.split('/').map(decodeURIComponent);
  return { account: `${url.origin}/${segments[1]}`, container: segments[2] ?? '' };
}

describe('confinement of data paths', () => {
  it('an accepted path always addresses an allowed container of the app account', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(somePath, hostileUrl), fc.constantFrom('read', 'write' as const), (raw, mode) => {
        let location;
        try {
          location = resolveInputLocation(raw, { accountUrl: store.accountUrl });
        } catch (error) {
          return error instanceof InputPathError;
        }
        if (access.problem(location, mode) !== undefined) return true;
        accepted += 1;
        // Accepted: the account is the app's (no other account is allowed here) and the URL the SDK
        // builds for it lands in an allowed container, whatever the path held.
        const target = addressed(location.container, location.prefix || 'x');
        return (
          location.accountUrl.toLowerCase() === store.accountUrl.toLowerCase() &&
          target.account === blobEndpoint &&
          (mode === 'read' ? readableContainers : writableContainers).has(target.container) &&
          (target.container !== 'shared' || location.prefix.startsWith('public'))
        );
      }),
      { numRuns: 3000 },
    );
    // The generator reaches allowed places often enough for the property to say something.
    expect(accepted).toBeGreaterThan(100);
  });

  it('a leading slash is part of the blob name: shared//public is not the place shared/public', () => {
    const location = resolveInputLocation('shared//public', { accountUrl: store.accountUrl });
    expect(location.prefix).toBe('/public');
    expect(access.problem(location, 'read')).toMatch(/is not a place jobs may read/);
    expect(
      access.problem(resolveInputLocation('shared/public/', { accountUrl: store.accountUrl }), 'read'),
    ).toBe(undefined);
  });

  it('the store refuses any blob name that would resolve to another path', () => {
    fc.assert(
      fc.property(somePath, (name) => {
        let url: string;
        try {
          url = store.url('outputs', name);
        } catch (error) {
          return error instanceof UnsafeBlobNameError;
        }
        return (
          addressed('outputs', name).container === 'outputs' &&
          new URL(url).pathname.startsWith(`/${DEV_ACCOUNT}/outputs/`)
        );
      }),
      { numRuns: 3000 },
    );
  });
});

/** The job a (non-blank) message id starts. */
function messageJob(messageId: string): string {
  const derived = jobIdForMessage(messageId);
  if (!('jobId' in derived)) throw new Error(`message id ${JSON.stringify(messageId)} was dead-lettered`);
  return derived.jobId;
}

describe('job ids', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'grapheme', maxLength: 60 }),
    fc.constantFrom('order#1', 'order 1', 'order/1', 'order-1', '..', '../jobs/evil', '%2F', 'a.b', ''),
  );
  const when = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true });

  it('ids from blobs, messages and schedules are valid, never shared across sources, and never a client id', () => {
    fc.assert(
      fc.property(text, text, when, (a, b, date) => {
        const second = new Date(Math.floor(date.getTime() / 1000) * 1000);
        const ids = [
          blobJobId(`${a}.yml`, `"0x${b.length}"`),
          messageJob(a.trim() || 'm'),
          scheduleJobId(a, second),
        ];
        for (const id of ids) {
          expect(isJobId(id)).toBe(true);
          expect(() => checkClientJobId(id)).toThrow(/not a valid job id/);
        }
        expect(new Set(ids).size).toBe(3);
      }),
      { numRuns: 2000 },
    );
  });

  it('different originals of one source never share an id; the same original always has the same one', () => {
    fc.assert(
      fc.property(text, text, when, (a, b, date) => {
        const second = new Date(Math.floor(date.getTime() / 1000) * 1000);
        const [idA, idB] = [a.trim() ? a : 'm', b.trim() ? b : 'm'];
        expect(messageJob(idA)).toBe(messageJob(idA));
        expect(messageJob(idA) === messageJob(idB)).toBe(idA === idB);
        expect(blobJobId(`${a}.yml`, '"0x1"') === blobJobId(`${b}.yml`, '"0x1"')).toBe(a === b);
        expect(scheduleJobId(a, second) === scheduleJobId(b, second)).toBe(a === b);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the places settings', () => {
  const policy = (places: Record<string, string>) =>
    accessPolicyFor(
      loadSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', ...places }),
      store.accountUrl,
    );

  it.each([
    [
      { PARALLEL_JOB_WRITE_PLACES: 'outputs, logs' },
      'PARALLEL_JOB_WRITE_PLACES',
      /'logs' is the job logs container/,
    ],
    [{ PARALLEL_JOB_READ_PLACES: 'azure-webjobs-secrets' }, 'PARALLEL_JOB_READ_PLACES', /Functions host/],
    [{ PARALLEL_JOB_READ_PLACES: 'paralleljob-largemessages' }, 'PARALLEL_JOB_READ_PLACES', /task hub/],
    [
      { PARALLEL_JOB_READ_PLACES: 'https://evil.example.test/data' },
      'PARALLEL_JOB_READ_PLACES',
      /not an Azure blob endpoint/,
    ],
    [{ PARALLEL_JOB_WRITE_PLACES: 'outputs/../logs' }, 'PARALLEL_JOB_WRITE_PLACES', /segment/],
  ])('%j is a settings error naming the setting', (places, setting, why) => {
    expect(() => policy(places)).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        issues: [{ path: setting, message: expect.stringMatching(why) }],
      }),
    );
  });

  it('another account is allowed only as listed, down to its folder', () => {
    const access = policy({
      PARALLEL_JOB_READ_PLACES: 'inputs, https://lake.blob.core.windows.net/raw/2026',
    });
    const lake = (prefix: string) => ({
      accountUrl: 'https://lake.blob.core.windows.net',
      container: 'raw',
      prefix,
    });
    expect(access.problem(lake('2026/day1'), 'read')).toBeUndefined();
    expect(access.problem(lake('2026'), 'read')).toBeUndefined();
    expect(access.problem(lake('20261'), 'read')).toMatch(
      /not a place jobs may read; jobs may read inputs, .*lake.*raw\/2026\//,
    );
    expect(access.problem(lake('2026/day1'), 'write')).toMatch(
      /not a place jobs may write; jobs may write outputs/,
    );
    expect(
      access.problem({ ...lake('2026'), accountUrl: 'https://other.blob.core.windows.net' }, 'read'),
    ).toMatch(/not a place/);
  });
});
