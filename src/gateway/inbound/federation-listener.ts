import http2, { constants, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import tls, { type TLSSocket } from 'node:tls';
import type { HostPort, LimitsConfig } from '../../config/index.js';
import { tlsMaterial, type BundleLookup, type X509Svid } from '../../identity/index.js';
import type { Logger } from '../../telemetry/index.js';
import type { Counters } from '../admin/counters.js';
import { http2Exchange } from './exchange-http2.js';
import type { Exchange } from '../protocol/exchange.js';
import { PeerRefusedError, verifyGatewayPeer, type FederationPeer } from '../protocol/federation-peer.js';
import { listen } from './local-listener.js';
import { applySessionTimeouts } from './session-timeouts.js';

/**
 * Streams one peer may have open at once, advertised in SETTINGS. Gateways
 * multiplex all their callers' requests over a few sessions, so this is
 * generous; it bounds what one peer can make us hold.
 */
export const FEDERATION_MAX_STREAMS = 1_000;

const REFUSED = 'meshgate_federation_refused_total';
/** HTTP/2's own header limit is this many times ours, so that most oversized blocks reach the counted check. */
const HEADER_LIST_MULTIPLE = 4;

export interface FederationListenerOptions {
  readonly limits: LimitsConfig;
  readonly counters: Counters;
  readonly log: Logger;
  /** The gateway's current SVID: new connections get it, open ones keep theirs. */
  readonly svid: () => X509Svid;
  readonly bundleFor: BundleLookup;
  readonly onExchange: (exchange: Exchange, peer: FederationPeer) => void;
  /** A CONNECT stream: another gateway carrying one TCP connection to a service of ours. */
  readonly onTunnel: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, peer: FederationPeer) => void;
}

/**
 * The port other gateways call: TLS 1.3 only, ALPN h2, a client certificate
 * required. A connection reaches HTTP/2 only after its peer's chain has been
 * verified as a gateway SVID; every refusal is counted by reason.
 */
export class FederationListener {
  private readonly server: tls.Server;
  private readonly h2: http2.Http2Server;
  private readonly peers = new WeakMap<Http2Session, FederationPeer>();
  private readonly sockets = new Set<TLSSocket>();
  private readonly sessions = new Set<Http2Session>();
  private draining = false;
  private handingOver: FederationPeer | undefined;

  constructor(private readonly opts: FederationListenerOptions) {
    const { limits } = opts;
    this.server = tls.createServer({
      // Many small HTTP/2 frames per session: Nagle would hold each behind the last ACK.
      noDelay: true,
      ...this.secureContextOptions(),
      ALPNProtocols: ['h2'],
      requestCert: true,
      // Verified in accept(): SVIDs are judged by SPIFFE rules, not Web PKI's.
      rejectUnauthorized: false,
      // Also the slowloris guard before the handshake completes.
      handshakeTimeout: limits.headersTimeoutMs,
    });
    // Accept failures (EMFILE under a connection flood) must not end the process.
    this.server.on('error', (err: Error) => opts.log.warn({ error: { message: err.message } }, 'federation listener error'));
    this.server.on('secureConnection', (socket: TLSSocket) => void this.accept(socket));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.refused(handshakeFailure(err));
      // Node reports a handshake timeout but leaves the connection open.
      socket.destroy();
    });

    this.h2 = http2.createServer({
      // HTTP/2 refuses what exceeds these itself, silently; the header limit
      // is checked per stream below too, where it can be counted, and
      // HTTP/2 applies SETTINGS only once a peer acknowledged them.
      settings: { maxConcurrentStreams: FEDERATION_MAX_STREAMS, maxHeaderListSize: HEADER_LIST_MULTIPLE * limits.maxHeaderBytes },
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
    });
    this.h2.on('session', (session: Http2Session) => this.track(session));
    this.h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) =>
      this.stream(stream, headers, flags),
    );
    // Floods beyond the stream limit and malformed frames end here: the session is closed.
    this.h2.on('sessionError', () => this.refused('h2-session-error'));
  }

  async listen(address: HostPort): Promise<HostPort> {
    return listen(this.server, address);
  }

  /** New connections present the current SVID; open sessions keep the one they started with. */
  reloadSvid(): void {
    this.server.setSecureContext(this.secureContextOptions());
  }

  /** Stops accepting and sends GOAWAY: peers finish what they started and go elsewhere. */
  startDrain(): void {
    this.draining = true;
    this.server.close();
    for (const session of this.sessions) session.close();
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private secureContextOptions(): tls.SecureContextOptions {
    return { ...tlsMaterial(this.opts.svid()), minVersion: 'TLSv1.3' };
  }

  private async accept(socket: TLSSocket): Promise<void> {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    // Bytes the peer sends before we trust it wait in the socket.
    socket.pause();
    try {
      if (socket.alpnProtocol !== 'h2') throw new PeerRefusedError('not-h2', `ALPN ${String(socket.alpnProtocol)} instead of h2`);
      const peer = await verifyGatewayPeer(socket, this.opts.bundleFor, new Date());
      if (socket.destroyed) return;
      if (this.draining) return void socket.destroy();
      // The h2 server creates the session synchronously inside emit().
      this.handingOver = peer;
      try {
        this.h2.emit('connection', socket);
      } finally {
        this.handingOver = undefined;
      }
    } catch (err) {
      const reason = err instanceof PeerRefusedError ? err.reason : 'untrusted-chain';
      this.refused(reason);
      this.opts.log.warn({ reason, remote: socket.remoteAddress, error: { message: (err as Error).message } }, 'federation connection refused');
      socket.destroy();
    }
  }

  private track(session: Http2Session): void {
    if (this.handingOver) this.peers.set(session, this.handingOver);
    this.sessions.add(session);
    session.on('error', () => {});
    // A verified peer that opens no stream in time is holding a slot for
    // nothing; an idle pooled session is closed with GOAWAY, and the peer's
    // pool opens a new one when it needs one.
    applySessionTimeouts(session, {
      firstStreamMs: this.opts.limits.headersTimeoutMs,
      idleMs: this.opts.limits.idleTimeoutMs,
      onNoStream: () => this.refused('headers-timeout'),
    });
    session.once('close', () => this.sessions.delete(session));
  }

  private stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    stream.on('error', ignoreError);
    const session = stream.session;
    const peer = session ? this.peers.get(session) : undefined;
    if (!session || !peer) return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    if (headerListSize(headers) > this.opts.limits.maxHeaderBytes) {
      this.refused('header-too-large');
      return void stream.respond({ ':status': 431, 'meshgate-error': 'header-too-large' }, { endStream: true });
    }
    if (headers[':method'] === 'CONNECT') return this.opts.onTunnel(stream, headers, peer);
    this.opts.onExchange(http2Exchange(stream, headers, flags), peer);
  }

  private refused(reason: string): void {
    this.opts.counters.add(REFUSED, reason);
  }
}

function handshakeFailure(err: NodeJS.ErrnoException): string {
  if (err.code === 'ERR_SSL_NO_APPLICATION_PROTOCOL') return 'not-h2';
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'handshake-timeout';
  if (err.code === 'ECONNRESET') return 'handshake-reset';
  return 'tls-handshake';
}

/** RFC 9113 §6.5.2: each field counts its name and value octets plus 32. */
function headerListSize(headers: IncomingHttpHeaders): number {
  let size = 0;
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) size += name.length + v.length + 32;
    else size += name.length + String(value ?? '').length + 32;
  }
  return size;
}

/** Stream errors surface through 'close'; without a listener a client's RST would crash the process. */
const ignoreError = (): void => {};
