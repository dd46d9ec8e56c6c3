import { randomBytes } from 'node:crypto';
import { DownloadLinkError } from '../../../src/errors';
import { LINK_LIFETIME_MS, linkSecret, signLink, verifyLink } from '../../../src/api/links';
import { fileHeaders } from '../../../src/api/serving';

const secret = randomBytes(32);
const target = { jobId: 'job-1', kind: 'logs' as const, name: 'user_logs', path: 'mini_batch_0/a.txt' };

describe('signed download links', () => {
  it('verify to exactly what they were signed for until they expire', () => {
    const now = Date.now();
    const token = signLink(secret, target, now);
    expect(verifyLink(secret, token, now + LINK_LIFETIME_MS - 1)).toEqual(target);
    expect(() => verifyLink(secret, token, now + LINK_LIFETIME_MS)).toThrow(DownloadLinkError);
  });

  it('refuse an edited payload, another signature, another secret and garbage', () => {
    const token = signLink(secret, target);
    const [payload, signature] = token.split('.') as [string, string];
    const other = signLink(secret, { ...target, path: 'mini_batch_1/b.txt' });
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), p: '../x' }),
    ).toString('base64url');
    for (const bad of [
      `${forged}.${signature}`,
      `${payload}.${other.split('.')[1]}`,
      `${payload}.${signature.slice(0, -2)}`,
      `${payload}.${signature}.x`,
      payload,
      '',
      '..',
    ])
      expect(() => verifyLink(secret, bad)).toThrow(DownloadLinkError);
    expect(() => verifyLink(randomBytes(32), token)).toThrow(DownloadLinkError);
    expect(verifyLink(secret, other).path).toBe('mini_batch_1/b.txt');
  });

  it('use the configured secret, else one random secret for the process', () => {
    expect(linkSecret('x'.repeat(32)).toString()).toBe('x'.repeat(32));
    expect(linkSecret(undefined).equals(linkSecret(undefined))).toBe(true);
    expect(linkSecret(undefined)).toHaveLength(32);
  });
});

describe('job file headers', () => {
  it.each([
    ['text/html', true],
    ['text/html; charset=utf-8', true],
    ['text/csv', true],
    ['application/json', true],
    ['application/x-ndjson', true],
    ['application/vnd.api+json', true],
    ['application/xml', true],
    ['image/svg+xml', false],
    ['application/octet-stream', false],
    ['application/pdf', false],
    [undefined, false],
  ])('%s is served as text: %s', (stored, textual) => {
    const headers = fileHeaders(stored, 'out/part "1".bin', 10);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    expect(headers['content-type']).toBe(textual ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    expect(headers['content-disposition']).toBe(
      textual ? undefined : `attachment; filename="part__1_.bin"; filename*=UTF-8''part%20%221%22.bin`,
    );
  });
});
