import {
  isTerminalStatus,
  miniBatchReportSchema,
  planPreviewSchema,
  type JobView,
  type MiniBatchReport,
  type PlanPreview,
} from '../api/wire';
import { JobNotFoundError, ParallelJobError, SpecValidationError, type ValidationIssue } from '../errors';

/** An error answered by the API, with its code and (for bad specs) every issue. */
export class ApiError extends ParallelJobError {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** The app's base URL, e.g. https://myapp.azurewebsites.net or the local host's URL. */
  endpoint: string;
  /** A function key (x-functions-key), needed in Azure. */
  key?: string;
}

export interface SubmitResult {
  id: string;
  created: boolean;
  warnings: string[];
  status_url: string;
  view_url: string;
}

/** ParallelJobClient: the HTTP API from a program (the CLI uses it too). */
export class ParallelJobClient {
  private readonly base: string;
  constructor(private readonly options: ClientOptions) {
    this.base = options.endpoint.replace(/\/+$/, '');
  }

  /** Submits a spec (YAML/JSON text, or a plain object such as ParallelJob.toJSON()). */
  submit(spec: string | object, options: { id?: string } = {}): Promise<SubmitResult> {
    const query = options.id ? `?id=${encodeURIComponent(options.id)}` : '';
    return this.call('POST', `/api/jobs${query}`, spec);
  }
  get(id: string): Promise<JobView> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }
  /**
   * A page of jobs, newest first. `next` is the URL of the next page; pass its `continuation` parameter
   * (`nextContinuation` reads it) to read it through the client.
   */
  list(
    options: { status?: string; top?: number; continuation?: string } = {},
  ): Promise<{ jobs: JobView[]; next?: string }> {
    const query = new URLSearchParams();
    if (options.status) query.set('status', options.status);
    if (options.top) query.set('top', String(options.top));
    if (options.continuation) query.set('continuation', options.continuation);
    return this.call('GET', `/api/jobs?${query.toString()}`);
  }
  cancel(id: string): Promise<{ id: string; status: string }> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
  }
  rerun(id: string): Promise<SubmitResult> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/rerun`);
  }
  /** The job's mini-batches by state in bands, and its final failures by code (the job page's grid). */
  async miniBatches(id: string): Promise<MiniBatchReport> {
    return miniBatchReportSchema.parse(
      await this.call('GET', `/api/jobs/${encodeURIComponent(id)}/mini-batches`),
    );
  }
  spec(id: string): Promise<string> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/spec`, undefined, 'text');
  }
  /** The plan preview of a spec (`POST /api/plan`); no user code runs. */
  async plan(spec: string | object): Promise<PlanPreview> {
    return planPreviewSchema.parse(await this.call('POST', '/api/plan', spec));
  }

  /**
   * One of a job's outputs or log files, by its key in the job's `outputs` / `log_files` (and a path
   * inside it when it is a folder), read through the app with the client's key.
   */
  file(id: string, kind: 'outputs' | 'logs', name: string, inside = ''): Promise<Buffer> {
    const rest = inside ? `/${inside.split('/').map(encodeURIComponent).join('/')}` : '';
    return this.call(
      'GET',
      `/api/jobs/${encodeURIComponent(id)}/files/${kind}/${encodeURIComponent(name)}${rest}`,
      undefined,
      'bytes',
    );
  }

  /** Polls until the job ends; `onProgress` sees every change. */
  async wait(
    id: string,
    options: { intervalMs?: number; onProgress?: (view: JobView) => void; signal?: AbortSignal } = {},
  ): Promise<JobView> {
    for (;;) {
      const view = await this.get(id);
      options.onProgress?.(view);
      if (isTerminalStatus(view.status)) return view;
      if (options.signal?.aborted) return view;
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 1000));
    }
  }

  private async call<T>(
    method: string,
    path: string,
    body?: string | object,
    as: 'json' | 'text' | 'bytes' = 'json',
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.options.key) headers['x-functions-key'] = this.options.key;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      headers['content-type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
    }
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { method, headers, body: payload });
    } catch (error) {
      throw new ApiError(
        'ENDPOINT_UNREACHABLE',
        `Cannot reach ${this.base}: ${(error as Error).message}. Check --endpoint.`,
        0,
      );
    }
    if (response.ok && as === 'bytes') return Buffer.from(await response.arrayBuffer()) as T;
    const text = await response.text();
    if (response.ok) return (as === 'text' ? text : (JSON.parse(text) as T)) as T;
    let error: { code?: string; message?: string; issues?: ValidationIssue[] } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      error = { message: text };
    }
    if (error.code === 'SPEC_INVALID' && error.issues) throw new SpecValidationError(error.issues);
    if (response.status === 404 && error.code === 'JOB_NOT_FOUND')
      throw new JobNotFoundError(decodeURIComponent(path.split(/[/?]/)[3] ?? ''));
    if (response.status === 401)
      throw new ApiError('UNAUTHORIZED', 'The app refused the call: pass a function key with --key.', 401);
    throw new ApiError(
      error.code ?? `HTTP_${response.status}`,
      error.message ?? `HTTP ${response.status}`,
      response.status,
    );
  }
}

/** The continuation token of a list page's `next` link, or undefined on the last page. */
export function nextContinuation(page: { next?: string }): string | undefined {
  return page.next ? (new URL(page.next).searchParams.get('continuation') ?? undefined) : undefined;
}
