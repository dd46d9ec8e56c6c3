import { randomBytes } from 'node:crypto';

/**
 * Response headers for what the app serves to browsers. A job file is data written by user code, so it
 * is never served as a page: text goes out as text/plain, anything else as a download, both with
 * nosniff and a CSP that forbids everything (`sandbox` also gives the document an opaque origin).
 */

const common = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Stored types a browser may show as plain text. */
const TEXTUAL =
  /^(text\/[\w.+-]+|application\/([\w.-]+\+)?(json|xml|yaml)|application\/(x-)?(ndjson|jsonl|yaml|csv|tsv|javascript|toml|sql))$/i;

/** `name` reduced to what is safe inside a quoted Content-Disposition filename (the full name goes in filename*). */
function dispositionFor(blobName: string): string {
  const base = blobName.split('/').filter(Boolean).pop() ?? 'download';
  const ascii = base.replace(/[^\w.-]/g, '_').slice(0, 200) || 'download';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}

export function fileHeaders(
  storedType: string | undefined,
  blobName: string,
  size: number,
): Record<string, string> {
  const essence = (storedType ?? '').split(';')[0]!.trim();
  const textual = TEXTUAL.test(essence);
  return {
    ...common,
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'no-store',
    'content-length': String(size),
    'content-type': textual ? 'text/plain; charset=utf-8' : 'application/octet-stream',
    ...(textual ? {} : { 'content-disposition': dispositionFor(blobName) }),
  };
}

/** A fresh nonce for one page's inline script. */
export const scriptNonce = (): string => randomBytes(16).toString('base64');

/**
 * Headers of the app's own HTML pages: inline styles (the progress bar sets widths in `style`), the one
 * script whose nonce is given, fetches to this origin only (the status poll), nothing else.
 */
export function pageHeaders(nonce?: string): Record<string, string> {
  const script = nonce ? `; script-src 'nonce-${nonce}'; connect-src 'self'` : '';
  return {
    ...common,
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'${script}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  };
}
