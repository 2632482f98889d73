import type { AdminDocuments } from './admin-documents.js';
import { StatusError } from './errors.js';
import { buildStatusReport, type StatusReport } from './report.js';

/**
 * Admin pages are built from memory in microseconds: a gateway that takes
 * seconds is stuck (paused, starved), and an operator in an incident needs
 * to hear that rather than wait.
 */
export const DEFAULT_ADMIN_TIMEOUT_MS = 5_000;

/** The base URL of an admin listener, checked: http or https, nothing else. */
function adminBaseUrl(admin: string): URL {
  let url: URL;
  try {
    url = new URL(admin);
  } catch {
    throw new StatusError('bad-url', `--admin ${JSON.stringify(admin)} is not a URL (e.g. http://127.0.0.1:9901)`);
  }
  // "localhost:9901" parses as a URL with the scheme "localhost:".
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StatusError('bad-url', `--admin ${JSON.stringify(admin)} is not an http(s) URL (e.g. http://127.0.0.1:9901)`);
  }
  return url;
}

/** Reads the gateway at `admin` and builds its report; a StatusError when it does not answer as a gateway. */
export async function fetchStatusReport(admin: string, timeoutMs = DEFAULT_ADMIN_TIMEOUT_MS): Promise<StatusReport> {
  const docs = await fetchAdminDocuments(admin, timeoutMs);
  return buildStatusReport(docs, { admin, now: Date.now() });
}

/** Reads every page the report needs, at once; the first page that fails fails the whole look. */
async function fetchAdminDocuments(admin: string, timeoutMs = DEFAULT_ADMIN_TIMEOUT_MS): Promise<AdminDocuments> {
  const base = adminBaseUrl(admin);
  const page = <T>(path: string, accept: readonly number[] = [200]) => fetchJson<T>(new URL(path, base), accept, timeoutMs);
  const [ready, members, services, routes, events, latency] = await Promise.all([
    // 503 is /ready's answer while not ready, with the reasons: a fact to show, not a failure.
    page<AdminDocuments['ready']>('/ready', [200, 503]),
    page<AdminDocuments['members']>('/debug/members'),
    page<AdminDocuments['services']>('/debug/services'),
    page<AdminDocuments['routes']>('/debug/routes'),
    page<AdminDocuments['events']>('/debug/events'),
    page<AdminDocuments['latency']>('/debug/latency'),
  ]);
  return { ready, members, services, routes, events, latency };
}

async function fetchJson<T>(url: URL, accept: readonly number[], timeoutMs: number): Promise<T> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    text = await res.text();
  } catch (err) {
    throw new StatusError('unreachable', `no answer from ${url.href}: ${describeFetchFailure(err, timeoutMs)}`, url.href, { cause: err });
  }
  if (!accept.includes(res.status)) {
    throw new StatusError('bad-answer', `${url.href} answered ${res.status}: ${text.slice(0, 200).replace(/\s+/g, ' ')}`, url.href);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new StatusError('bad-answer', `${url.href} answered ${res.status} with something other than JSON: ${JSON.stringify(text.slice(0, 80))}`, url.href, { cause: err });
  }
}

/** fetch says only "fetch failed"; the reason a person can act on (ECONNREFUSED, the deadline) is in its cause. */
function describeFetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `nothing within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.message === 'string' && cause.message) return cause.message;
  if (typeof cause?.code === 'string') return cause.code;
  return err instanceof Error ? err.message : String(err);
}
