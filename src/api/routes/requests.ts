import type { HttpRequest } from '@azure/functions';
import { RequestTooLargeError, SpecValidationError } from '../../errors';
import { MAX_SPEC_BYTES } from '../../job/limits';
import { checkJobId } from '../../submit/ids';

/** What the routes read from a request: its origin, the job id, a spec body; and the links they answer with. */

export const origin = (request: HttpRequest): string => new URL(request.url).origin;

/** The `{id}` of a job route, checked against the one id rule before it reaches the durable store or storage. */
export const jobIdParam = (request: HttpRequest): string => checkJobId(request.params.id ?? '');

/** The API's links of one job, in the answers of submit and re-run. */
export function jobLinks(request: HttpRequest, id: string): Record<string, string> {
  const base = `${origin(request)}/api/jobs/${encodeURIComponent(id)}`;
  return {
    status_url: base,
    view_url: `${base}/view`,
    cancel_url: `${base}/cancel`,
    rerun_url: `${base}/rerun`,
  };
}

/** The body as text, refused unread past `limit` bytes (by its Content-Length, else while it streams in). */
async function boundedText(request: HttpRequest, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > limit) throw new RequestTooLargeError(limit);
  if (!request.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new RequestTooLargeError(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A spec in the body: YAML text as is, JSON bodies parsed; at most MAX_SPEC_BYTES. */
export async function specBody(request: HttpRequest): Promise<unknown> {
  const text = await boundedText(request, MAX_SPEC_BYTES);
  const type = request.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new SpecValidationError([
        { path: '', message: `the body is not valid JSON: ${(error as Error).message}` },
      ]);
    }
  }
  return text;
}
