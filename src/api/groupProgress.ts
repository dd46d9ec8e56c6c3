import { readRecordLines } from '../activities/attemptRecord';
import { emptyTally, tallyAttempt, tallyStart, type GroupTally } from '../orchestration/groupTally';
import type { Counters } from '../orchestration/counters';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';

/** What has been read of one group's record file. */
interface ReadSoFar {
  bytes: number;
  /** A line not yet ended by a newline (a read can land in the middle of an append). */
  partial: string;
  tally: GroupTally;
}

/** Group files followed at once; the oldest is forgotten first (a few per running job). */
const FOLLOWED = 256;

/**
 * Live progress of the group calls running now. A shard's counters move when a call returns, which for
 * long tasks can be tens of seconds; the call's record file grows as its attempts end, so the job view
 * adds what it holds so far. Each read fetches only the bytes appended since the last one.
 */
export class GroupProgress {
  private readonly files = new Map<string, ReadSoFar>();

  constructor(
    private readonly store: BlobStore,
    private readonly logsContainer: string,
  ) {}

  /** Counters of the attempts the group has recorded so far (retries pending are not final). */
  async counters(jobId: string, shard: number, group: number, maxRetries: number): Promise<Counters> {
    const name = jobFolder(jobId).groupRecords(shard, group);
    const known = this.files.get(name) ?? { bytes: 0, partial: '', tally: emptyTally() };
    const more = await this.store
      .read(this.logsContainer, name, { start: known.bytes })
      .catch(() => undefined);
    if (!more || more.length === 0) return known.tally.counters;
    const { records, partial } = readRecordLines(known.partial + more.toString('utf8'), name);
    let tally = known.tally;
    for (const { receipt } of records)
      tally = tallyAttempt(tallyStart(tally, receipt.attempt), receipt, maxRetries);
    this.files.delete(name);
    this.files.set(name, { bytes: known.bytes + more.length, partial, tally });
    if (this.files.size > FOLLOWED) this.files.delete(this.files.keys().next().value!);
    return tally.counters;
  }
}
