import { z } from 'zod';

/**
 * The job status vocabulary of Azure ML, kept as is so users and tools recognise it.
 * `NotStarted` is client-side only: a job that has not been submitted yet.
 */
export const jobStatusSchema = z.enum([
  'NotStarted',
  'Starting',
  'Provisioning',
  'Preparing',
  'Queued',
  'Running',
  'Finalizing',
  'CancelRequested',
  'Completed',
  'Failed',
  'Canceled',
  'NotResponding',
]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

const TERMINAL: ReadonlySet<JobStatus> = new Set(['Completed', 'Failed', 'Canceled']);

export function isTerminalStatus(status: JobStatus): boolean {
  return TERMINAL.has(status);
}
