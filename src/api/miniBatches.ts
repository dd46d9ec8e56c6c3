import { listAttemptPages } from '../activities/attemptRecord';
import type { MiniBatchReceipt } from '../activities/contracts';
import { readJobRecord, type JobRecord } from '../storage/jobRecord';
import { manifestEntries } from '../activities/manifest';
import { JobNotFoundError, MiniBatchReportError } from '../errors';
import { nextStep } from '../orchestration/attemptOutcome';
import { type FirstError } from '../orchestration/counters';
import { failureCode } from '../orchestration/groupTally';
import type { BlobStore } from '../storage/blobStore';
import { jobFolder } from '../storage/layout';
import {
  isTerminalStatus,
  MINI_BATCH_STATES,
  type FailureExample,
  type FailureGroup,
  type JobView,
  type MiniBatchBand,
  type MiniBatchReport,
  type MiniBatchState,
} from './wire';

/** The grid never has more cells than this, whatever the job's size: bands of mini-batches beyond. */
export const MAX_GRID_CELLS = 2000;
/** Examples kept per error code. */
export const EXAMPLES_PER_CODE = 3;
/** Final failures looked at for a bad-records log (one blob read each), besides the examples. */
export const BAD_RECORDS_CHECKED = 20;

const stateCode = (state: MiniBatchState): number => MINI_BATCH_STATES.indexOf(state);
const EARLIER = stateCode('earlier');

export interface TallyFacts {
  jobId: string;
  /** Planned mini-batches. */
  total: number;
  /** `retry_settings.max_retries`: a failed attempt is retried while `attempt <= maxRetries`. */
  maxRetries: number;
  /** A finished job retries nothing more and runs nothing more. */
  finished: boolean;
  /** The job's first errors: messages for examples whose listing carries none. */
  firstErrors?: readonly FirstError[];
  /** Whether the job reads tables (only those attempts write bad-records logs). */
  tabular?: boolean;
}

/**
 * Folds a job's attempts, in (mini-batch, attempt) order as listAttempts yields them, into one byte per
 * mini-batch (its state) plus the failures by code. Memory: the Uint8Array, the receipt of the
 * mini-batch being folded, and at most EXAMPLES_PER_CODE examples per code.
 */
export class MiniBatchTally {
  readonly states: Uint8Array;
  private readonly groups = new Map<string, { count: number; examples: FailureExample[] }>();
  private readonly messages = new Map<string, string>();
  /** Final failures of a tabular job that may have a bad-records log (the first BAD_RECORDS_CHECKED). */
  readonly badRecordCandidates: Array<{ index: number; attempt: number }> = [];
  badRecordCandidatesMore = false;
  private current: MiniBatchReceipt | undefined;
  private failures = 0;

  constructor(private readonly facts: TallyFacts) {
    this.states = new Uint8Array(facts.total).fill(stateCode(facts.finished ? 'canceled' : 'pending'));
    for (const error of facts.firstErrors ?? [])
      this.messages.set(`${error.index}/${error.attempt}`, error.message);
  }

  /** A mini-batch a re-run does not run: it succeeded in the job re-run. */
  markEarlier(index: number): void {
    if (index < this.facts.total) this.states[index] = EARLIER;
  }

  add(receipt: MiniBatchReceipt): void {
    const current = this.current;
    if (receipt.index >= this.facts.total)
      throw new MiniBatchReportError(
        this.facts.jobId,
        `an attempt of mini-batch ${receipt.index} was recorded, but ${this.facts.total} were planned`,
      );
    if (
      current &&
      (receipt.index < current.index ||
        (receipt.index === current.index && receipt.attempt <= current.attempt))
    )
      throw new MiniBatchReportError(
        this.facts.jobId,
        `attempt ${receipt.index}/${receipt.attempt} was listed after ${current.index}/${current.attempt}`,
      );
    if (current && receipt.index !== current.index) this.commit(current);
    this.current = receipt;
  }

  /** Folds the last mini-batch; call once, after the last `add`. */
  finish(): void {
    if (this.current) this.commit(this.current);
    this.current = undefined;
  }

  /** The final failures by code, most frequent first (ties: the code seen first in mini-batch order). */
  failureGroups(): FailureGroup[] {
    return [...this.groups.entries()]
      .map(([code, group]) => ({ code, count: group.count, examples: group.examples }))
      .sort((a, b) => b.count - a.count || a.examples[0]!.index - b.examples[0]!.index);
  }

  get failureCount(): number {
    return this.failures;
  }

  private commit(last: MiniBatchReceipt): void {
    const state = this.stateOf(last);
    this.states[last.index] = stateCode(state);
    if (state !== 'partial' && state !== 'failed') return;
    this.failures += 1;
    const code = failureCode(last);
    const group = this.groups.get(code) ?? { count: 0, examples: [] };
    group.count += 1;
    if (group.examples.length < EXAMPLES_PER_CODE) {
      const message = last.message ?? this.messages.get(`${last.index}/${last.attempt}`);
      group.examples.push({
        index: last.index,
        attempt: last.attempt,
        status: state,
        ...(message !== undefined ? { message } : {}),
        bad_records: false,
      });
    }
    this.groups.set(code, group);
    if (this.facts.tabular) {
      if (this.badRecordCandidates.length < BAD_RECORDS_CHECKED)
        this.badRecordCandidates.push({ index: last.index, attempt: last.attempt });
      else this.badRecordCandidatesMore = true;
    }
  }

  private stateOf(last: MiniBatchReceipt): MiniBatchState {
    if (last.status === 'succeeded') return 'succeeded';
    if (last.status === 'partial') return 'partial';
    // The shard's own rule decides whether this attempt is retried; a finished job retries nothing.
    return !this.facts.finished && nextStep(last, this.facts.maxRetries).kind === 'retry'
      ? 'retrying'
      : 'failed';
  }
}

/** How many mini-batches one cell stands for, so that a job of `total` has at most `maxCells` cells. */
export const bandSizeFor = (total: number, maxCells = MAX_GRID_CELLS): number =>
  Math.max(1, Math.ceil(total / maxCells));

/** The states as bands of `bandSize` consecutive mini-batches, each with its worst state and counts. */
export function bandStates(states: Uint8Array, bandSize: number): MiniBatchBand[] {
  const bands: MiniBatchBand[] = [];
  const counts = new Uint32Array(MINI_BATCH_STATES.length);
  for (let first = 0; first < states.length; first += bandSize) {
    const last = Math.min(states.length, first + bandSize) - 1;
    counts.fill(0);
    let worst = 0;
    for (let i = first; i <= last; i += 1) {
      const code = states[i]!;
      counts[code]! += 1;
      if (code > worst) worst = code;
    }
    const band: MiniBatchBand = { first, last, state: MINI_BATCH_STATES[worst]!, counts: {} };
    for (const [code, state] of MINI_BATCH_STATES.entries())
      if (counts[code]) band.counts[state] = counts[code];
    bands.push(band);
  }
  return bands;
}

/** How many mini-batches are in each state. */
export function countStates(states: Uint8Array): Record<MiniBatchState, number> {
  const counts = new Uint32Array(MINI_BATCH_STATES.length);
  for (const code of states) counts[code]! += 1;
  return Object.fromEntries(MINI_BATCH_STATES.map((state, code) => [state, counts[code]!])) as Record<
    MiniBatchState,
    number
  >;
}

/** The report of a tally whose attempts have all been added (pure: no I/O). */
export function tallyReport(
  tally: MiniBatchTally,
  job: { id: string; status: JobView['status'] },
  badRecords: { found: Array<{ index: number; attempt: number }>; more: boolean } = {
    found: [],
    more: false,
  },
  maxCells = MAX_GRID_CELLS,
): MiniBatchReport {
  const bandSize = bandSizeFor(tally.states.length, maxCells);
  const withLog = new Set(badRecords.found.map((entry) => `${entry.index}/${entry.attempt}`));
  const groups = tally.failureGroups().map((group) => ({
    ...group,
    examples: group.examples.map((example) => ({
      ...example,
      bad_records: withLog.has(`${example.index}/${example.attempt}`),
    })),
  }));
  return {
    job_id: job.id,
    status: job.status,
    total: tally.states.length,
    band_size: bandSize,
    counts: countStates(tally.states),
    bands: bandStates(tally.states, bandSize),
    failures: { total: tally.failureCount, groups },
    bad_records: badRecords.found,
    bad_records_more: badRecords.more,
  };
}

export interface ReportServices {
  store: BlobStore;
  containers: { logs: string };
}

/** Bad-records logs looked up at once. */
const STAT_CONCURRENCY = 8;

/**
 * The job's mini-batches by state, read from storage.
 *
 * Cost: one read per group call of the job (listAttemptPages reads each group's record file, a shard at a
 * time; a group holds hundreds of short attempts or a wave of long ones), plus for a re-run one streamed read of the
 * job's manifest it re-runs, plus at most BAD_RECORDS_CHECKED + examples existence checks for a tabular
 * job. Memory: one byte per mini-batch and one shard's records. A 100,000-mini-batch job is therefore a few
 * seconds of listing: see `MiniBatchReports`, which the page and the API share.
 */
export async function readMiniBatchReport(
  services: ReportServices,
  view: Pick<JobView, 'id' | 'status' | 'first_errors'>,
  options: { maxCells?: number } = {},
): Promise<MiniBatchReport> {
  const { store } = services;
  const logs = services.containers.logs;
  const record = await readJobRecord(store, logs, view.id).catch((error: unknown) => {
    // Still planning (or planning failed): no plan yet, no mini-batches.
    if (error instanceof JobNotFoundError) return undefined;
    throw error;
  });
  const tally = new MiniBatchTally({
    jobId: view.id,
    total: record?.plan.miniBatches ?? 0,
    maxRetries: record?.job.settings.maxRetries ?? 0,
    finished: isTerminalStatus(view.status),
    firstErrors: view.first_errors,
    tabular: record?.job.inputData.type === 'mltable',
  });
  if (record) {
    if (record.rerunOf) await markEarlier(store, logs, record, tally);
    for await (const page of listAttemptPages(store, logs, view.id))
      for (const receipt of page) tally.add(receipt);
  }
  tally.finish();

  const wanted = [
    ...tally.badRecordCandidates,
    ...tally
      .failureGroups()
      .flatMap((group) => group.examples.map(({ index, attempt }) => ({ index, attempt }))),
  ];
  const unique = [...new Map(wanted.map((entry) => [`${entry.index}/${entry.attempt}`, entry])).values()];
  const found: Array<{ index: number; attempt: number }> = [];
  if (tally.badRecordCandidates.length > 0) {
    for (let at = 0; at < unique.length; at += STAT_CONCURRENCY) {
      const batch = unique.slice(at, at + STAT_CONCURRENCY);
      const seen = await Promise.all(
        batch.map((entry) => store.stat(logs, jobFolder(view.id).badRecords(entry.index, entry.attempt))),
      );
      batch.forEach((entry, i) => seen[i] && found.push(entry));
    }
  }
  found.sort((a, b) => a.index - b.index);
  return tallyReport(
    tally,
    view,
    { found, more: tally.badRecordCandidatesMore },
    options.maxCells ?? MAX_GRID_CELLS,
  );
}

/** Marks what the job re-run had already done (its manifest's SUCCEEDED entries), streamed. */
async function markEarlier(
  store: BlobStore,
  logs: string,
  record: JobRecord,
  tally: MiniBatchTally,
): Promise<void> {
  for await (const entry of manifestEntries(store, logs, record.rerunOf!))
    if (entry.status === 'SUCCEEDED') tally.markEarlier(entry.index);
}

/**
 * An app's reports, kept so that a page polled every second does not list a large job's attempts every
 * second: a finished job's report never changes and is kept; a running job's is fresh for a time that
 * grows with its size (1 s per 2,000 mini-batches, 1 to 30 s). Past that, a request is answered with the
 * report it has while one new read runs for all requests, so a large running job's page stays quick and
 * its grid lags by at most that time plus one read. A new status (the job ended) always reads anew.
 * Bounded to a few jobs.
 */
export class MiniBatchReports {
  private readonly kept = new Map<string, Kept>();

  constructor(
    private readonly services: ReportServices,
    private readonly read: typeof readMiniBatchReport = readMiniBatchReport,
  ) {}

  get(view: Pick<JobView, 'id' | 'status' | 'first_errors'>, now = Date.now()): Promise<MiniBatchReport> {
    let kept = this.kept.get(view.id);
    if (kept?.status !== view.status) {
      kept = { status: view.status, at: now };
      this.kept.delete(view.id);
      this.kept.set(view.id, kept);
      if (this.kept.size > REPORTS_KEPT) this.kept.delete(this.kept.keys().next().value!);
    }
    const { last } = kept;
    if (last && (isTerminalStatus(last.status) || now - kept.at < reportLifetimeMs(last.total)))
      return Promise.resolve(last);
    if (!kept.reading) {
      const entry = kept;
      entry.reading = this.read(this.services, view).then(
        (report) => {
          Object.assign(entry, { at: now, last: report, reading: undefined });
          return report;
        },
        (error: unknown) => {
          // A failed read is not kept: the next request reads again.
          entry.reading = undefined;
          throw error;
        },
      );
      // Answered with `last` below: the refresh's failure is seen by the next request that waits for it.
      if (last) entry.reading.catch(() => undefined);
    }
    return last ? Promise.resolve(last) : kept.reading!;
  }
}

const REPORTS_KEPT = 16;

interface Kept {
  /** The job status the report was read for. */
  status: JobView['status'];
  /** When the read of `last` started. */
  at: number;
  last?: MiniBatchReport;
  /** The read in flight, if any. */
  reading?: Promise<MiniBatchReport>;
}

export const reportLifetimeMs = (total: number): number =>
  Math.min(30_000, Math.max(1_000, Math.ceil(total / 2000) * 1000));
