import { z } from 'zod';
import { manifestSchema, type Manifest } from '../../src/activities/manifest';
import { emptyCounters, type Counters } from '../../src/orchestration/counters';
import type { JobView } from '../../src/api/wire';
import type { ProductHost } from '../support/productHost';

/** Shared pieces of the orchestrator's end-to-end tests: inputs, specs, and reading what a job wrote. */

export const fileName = (i: number): string => `file-${String(i).padStart(4, '0')}.txt`;

/** Uploads `count` small text files under inputs/<prefix>/ and returns their base names in order. */
export async function uploadFiles(product: ProductHost, prefix: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => fileName(i));
  await Promise.all(names.map((name) => product.store.write('inputs', `${prefix}/${name}`, name)));
  return names;
}

/** A file job over inputs/<prefix> with append_row output; `fields` override or add spec fields. */
export function fileJob(
  prefix: string,
  entryScript: string,
  programArguments: string,
  fields: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: prefix,
    type: 'parallel',
    inputs: { data: { type: 'uri_folder', path: `inputs/${prefix}` } },
    outputs: { rows: { type: 'uri_folder' } },
    input_data: '${{inputs.data}}',
    mini_batch_size: '1',
    max_concurrency_per_instance: 1,
    task: {
      type: 'run_function',
      code: '.',
      entry_script: entryScript,
      program_arguments: programArguments,
      append_row_to: '${{outputs.rows}}',
    },
    ...fields,
  };
}

export async function runJob(product: ProductHost, spec: object, id: string): Promise<JobView> {
  const submitted = await product.client.submit(spec, { id });
  expect(submitted.id).toBe(id);
  return product.client.wait(id, { intervalMs: 100 });
}

const jobResultSchema = z.object({
  status: z.enum(['Completed', 'Failed', 'Canceled']),
  reasons: z.array(z.string()),
  counters: z.custom<Counters>(),
  first_errors: z.array(z.object({ index: z.number(), attempt: z.number(), code: z.string() })),
  outputs: z.record(z.string(), z.string()),
});

export interface AttemptRow {
  index: number;
  attempt: number;
  status: string;
  items: number;
  succeeded: number;
  failed: number;
  rows: number;
  durationMs: number;
  code: string;
}

export interface JobArtifacts {
  result: z.infer<typeof jobResultSchema>;
  manifest: Manifest;
  /** processed_mini_batches.csv: one row per attempt, sorted by mini-batch and attempt. */
  attempts: AttemptRow[];
  /** Lines of the append_row output ([] when the job has none). */
  output: string[];
}

/** Reads job_result.json, manifest.json, processed_mini_batches.csv and the output file of a job. */
/** The rows of a job's processed_mini_batches.csv, one per attempt. */
export function attemptRows(csv: string): AttemptRow[] {
  return csv
    .trim()
    .split('\n')
    .slice(1)
    .filter((line) => line !== '')
    .map((line) => {
      const [index, attempt, status, items, succeeded, failed, rows, durationMs, code] = line.split(',');
      return {
        index: Number(index),
        attempt: Number(attempt),
        status: status!,
        items: Number(items),
        succeeded: Number(succeeded),
        failed: Number(failed),
        rows: Number(rows),
        durationMs: Number(durationMs),
        code: code ?? '',
      };
    });
}

export async function readArtifacts(product: ProductHost, jobId: string): Promise<JobArtifacts> {
  const { store } = product;
  const result = jobResultSchema.parse(
    JSON.parse(await store.readText('logs', `${jobId}/job_result.json`)) as unknown,
  );
  const manifest = manifestSchema.parse(
    JSON.parse(await store.readText('logs', `${jobId}/manifest.json`)) as unknown,
  );
  const attempts = attemptRows(
    await store.readText('logs', `${jobId}/sys/job_report/processed_mini_batches.csv`),
  );
  let output: string[] = [];
  const url = result.outputs.rows;
  if (url) {
    const [container, ...rest] = url.slice(store.accountUrl.length + 1).split('/');
    const text = await store.readText(container!, rest.join('/'));
    output = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  }
  return { result, manifest, attempts, output };
}

/** The counters every finished job reports, for exact comparison. */
export function countersOf(fields: Partial<Counters> & { miniBatches: number }): Record<string, number> {
  const { busyMs: _busyMs, ...zero } = emptyCounters(fields.miniBatches);
  return { ...zero, ...fields };
}

/** Drops busyMs (a duration) so counters compare exactly. */
export function withoutTimings(counters: Counters): Record<string, number> {
  const { busyMs, ...rest } = counters;
  expect(busyMs).toBeGreaterThanOrEqual(0);
  return rest;
}
