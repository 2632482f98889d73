/**
 * Real HTTP/1.1 and cleartext HTTP/2 servers on 127.0.0.1 that stand in for a
 * service's endpoints. Both speak the same small API (see defaultHandler) and
 * record what they received, so a test can see what a proxy delivered.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';

/** What the default handler and custom handlers are given: the subset node:http and the http2 compat API share. */
export type BackendRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type BackendResponse = http.ServerResponse | http2.Http2ServerResponse;

/** A custom handler; call `fallback()` to let the default handler answer. */
export type BackendHandler = (req: BackendRequest, res: BackendResponse, fallback: () => void) => void | Promise<void>;

export interface HttpBackendOptions {
  /** Sent as the `x-backend` header and in /echo, so a test can tell which endpoint answered. */
  name?: string;
  handler?: BackendHandler;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  httpVersion: string;
}

export interface RequestLog {
  /** Requests received since start (or reset()). */
  readonly count: number;
  readonly last: RecordedRequest | undefined;
  /** The last 1000 requests, oldest first. */
  readonly all: readonly RecordedRequest[];
  reset(): void;
}

export interface HttpBackend {
  readonly name: string;
  /** 'http://127.0.0.1:PORT' */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** '127.0.0.1:PORT' */
  readonly address: string;
  readonly protocol: 'http1' | 'h2c';
  readonly requests: RequestLog;
  /** TCP connections accepted since start (restarts included): shows whether clients reuse them. */
  readonly connections: number;
  /** Stops listening and waits for open connections to finish. */
  close(): Promise<void>;
  /** Stops listening and destroys every open connection: afterwards connecting is refused. */
  stop(): Promise<void>;
  /** Listens again on the same port after stop()/close(), like an endpoint coming back. */
  restart(): Promise<void>;
}

const MAX_LOGGED_REQUESTS = 1_000;
const DOWNLOAD_CHUNK = 64 * 1024;
const MAX_SLOW_MS = 120_000;

/** Bytes of the /download pattern: byte i of the stream is i % 251 (a prime, so shifts and drops show). */
export function patternBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

/** One precomputed run, sliced at any phase, so streaming a large download costs no per-byte work. */
const PATTERN = patternBytes(0, DOWNLOAD_CHUNK + 251);

export async function startHttpBackend(handlerOrOptions?: BackendHandler | HttpBackendOptions): Promise<HttpBackend> {
  const backend = new Backend('http1', normalize(handlerOrOptions));
  await backend.listen(0);
  return backend;
}

export async function startH2cBackend(handlerOrOptions?: BackendHandler | HttpBackendOptions): Promise<HttpBackend> {
  const backend = new Backend('h2c', normalize(handlerOrOptions));
  await backend.listen(0);
  return backend;
}

function normalize(handlerOrOptions?: BackendHandler | HttpBackendOptions): HttpBackendOptions {
  return typeof handlerOrOptions === 'function' ? { handler: handlerOrOptions } : (handlerOrOptions ?? {});
}

class Log implements RequestLog {
  count = 0;
  readonly all: RecordedRequest[] = [];
  get last(): RecordedRequest | undefined {
    return this.all[this.all.length - 1];
  }
  record(req: BackendRequest): void {
    this.count++;
    this.all.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: { ...req.headers },
      httpVersion: req.httpVersion,
    });
    if (this.all.length > MAX_LOGGED_REQUESTS) this.all.splice(0, this.all.length - MAX_LOGGED_REQUESTS);
  }
  reset(): void {
    this.count = 0;
    this.all.length = 0;
  }
}

class Backend implements HttpBackend {
  readonly host = '127.0.0.1';
  port = 0;
  readonly name: string;
  readonly requests = new Log();
  connections = 0;
  private server: http.Server | http2.Http2Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(
    readonly protocol: 'http1' | 'h2c',
    private readonly opts: HttpBackendOptions,
  ) {
    this.name = opts.name ?? `${protocol}-backend`;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  listen(port: number): Promise<void> {
    const onRequest = (req: BackendRequest, res: BackendResponse): void => {
      this.requests.record(req);
      res.setHeader('x-backend', this.name);
      const fallback = (): void => {
        void defaultHandler(req, res).catch((err) => failResponse(res, err));
      };
      if (!this.opts.handler) return fallback();
      Promise.resolve()
        .then(() => this.opts.handler!(req, res, fallback))
        .catch((err) => failResponse(res, err));
    };
    const server = this.protocol === 'h2c' ? http2.createServer(onRequest) : http.createServer(onRequest);
    this.server = server;
    server.on('connection', (socket: net.Socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    if (this.protocol === 'h2c') {
      (server as http2.Http2Server).on('session', (session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
      });
    }
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port }, () => {
        server.off('error', reject);
        const address = server.address();
        this.port = typeof address === 'object' && address ? address.port : port;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return this.shutdown(false);
  }

  stop(): Promise<void> {
    return this.shutdown(true);
  }

  async restart(): Promise<void> {
    if (this.server?.listening) throw new Error(`${this.name} is still listening on ${this.address}: stop() it first`);
    await this.listen(this.port);
  }

  private shutdown(destroy: boolean): Promise<void> {
    const server = this.server;
    if (!server || !server.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      if (destroy) {
        for (const session of this.sessions) session.destroy();
        for (const socket of this.sockets) socket.destroy();
      } else if (server instanceof http.Server) {
        server.closeIdleConnections();
      } else {
        for (const session of this.sessions) session.close();
      }
    });
  }
}

function failResponse(res: BackendResponse, err: unknown): void {
  if (!res.headersSent) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`backend handler failed: ${String(err)}`);
  } else {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * GET /healthz → 200; /echo → JSON of method, path, headers, body length;
 * POST /upload → {bytes} counted while streaming; GET /download?bytes=N → N
 * pattern bytes, written with backpressure; /slow?ms=N → answers after N ms;
 * /status/NNN → that status; anything else 404.
 */
export async function defaultHandler(req: BackendRequest, res: BackendResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://backend.invalid');
  const name = String(res.getHeader('x-backend') ?? '');
  const statusMatch = /^\/status\/(\d{3})$/.exec(url.pathname);
  if (url.pathname === '/healthz') {
    await drain(req);
    return sendJson(res, 200, { ok: true, backend: name });
  }
  if (url.pathname === '/echo') {
    const bodyBytes = await drain(req);
    return sendJson(res, 200, {
      backend: name,
      method: req.method,
      path: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      bodyBytes,
    });
  }
  if (url.pathname === '/upload') {
    const bytes = await drain(req);
    return sendJson(res, 200, { backend: name, bytes });
  }
  if (url.pathname === '/download') {
    await drain(req);
    const total = Number(url.searchParams.get('bytes') ?? '0');
    if (!Number.isSafeInteger(total) || total < 0) return sendJson(res, 400, { error: 'bytes must be a whole number >= 0' });
    return streamPattern(res, total);
  }
  if (url.pathname === '/slow') {
    await drain(req);
    const ms = Number(url.searchParams.get('ms') ?? '0');
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_SLOW_MS) return sendJson(res, 400, { error: `ms must be 0..${MAX_SLOW_MS}` });
    const finished = await delayUnlessClosed(res, ms);
    if (finished) sendJson(res, 200, { backend: name, sleptMs: ms });
    return;
  }
  if (statusMatch) {
    await drain(req);
    const status = Number(statusMatch[1]);
    if (status < 200 || status > 599) return sendJson(res, 400, { error: 'status must be 200..599' });
    if (status === 204 || status === 304) {
      res.writeHead(status);
      res.end();
      return;
    }
    return sendJson(res, status, { backend: name, status });
  }
  await drain(req);
  sendJson(res, 404, { backend: name, error: `no route for ${url.pathname}` });
}

function sendJson(res: BackendResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Reads the request body to its end, counting bytes and keeping none. */
async function drain(req: BackendRequest): Promise<number> {
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) bytes += chunk.length;
  return bytes;
}

async function streamPattern(res: BackendResponse, total: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  let sent = 0;
  while (sent < total) {
    if (isClosed(res)) return;
    const n = Math.min(DOWNLOAD_CHUNK, total - sent);
    const phase = sent % 251;
    const ok = (res as http.ServerResponse).write(PATTERN.subarray(phase, phase + n));
    sent += n;
    if (!ok && !(await drainedOrClosed(res))) return;
  }
  res.end();
}

function isClosed(res: BackendResponse): boolean {
  return res.destroyed || (res as { writableEnded?: boolean }).writableEnded === true;
}

type Emitter = { once(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown };

/** Resolves true on 'drain', false if the response closes first. */
function drainedOrClosed(res: BackendResponse): Promise<boolean> {
  const emitter = res as unknown as Emitter;
  return new Promise((resolve) => {
    const onDrain = (): void => {
      emitter.off('close', onClose);
      resolve(true);
    };
    const onClose = (): void => {
      emitter.off('drain', onDrain);
      resolve(false);
    };
    emitter.once('drain', onDrain);
    emitter.once('close', onClose);
  });
}

/** Resolves true after `ms`, or false at once if the client goes away (no timer left behind). */
function delayUnlessClosed(res: BackendResponse, ms: number): Promise<boolean> {
  const emitter = res as unknown as Emitter;
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      emitter.off('close', onClose);
      resolve(!isClosed(res));
    }, ms);
    emitter.once('close', onClose);
  });
}
