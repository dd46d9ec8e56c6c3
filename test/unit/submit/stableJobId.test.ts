import fc from 'fast-check';
import { stableJobId } from '../../../src/submit/submit';

const VALID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

describe('stableJobId', () => {
  it('keeps short ids readable and the same for the same parts', () => {
    expect(stableJobId('nightly', '2026-11-24T02:00:00Z')).toBe('nightly-2026-11-24T02-00-00Z');
    expect(stableJobId('score files.yml', '0x8DD')).toBe('score-files.yml-0x8DD');
  });

  it('always gives a valid id, and long texts sharing their first 100 characters stay apart', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ minLength: 1, maxLength: 20 }), (text, tail) => {
        const id = stableJobId(text);
        expect(id).toMatch(VALID);
        expect(stableJobId(text)).toBe(id);
        const prefix = 'm'.repeat(100) + text;
        expect(stableJobId(prefix)).not.toBe(stableJobId(`${prefix}${tail}`));
      }),
    );
  });
});
