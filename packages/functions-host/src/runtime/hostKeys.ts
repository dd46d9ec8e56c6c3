import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

/** The keys a host enforces; none set (`keyed` false) leaves every route open. */
export interface HostKeys {
  keyed: boolean;
  function: string | undefined;
  master: string | undefined;
  durableSystem: string | undefined;
}

/**
 * Key rules as in Azure: function-level routes take a function key or the master key, the admin
 * routes the master key, the Durable management API the Durable extension's system key
 * (durabletask_extension) or the master key. Azure serves the app's own Durable client calls
 * (/durabletask/) on the worker's loopback only; here they share the public port, so they are keyed
 * like the webhooks, and the app's client carries the system key as HTTP Basic credentials in its
 * base URL (the SDK adds no query or header to those calls). With keys set and no master key given, a
 * random one stands in, so the admin routes are never the open ones.
 */
export function resolveHostKeys(given: { function?: string; master?: string } | undefined): HostKeys {
  const functionKey = given?.function ?? process.env.FUNCTIONS_HOST_FUNCTION_KEY;
  const masterKey = given?.master ?? process.env.FUNCTIONS_HOST_MASTER_KEY;
  const keyed = !!(functionKey || masterKey);
  return {
    keyed,
    function: functionKey || undefined,
    master: masterKey || (keyed ? randomBytes(32).toString('hex') : undefined),
    durableSystem: keyed ? randomBytes(32).toString('hex') : undefined,
  };
}

/** Equal keys, compared in constant time (hashes first, so lengths do not show either). */
function sameKey(given: string | undefined, key: string | undefined): boolean {
  if (given === undefined || key === undefined) return false;
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(key));
}

/** The key a request presents: `?code=`, `x-functions-key`, or the password of HTTP Basic credentials. */
function presentedKey(req: http.IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers['x-functions-key'];
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const password = basic
    ? Buffer.from(basic[1] as string, 'base64')
        .toString('utf8')
        .split(':')
        .slice(1)
        .join(':')
    : undefined;
  return query.get('code') ?? (Array.isArray(header) ? header[0] : header) ?? (password || undefined);
}

/** Whether the request's key admits it at `level`. */
export function isAuthorized(
  keys: HostKeys,
  /** anonymous, function, admin (master key only), system (Durable API: system or master key). */
  level: string,
  req: http.IncomingMessage,
  query: URLSearchParams,
): boolean {
  if (level === 'anonymous' || !keys.keyed) return true;
  const given = presentedKey(req, query);
  if (sameKey(given, keys.master)) return true;
  if (level === 'system') return sameKey(given, keys.durableSystem);
  if (level === 'admin') return false;
  return sameKey(given, keys.function);
}
