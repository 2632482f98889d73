import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { HostPort, LimitsConfig } from '../../config/index.js';
import type { Counters } from '../admin/counters.js';
import { http1Exchange } from './exchange-http1.js';
import { http2Exchange } from './exchange-http2.js';
import type { Exchange } from '../protocol/exchange.js';
import { applySessionTimeouts } from './session-timeouts.js';

/** The client connection preface that opens every prior-knowledge h2c connection. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One port for apps, speaking HTTP/1.1 and h2c: the first bytes of each
 * connection decide which server gets it.
 */
export class LocalListener {
  private readonly server: net.Server;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly refused = new WeakSet<Socket>();
  private draining = false;

  constructor(
    private readonly limits: LimitsConfig,
    private readonly counters: Counters,
    onExchange: (exchange: Exchange) => void,
  ) {
    this.h1 = http.createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      // Bodies may stream for long; slow senders are bounded by headersTimeout
      // and the upstream's idle timeout instead.
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
      // Between requests a keep-alive connection is idle.
      keepAliveTimeout: limits.idleTimeoutMs,
    });
    this.h1.on('request', (req: IncomingMessage, res: ServerResponse) =>
      onExchange(http1Exchange(req, res, () => this.draining)),
    );
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.refuseHttp1(err, socket));

    this.h2 = http2.createServer({
      settings: { maxHeaderListSize: limits.maxHeaderBytes, maxConcurrentStreams: limits.maxConcurrentStreams },
      maxSessionInvalidFrames: 100,
    });
    this.h2.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      applySessionTimeouts(session, {
        firstStreamMs: limits.headersTimeoutMs,
        idleMs: limits.idleTimeoutMs,
        onNoStream: () => this.counters.add('meshgate_client_errors_total', 'headers-timeout'),
      });
      session.once('close', () => this.sessions.delete(session));
      if (this.draining) session.close();
    });
    this.h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) =>
      onExchange(http2Exchange(stream, headers, flags)),
    );
    this.h2.on('sessionError', () => this.counters.add('meshgate_client_errors_total', 'h2-session-error'));

    // Node's HTTP server turns Nagle off on the sockets it accepts; these are accepted here, so here too.
    this.server = net.createServer({ noDelay: true }, (socket) => this.sniff(socket));
    // Accept failures (EMFILE when descriptors run out) must not end the process.
    this.server.on('error', () => this.counters.add('meshgate_client_errors_total', 'accept-failed'));
  }

  async listen(address: HostPort): Promise<HostPort> {
    const bound = await listen(this.server, address);
    // The h1 server gets its sockets from us and never listens itself, but
    // its headersTimeout checks and closeIdleConnections() start on its
    // 'listening' event.
    this.h1.emit('listening');
    return bound;
  }

  /** Stops accepting, lets in-flight requests finish, and closes idle connections. */
  startDrain(): void {
    this.draining = true;
    this.server.close();
    this.h1.closeIdleConnections();
    for (const session of this.sessions) session.close();
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Ends every connection at once; used when the drain timeout runs out. */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private sniff(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    // A client that connects and sends nothing never reaches either server's
    // own header timeout, so it gets the same limit here.
    const onTimeout = () => {
      this.counters.add('meshgate_client_errors_total', 'headers-timeout');
      socket.destroy();
    };
    socket.setTimeout(this.limits.headersTimeoutMs, onTimeout);
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return; // need more bytes to decide
      socket.off('data', onData);
      socket.pause();
      // The listener must go too: the h1 server sets its own socket timeout
      // between keep-alive requests, and that end is no client error.
      socket.setTimeout(0);
      socket.off('timeout', onTimeout);
      socket.unshift(seen);
      if (isH2) {
        // The h2 session reads whatever is buffered on the socket first.
        this.h2.emit('connection', socket);
      } else {
        // The h1 parser may consume the handle directly; the bytes read so
        // far reach it only through 'data' once the socket flows again.
        this.h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  private refuseHttp1(err: NodeJS.ErrnoException, socket: Socket): void {
    // After our answer the client's half-sent head ends in a parse error at
    // EOF: one refusal is one count.
    if (this.refused.has(socket)) return void socket.destroy();
    this.refused.add(socket);
    const [status, reason] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'header-too-large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'headers-timeout']
          : [400, 'malformed-request'];
    this.counters.add('meshgate_client_errors_total', reason);
    if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nmeshgate-error: ${reason}\r\n` +
          'connection: close\r\ncontent-length: 0\r\n\r\n',
      );
    } else {
      socket.destroy();
    }
  }
}

export function listen(server: net.Server, address: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address() as AddressInfo;
      resolve({ host: bound.address, port: bound.port });
    });
  });
}
