/**
 * The job folder: every blob a job writes besides its outputs, under `<jobId>/` in the logs container.
 * Names are fixed by (job, mini-batch, attempt) so that an activity that runs twice writes the same blobs.
 */
const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export function jobFolder(jobId: string) {
  const root = `${jobId}/`;
  return {
    root,
    /** The resolved job (spec + effective settings + plan summary), written once by planning. */
    jobRecord: `${root}sys/job.json`,
    planPage: (page: number) => `${root}sys/plan/page-${pad(page, 6)}.json`,
    planPrefix: `${root}sys/plan/`,
    /** How far planning has got (see planProgressSchema); rewritten every few seconds while it runs. */
    planProgress: `${root}sys/plan_progress.json`,
    /** The attempt records of one group call (JSON Lines), in a folder per shard; see attemptRecord.ts. */
    groupRecords: (shard: number, group: number) =>
      `${root}sys/attempts/shard-${pad(shard, 6)}/group-${pad(group, 6)}.jsonl`,
    attemptsPrefix: `${root}sys/attempts/`,
    /** Written when the job stops early (cancel, a breach, a broken task): running groups start nothing new. */
    stopRequest: `${root}sys/stop.json`,
    /** The task's captured log lines (ctx.log, console) for one attempt. */
    attemptLog: (index: number, attempt: number) =>
      `${root}user/mini_batch_${pad(index, 9)}/attempt_${pad(attempt, 3)}.log.txt`,
    /** Files the task wrote into its log folder (`ctx.logDir`, EntryScript().log_dir) in one attempt. */
    attemptFiles: (index: number, attempt: number) =>
      `${root}user/mini_batch_${pad(index, 9)}/attempt_${pad(attempt, 3)}/`,
    /** Table records of one attempt that did not parse (JSON Lines, capped; see runMiniBatch). */
    badRecords: (index: number, attempt: number) =>
      `${root}user/mini_batch_${pad(index, 9)}/attempt_${pad(attempt, 3)}.bad_records.jsonl`,
    jobResult: `${root}job_result.json`,
    manifest: `${root}manifest.json`,
    processedMiniBatches: `${root}sys/job_report/processed_mini_batches.csv`,
    failedItems: `${root}failed_items.jsonl`,
    progressOverview: `${root}job_progress_overview.txt`,
    readme: `${root}readme.txt`,
  };
}
export type JobFolder = ReturnType<typeof jobFolder>;

/**
 * Block ids of the append-row output. Azure requires every block id of a blob to have the same length,
 * so the parts are fixed-width: generation (re-runs of a job write the same output) + mini-batch + attempt.
 */
export function outputBlockId(generation: number, index: number, attempt: number): string {
  return Buffer.from(`g${pad(generation, 3)}m${pad(index, 10)}a${pad(attempt, 3)}`).toString('base64');
}
