import { createHash, randomBytes } from 'node:crypto';
import { SpecValidationError } from '../errors';

/**
 * One id rule for every job, whatever started it. Ids a client chooses (or that the app picks for a
 * client) have no dot; every id the app derives from a trigger is `<source>.<readable>.<hash>[.<suffix>]`,
 * so no client id can take a trigger's id before it is used, no two sources can share an id, and two
 * different originals (`order#1`, `order-1`) never map to the same job. A repeated delivery of the same
 * original derives the same id, so it starts nothing.
 */

export const MAX_JOB_ID_LENGTH = 100;

/** Ids a client may choose: letters, digits, '-' and '_', starting with a letter or digit. */
const CLIENT_JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
/** Any job id: a client id or a derived one (dot-separated parts, none empty). */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*$/;

export const ID_SOURCES = { blob: 'blob', message: 'msg', schedule: 'sched' } as const;
export type IdSource = (typeof ID_SOURCES)[keyof typeof ID_SOURCES];

const CLIENT_RULE = `use 1-${MAX_JOB_ID_LENGTH} letters, digits, '-' and '_', starting with a letter or digit (ids with '.' are the ones the app derives from blob uploads, messages, schedules and re-runs)`;

export function isClientJobId(id: string): boolean {
  return CLIENT_JOB_ID.test(id);
}

export function isJobId(id: string): boolean {
  return id.length <= MAX_JOB_ID_LENGTH && JOB_ID.test(id);
}

/** A client-chosen id (`?id=` on submit and re-run), or SpecValidationError at `field`. */
export function checkClientJobId(id: string, field = 'id'): string {
  if (!isClientJobId(id))
    throw new SpecValidationError([
      { path: field, message: `'${shown(id)}' is not a valid job id: ${CLIENT_RULE}` },
    ]);
  return id;
}

/** The id of a job in a route (`/api/jobs/{id}`): a client or derived id, checked before it reaches storage. */
export function checkJobId(id: string, field = 'id'): string {
  if (!isJobId(id))
    throw new SpecValidationError([
      {
        path: field,
        message: `'${shown(id)}' is not a job id: job ids are letters, digits, '-', '_' and '.'`,
      },
    ]);
  return id;
}

/** Long or unprintable ids are cut for messages; the answer never echoes more than this. */
function shown(id: string): string {
  const printable = id.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 120 ? `${printable.slice(0, 120)}...` : printable;
}

/** A readable, unique id for a job submitted without one: its name and a random suffix. */
export function newJobId(name: string | undefined): string {
  const stem = readable(name ?? 'job', 60) || 'job';
  return `${stem}-${randomBytes(6).toString('hex')}`;
}

function readable(text: string, room: number): string {
  return text
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+|-+$/g, '')
    .slice(0, room)
    .replace(/-+$/, '');
}

/**
 * A derived id: `<source>.<readable part of the original>.<sha256 of the original, 16 hex>[.<suffix>]`.
 * The hash keeps originals that read alike apart; `suffix` (e.g. a schedule occurrence) must be
 * letters, digits, '-' or '_'; `shownAs` is the text the readable part is made from, when it is not
 * the original itself.
 */
export function derivedJobId(
  source: IdSource,
  original: string,
  options: { suffix?: string; shownAs?: string } = {},
): string {
  const { suffix, shownAs = original } = options;
  const digest = createHash('sha256').update(`${source}\n${original}`).digest('hex').slice(0, 16);
  const tail = `.${digest}${suffix ? `.${suffix}` : ''}`;
  const room = Math.min(40, MAX_JOB_ID_LENGTH - source.length - 1 - tail.length - 1);
  const stem = readable(shownAs, room) || 'x';
  return `${source}.${stem}${tail}`;
}

/** Re-runs: `<job>.r<generation>`, from the first job of the chain (a re-run of `x.r1` is `x.r2`). */
export function rerunJobId(previousId: string, generation: number): string {
  const first = previousId.replace(/\.r\d+$/, '');
  const id = `${first}.r${generation}`;
  if (id.length <= MAX_JOB_ID_LENGTH) return id;
  const digest = createHash('sha256').update(first).digest('hex').slice(0, 16);
  return `${readable(first, 60)}.${digest}.r${generation}`;
}
