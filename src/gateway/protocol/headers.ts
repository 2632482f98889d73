import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and must not
 * be relayed; HTTP/2 forbids the connection-specific ones outright, so a
 * relay between HTTP/1.1 and HTTP/2 would fail without removing them.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  // Node answered 100 Continue to the client already; the upstream hop has its own.
  'expect',
]);

export type HeaderMap = Record<string, string | string[]>;

/**
 * Copies end-to-end headers: drops pseudo-headers, `host`, hop-by-hop headers
 * and any header the Connection header names. `te: trailers` survives because
 * gRPC requires it end to end.
 */
export function endToEndHeaders(headers: IncomingHttpHeaders | OutgoingHttpHeaders): HeaderMap {
  const named = connectionTokens(headers['connection']);
  const out: HeaderMap = {};
  // for…in rather than Object.entries: no pair arrays on the per-request path.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.startsWith(':') || name === 'host') continue;
    if (named.has(name)) continue;
    if (HOP_BY_HOP.has(name)) {
      if (name === 'te' && String(value).toLowerCase().includes('trailers')) out['te'] = 'trailers';
      continue;
    }
    out[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return out;
}

/**
 * Removes hop-by-hop headers in place from a header object the proxy owns
 * (a response head an upstream client parsed for us), saving a copy.
 */
export function stripHopByHop(headers: HeaderMap): HeaderMap {
  const connection = headers['connection'];
  if (connection !== undefined) for (const name of connectionTokens(connection)) delete headers[name];
  for (const name of HOP_BY_HOP) {
    if (headers[name] === undefined) continue;
    if (name === 'te' && String(headers[name]).toLowerCase().includes('trailers')) headers['te'] = 'trailers';
    else delete headers[name];
  }
  return headers;
}

const NO_TOKENS: ReadonlySet<string> = new Set();

function connectionTokens(value: unknown): ReadonlySet<string> {
  if (value === undefined) return NO_TOKENS;
  const tokens = new Set<string>();
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  for (const v of values) {
    for (const token of String(v).split(',')) {
      const t = token.trim().toLowerCase();
      if (t) tokens.add(t);
    }
  }
  return tokens;
}

/** Appends the client's address to `x-forwarded-for`, keeping what earlier proxies wrote. */
export function appendForwardedFor(headers: HeaderMap, clientAddress: string | undefined): void {
  if (!clientAddress) return;
  const address = clientAddress.startsWith('::ffff:') ? clientAddress.slice(7) : clientAddress;
  const prior = headers['x-forwarded-for'];
  const joined = Array.isArray(prior) ? prior.join(', ') : prior;
  headers['x-forwarded-for'] = joined ? `${joined}, ${address}` : address;
}
