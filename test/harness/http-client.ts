/**
 * A one-shot HTTP/1.1 client for tests and for the harness's own polling of
 * monitoring endpoints. One connection per request (no pool) so nothing
 * lingers between tests, a hard timeout on the whole exchange, and it refuses
 * to talk to anything but loopback.
 */
import http from 'node:http';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Deadline for the whole exchange, connect to last body byte. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json<T = unknown>(): T;
}

/** Error for a request that hit its deadline; `code` lets tests tell it from resets. */
export class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

export function assertLoopback(hostname: string): void {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
    throw new Error(`refusing to send test traffic to ${hostname}: the harness only talks to loopback (127.0.0.1)`);
  }
}

export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const target = new URL(url);
  assertLoopback(target.hostname);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST');
  return new Promise((resolve, reject) => {
    const req = http.request(target, { method, headers: opts.headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy(new HttpTimeoutError(`${method} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    req.once('error', fail);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', fail);
      res.once('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: () => body.toString('utf8'),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
        });
      });
    });
    req.end(opts.body);
  });
}

/** GET a JSON document, failing on a non-2xx status. */
export async function getJson<T = unknown>(url: string, timeoutMs = 2_000): Promise<T> {
  const res = await httpRequest(url, { timeoutMs });
  if (res.status < 200 || res.status > 299) {
    throw new Error(`GET ${url} answered ${res.status}: ${res.text().slice(0, 300)}`);
  }
  return res.json<T>();
}
