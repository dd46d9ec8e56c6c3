import { CronExpressionParser } from 'cron-parser';
import { derivedJobId, ID_SOURCES } from '../../submit/ids';

/** When a schedule falls due: its cron occurrences in a tick's window and the job id of each. */

/** At most this many occurrences per schedule and tick (the most recent ones); older missed ones are skipped. */
export const MAX_CATCH_UP = 10;

/**
 * Occurrences of `cron` in (from, to], oldest first, at most `max` of them: the most recent ones. `truncated`
 * says that older occurrences in the window were left out.
 */
export function dueOccurrences(
  cron: string,
  from: Date,
  to: Date,
  max: number,
  timeZone = 'UTC',
): { occurrences: Date[]; truncated: boolean } {
  if (max < 1 || to.getTime() <= from.getTime()) return { occurrences: [], truncated: false };
  // One millisecond past `to`, so an occurrence exactly at `to` counts (prev() is strictly before).
  const expression = CronExpressionParser.parse(cron.trim().split(/\s+/).join(' '), {
    currentDate: new Date(to.getTime() + 1),
    tz: timeZone,
  });
  const previous = (): Date | undefined => {
    try {
      return expression.prev().toDate();
    } catch {
      return undefined; // no earlier occurrence within the parser's range
    }
  };
  const found: Date[] = [];
  for (;;) {
    const occurrence = previous();
    if (!occurrence || occurrence.getTime() <= from.getTime())
      return { occurrences: found.reverse(), truncated: false };
    if (found.length === max) return { occurrences: found.reverse(), truncated: true };
    found.push(occurrence);
  }
}

/** `2026-11-24T03:05:00.000Z` -> `20261124T030500Z` */
export function occurrenceStamp(occurrence: Date): string {
  return occurrence
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** The job id of one occurrence: `sched.<name>.<hash of the name>.<occurrence UTC>`. */
export function scheduleJobId(name: string, occurrence: Date): string {
  return derivedJobId(ID_SOURCES.schedule, name, { suffix: occurrenceStamp(occurrence) });
}
