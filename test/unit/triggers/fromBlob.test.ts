import fc from 'fast-check';
import { BlobTriggerBindingError } from '../../../src/errors';
import { JOB_NAME_PATTERN } from '../../../src/job/schema';
import { blobJobId, blobUploadFromTrigger, ignoreReason } from '../../../src/triggers/fromBlob';
import { defaultJobName, rejectionRecordName } from '../../../src/triggers/shared';
import { isJobId } from '../../../src/submit/ids';

describe('which blobs start jobs', () => {
  it.each(['nightly.yml', 'team/nightly.yaml', 'NIGHTLY.JSON'])('%s starts a job', (name) => {
    expect(ignoreReason(name)).toBeUndefined();
  });

  it.each([
    ['_rejected/nightly.yml.json', /rejection record/],
    ['notes.txt', /not a job spec/],
    ['nightly.yml.bak', /not a job spec/],
    ['README', /not a job spec/],
  ])('%s is ignored', (name, reason) => {
    expect(ignoreReason(name)).toMatch(reason);
  });

  it('records a rejection next to the blob, under _rejected/', () => {
    expect(rejectionRecordName('team/nightly.yml')).toBe('_rejected/team/nightly.yml.json');
  });
});

describe('job ids from uploads', () => {
  it('is blob.<readable name and etag>.<hash>, without the extension', () => {
    expect(blobJobId('team/nightly.yml', '"0x8DCB0F1E2A3B4C5"')).toMatch(
      /^blob\.team-nightly-0x8dcb0f1e2a3b4c5\.[0-9a-f]{16}$/,
    );
  });

  it('is the same for a re-delivery and different for a new upload of the same name', () => {
    expect(blobJobId('a.yml', '"0x1A"')).toBe(blobJobId('a.yml', '0x1A'));
    expect(blobJobId('a.yml', '"0x1A"')).not.toBe(blobJobId('a.yml', '"0x1B"'));
  });

  it('is always a valid job id, and names or etags that read alike stay apart', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 400 }),
        fc.stringMatching(/^"0x[0-9A-F]{15}"$/),
        (name, etag) => {
          const id = blobJobId(`${name}.yml`, etag);
          expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/);
          expect(isJobId(id)).toBe(true);
          expect(blobJobId(`${name}.yml`, `${etag}x`)).not.toBe(id);
          expect(blobJobId(`${name}-.yml`, etag)).not.toBe(id);
        },
      ),
    );
  });
});

describe('default job names', () => {
  it('is the base name without the extension', () => {
    expect(defaultJobName('team/nightly-score.yml')).toBe('nightly-score');
  });

  it('always fits the job name rule', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (name) => {
        expect(defaultJobName(`${name}.yaml`)).toMatch(JOB_NAME_PATTERN);
      }),
    );
  });
});

describe('reading the blob trigger', () => {
  it('takes the name token and the etag, however the host cases it', () => {
    for (const key of ['etag', 'eTag', 'ETag']) {
      const upload = blobUploadFromTrigger(
        Buffer.from('x'),
        { name: 'a.yml', properties: { [key]: '"0x5"' } },
        'jobs',
      );
      expect(upload).toEqual({ name: 'a.yml', etag: '"0x5"', content: Buffer.from('x') });
    }
  });

  it('falls back to the blob path and to a content hash', () => {
    const one = blobUploadFromTrigger('spec', { blobTrigger: 'jobs/dir/a.yml' }, 'jobs');
    const two = blobUploadFromTrigger(Buffer.from('spec'), { blobTrigger: 'jobs/dir/a.yml' }, 'jobs');
    const other = blobUploadFromTrigger('other', { blobTrigger: 'jobs/dir/a.yml' }, 'jobs');
    expect(one.name).toBe('dir/a.yml');
    expect(one.etag).toBe(two.etag);
    expect(one.etag).not.toBe(other.etag);
  });

  it('says how to fix a declaration whose metadata names no blob', () => {
    expect(() => blobUploadFromTrigger(Buffer.from('x'), {}, 'jobs')).toThrow(BlobTriggerBindingError);
  });
});
