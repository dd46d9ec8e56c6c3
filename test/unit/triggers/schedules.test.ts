import fc from 'fast-check';
import { stringify } from 'yaml';
import { ScheduleValidationError } from '../../../src/errors';
import { issuesFrom } from '../job/helpers';
import {
  cronProblem,
  parseScheduleBlob,
  parseSettingsSchedules,
} from '../../../src/triggers/schedules/definition';
import { dueOccurrences, occurrenceStamp, scheduleJobId } from '../../../src/triggers/schedules/occurrences';

const at = (iso: string) => new Date(iso);
const isoList = (dates: Date[]) => dates.map((date) => date.toISOString());

const job = {
  name: 'nightly-score',
  inputs: { data: { type: 'uri_folder', path: 'inputs/daily' } },
  input_data: '${{inputs.data}}',
  mini_batch_size: '10',
  task: { type: 'run_function', code: '.', entry_script: 'score.js' },
};

const scheduleIssues = (parse: () => unknown) => issuesFrom(parse, ScheduleValidationError);

describe('dueOccurrences', () => {
  it('covers (from, to]: an occurrence exactly at `to` is due, one exactly at `from` is not', () => {
    const due = dueOccurrences('*/5 * * * *', at('2026-11-24T03:00:00Z'), at('2026-11-24T03:15:00Z'), 10);
    expect(isoList(due.occurrences)).toEqual([
      '2026-11-24T03:05:00.000Z',
      '2026-11-24T03:10:00.000Z',
      '2026-11-24T03:15:00.000Z',
    ]);
    expect(due.truncated).toBe(false);
  });

  it('keeps only the most recent `max` occurrences and says that older ones were left out', () => {
    const due = dueOccurrences('0 * * * *', at('2026-11-20T00:00:00Z'), at('2026-11-24T03:30:00Z'), 3);
    expect(isoList(due.occurrences)).toEqual([
      '2026-11-24T01:00:00.000Z',
      '2026-11-24T02:00:00.000Z',
      '2026-11-24T03:00:00.000Z',
    ]);
    expect(due.truncated).toBe(true);
  });

  it('is not truncated when exactly `max` occurrences fall in the window', () => {
    const due = dueOccurrences('0 * * * *', at('2026-11-24T00:30:00Z'), at('2026-11-24T03:30:00Z'), 3);
    expect(due.occurrences).toHaveLength(3);
    expect(due.truncated).toBe(false);
  });

  it('reads six fields with seconds first, as NCRONTAB does', () => {
    const due = dueOccurrences('30 0 3 * * *', at('2026-11-24T02:00:00Z'), at('2026-11-24T04:00:00Z'), 5);
    expect(isoList(due.occurrences)).toEqual(['2026-11-24T03:00:30.000Z']);
  });

  it('evaluates the cron in the schedule time zone', () => {
    // 02:00 in Berlin is 01:00 UTC in winter.
    const due = dueOccurrences(
      '0 2 * * *',
      at('2026-11-24T00:00:00Z'),
      at('2026-11-24T12:00:00Z'),
      5,
      'Europe/Berlin',
    );
    expect(isoList(due.occurrences)).toEqual(['2026-11-24T01:00:00.000Z']);
  });

  it('finds nothing in an empty or reversed window, or with max 0', () => {
    const t = at('2026-11-24T03:00:00Z');
    expect(dueOccurrences('* * * * *', t, t, 5).occurrences).toEqual([]);
    expect(dueOccurrences('* * * * *', t, at('2026-11-24T02:00:00Z'), 5).occurrences).toEqual([]);
    expect(dueOccurrences('* * * * *', at('2026-11-24T02:00:00Z'), t, 0).occurrences).toEqual([]);
  });

  it('for an every-minute cron, returns each minute boundary in the window up to max, ascending', () => {
    const base = Date.parse('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 * 24 * 3600 * 1000 }),
        fc.integer({ min: 0, max: 90 * 60 * 1000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.boolean(),
        fc.boolean(),
        (offset, length, max, fromOnMinute, toOnMinute) => {
          // Window ends exactly on a minute boundary are where off-by-one mistakes live.
          const onMinute = (time: number, snap: boolean) =>
            snap ? Math.floor(time / 60_000) * 60_000 : time;
          const from = onMinute(base + offset, fromOnMinute);
          const to = Math.max(from, onMinute(from + length, toOnMinute));
          const boundaries = Math.floor(to / 60_000) - Math.floor(from / 60_000);
          const due = dueOccurrences('* * * * *', new Date(from), new Date(to), max);
          expect(due.occurrences).toHaveLength(Math.min(boundaries, max));
          expect(due.truncated).toBe(boundaries > max);
          // Independently: the last minute boundary at or before `to`, and the ones before it, oldest first.
          const last = Math.floor(to / 60_000) * 60_000;
          const expected = Array.from(
            { length: Math.min(boundaries, max) },
            (_, i) => last - (Math.min(boundaries, max) - 1 - i) * 60_000,
          );
          expect(due.occurrences.map((date) => date.getTime())).toEqual(expected);
          expect(expected.every((time) => time > from && time <= to)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('cron expressions', () => {
  it.each(['0 3 * * *', '0 0 3 * * *', '*/15 9-17 * * 1-5'])('%s is accepted', (cron) => {
    expect(cronProblem(cron)).toBeUndefined();
  });

  it.each([
    ['* * * *', /4 fields; use 5/],
    ['0 0 0 3 * * *', /7 fields/],
    ['61 * * * *', /not a valid cron expression.*61/],
    ['0 0 30 2 *', /not a valid cron expression/],
  ])('%s is refused', (cron, problem) => {
    expect(cronProblem(cron)).toMatch(problem);
  });
});

describe('occurrence ids', () => {
  it('puts the schedule name and the compact occurrence time in the id', () => {
    const occurrence = at('2026-11-24T03:05:00Z');
    expect(occurrenceStamp(occurrence)).toBe('20261124T030500Z');
    expect(scheduleJobId('nightly', occurrence)).toMatch(/^sched\.nightly\.[0-9a-f]{16}\.20261124T030500Z$/);
    expect(scheduleJobId('team/nightly', occurrence)).toMatch(
      /^sched\.team-nightly\.[0-9a-f]{16}\.20261124T030500Z$/,
    );
    expect(scheduleJobId('team/nightly', occurrence)).not.toBe(scheduleJobId('team-nightly', occurrence));
  });

  it('stays a valid job id for long names and keeps the whole time stamp', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.date({ min: at('2000-01-01'), max: at('2100-01-01'), noInvalidDate: true }),
        (name, date) => {
          const second = new Date(Math.floor(date.getTime() / 1000) * 1000);
          const id = scheduleJobId(name, second);
          expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/);
          expect(id.endsWith(`.${occurrenceStamp(second)}`)).toBe(true);
        },
      ),
    );
  });
});

describe('schedule blobs', () => {
  const parse = (value: unknown, blobName = 'nightly.yml') =>
    parseScheduleBlob('nightly', blobName, typeof value === 'string' ? value : stringify(value), '"0x1"');

  it('accepts cron, time_zone and a job template', () => {
    const schedule = parse({ cron: '0 3 * * *', time_zone: 'Europe/Berlin', job });
    expect(schedule).toMatchObject({
      name: 'nightly',
      origin: 'schedules/nightly.yml',
      cron: '0 3 * * *',
      timeZone: 'Europe/Berlin',
      job: { spec: job },
    });
  });

  it('defaults the time zone to UTC and reads .json blobs as JSON', () => {
    const schedule = parseScheduleBlob('n', 'n.json', JSON.stringify({ cron: '0 3 * * *', job }), 'e');
    expect(schedule.timeZone).toBe('UTC');
  });

  it('reports every schedule problem with its field path', () => {
    const issues = scheduleIssues(() =>
      parse({ cron: '0 3 * *', time_zone: 'Mars/Olympus', job, every: 'day' }),
    );
    expect(issues.map((issue) => issue.path).sort()).toEqual(['', 'cron', 'time_zone']);
    expect(issues.find((issue) => issue.path === 'cron')?.message).toMatch(/4 fields/);
    expect(issues.find((issue) => issue.path === '')?.message).toMatch(/every/);
  });

  it('reports job template problems under job.', () => {
    const issues = scheduleIssues(() =>
      parse({ cron: '0 3 * * *', job: { ...job, mini_batch_size: 'ten', retry_settings: { timeout: 0 } } }),
    );
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'job.mini_batch_size',
      'job.retry_settings.timeout',
    ]);
  });

  it('reports a missing job and text that is not YAML', () => {
    expect(scheduleIssues(() => parse({ cron: '0 3 * * *' })).map((issue) => issue.path)).toEqual(['job']);
    expect(scheduleIssues(() => parse('cron: [unclosed')).map((issue) => issue.path)).toEqual(['']);
  });
});

describe('schedules in settings', () => {
  it('validates each entry on its own: a bad one does not hide the good ones', () => {
    const { schedules, rejected } = parseSettingsSchedules(
      JSON.stringify({
        hourly: { cron: '0 * * * *', job },
        fromBlob: { cron: '0 3 * * *', job_blob: 'jobs/templates/nightly.yml' },
        broken: { cron: 'every day', job },
        both: { cron: '0 3 * * *', job, job_blob: 'jobs/x.yml' },
      }),
    );
    expect(schedules.map((schedule) => [schedule.name, schedule.job])).toEqual([
      ['hourly', { spec: job }],
      ['fromBlob', { blob: 'jobs/templates/nightly.yml' }],
    ]);
    expect(rejected.map((entry) => [entry.name, entry.error.issues.map((issue) => issue.path)])).toEqual([
      ['broken', ['PARALLEL_JOB_SCHEDULES.broken.cron']],
      ['both', ['PARALLEL_JOB_SCHEDULES.both.job']],
    ]);
  });

  it('rejects a setting that is not a JSON object as a whole', () => {
    expect(parseSettingsSchedules('{nope').rejected[0]?.error.issues[0]?.message).toMatch(/not valid JSON/);
    expect(parseSettingsSchedules('[1]').rejected[0]?.error.issues[0]?.message).toMatch(/JSON object/);
    expect(parseSettingsSchedules(undefined)).toEqual({ schedules: [], rejected: [] });
  });

  it('gives an entry a new version when it changes, the same one when it does not', () => {
    const version = (cron: string) =>
      parseSettingsSchedules(JSON.stringify({ a: { cron, job } })).schedules[0]?.version;
    expect(version('0 3 * * *')).toBe(version('0 3 * * *'));
    expect(version('0 3 * * *')).not.toBe(version('0 4 * * *'));
  });
});
