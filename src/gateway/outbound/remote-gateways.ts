import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import tls, { type TLSSocket } from 'node:tls';
import { parseHostPort, type HostPort, type TimeoutsConfig } from '../../config/index.js';
import { tlsMaterial, type BundleLookup, type X509Svid } from '../../identity/index.js';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import type { InboundRequest, UpstreamResponse } from '../protocol/exchange.js';
import { verifyGatewayPeer } from '../protocol/federation-peer.js';
import { forwardOnSession, watchGoaway } from './h2-forward.js';
import { ResetAllowance } from './reset-allowance.js';

/** A replica of another cluster's gateway, as membership announced it. */
export interface RemoteGateway {
  readonly memberId: string;
  readonly cluster: string;
  /** host:port of its federation listener. */
  readonly address: string;
  /** What its certificate must prove: the gateway SVID membership knows it by. */
  readonly spiffeId: string;
}

export interface RemoteGatewayPoolOptions {
  readonly svid: () => X509Svid;
  readonly bundleFor: BundleLookup;
  /** Sessions per remote replica; a second opens only when the first is full. */
  readonly maxSessions?: number;
  readonly random?: () => number;
}

/** A remote gateway's refusal of a tunnel, as our own code for it (the connection is not tried elsewhere). */
function refusalCode(status: number): GatewayErrorCode {
  return status === 403 ? 'forbidden' : status === 404 ? 'unknown-service' : 'bad-request';
}

/** Half of nghttp2's default allowance (1,000 resets, 33 a second): a session retires well before its peer would end it. */
const RESET_BURST = 500;
const RESETS_PER_SECOND = 16;

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

interface Replica {
  readonly sessions: ClientHttp2Session[];
  connecting: Promise<ClientHttp2Session> | undefined;
  failures: number;
  retryAt: number;
  lastError: string | undefined;
}

/**
 * Long-lived mTLS HTTP/2 sessions to other clusters' gateways: many streams
 * per session, a bounded number of sessions per replica, and after a failed
 * connect a jittered exponential backoff during which requests fail fast
 * (so the router moves on instead of waiting on a dead peer).
 */
export class RemoteGatewayPool {
  private readonly replicas = new Map<string, Replica>();
  /** Streams open per session: HTTP/2 limits them, and Node does not expose the count. */
  private readonly streams = new WeakMap<ClientHttp2Session, number>();
  private readonly resets = new WeakMap<ClientHttp2Session, ResetAllowance>();
  private readonly maxSessions: number;
  private readonly random: () => number;

  constructor(private readonly opts: RemoteGatewayPoolOptions) {
    this.maxSessions = opts.maxSessions ?? 2;
    this.random = opts.random ?? Math.random;
  }

  async forward(target: RemoteGateway, headers: http2.OutgoingHttpHeaders, request: InboundRequest, timeouts: TimeoutsConfig): Promise<UpstreamResponse> {
    const session = await this.session(target, timeouts.connectMs);
    this.streams.set(session, this.activeStreams(session) + 1);
    const done = (cancelled: boolean) => {
      this.streams.set(session, this.activeStreams(session) - 1);
      if (cancelled && !this.resets.get(session)?.spend(Date.now())) this.retire(session);
    };
    return forwardOnSession(session, target.memberId, headers, request, timeouts, done);
  }

  /**
   * Opens a CONNECT stream (RFC 9113 §8.5) to a remote replica for one TCP
   * connection, and resolves once the replica answers 200, i.e. it has
   * connected to an endpoint of its own. A replica that cannot be reached is
   * `upstream-connect` marked unprocessed (the next replica may be tried at
   * no cost); the replica's refusal carries its status and code.
   */
  async tunnel(target: RemoteGateway, headers: http2.OutgoingHttpHeaders, connectMs: number, waitMs: number): Promise<ClientHttp2Stream> {
    let session: ClientHttp2Session;
    try {
      session = await this.session(target, connectMs);
    } catch (err) {
      throw new GatewayError('upstream-connect', (err as Error).message, { gateway: target.memberId }, { cause: err, unprocessed: true });
    }
    const stream = session.request(headers, { endStream: false });
    this.streams.set(session, this.activeStreams(session) + 1);
    stream.once('close', () => this.streams.set(session, this.activeStreams(session) - 1));
    stream.on('error', () => {});
    const context = { gateway: target.memberId };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new GatewayError('upstream-timeout', `gateway ${target.memberId} did not connect the tunnel in ${waitMs} ms`, context));
      }, waitMs);
      stream.once('response', (head) => {
        clearTimeout(timer);
        const status = Number(head[':status']);
        if (status === 200) return resolve(stream);
        const code = String(head['meshgate-error'] ?? 'none');
        reject(new GatewayError(status < 500 ? refusalCode(status) : 'upstream-connect', `gateway ${target.memberId} answered ${status} (${code})`, { ...context, status }));
      });
      stream.once('close', () => {
        clearTimeout(timer);
        reject(new GatewayError('upstream-reset', `gateway ${target.memberId} reset the tunnel (code ${stream.rstCode ?? '?'})`, context));
      });
    });
  }

  /** Per replica, for /debug pages: open sessions, streams in flight, and the backoff after failures. */
  status(now = Date.now()) {
    return Object.fromEntries(
      [...this.replicas].map(([key, r]) => [
        key,
        {
          sessions: r.sessions.length,
          streams: r.sessions.reduce((n, s) => n + this.activeStreams(s), 0),
          failures: r.failures,
          ...(r.retryAt > now && { retryInMs: r.retryAt - now }),
          ...(r.lastError !== undefined && { lastError: r.lastError }),
        },
      ]),
    );
  }

  close(): void {
    for (const replica of this.replicas.values()) for (const session of replica.sessions.splice(0)) session.close();
  }

  /**
   * A session that has sent as many resets as its peer tolerates takes no
   * new streams: the next request opens a fresh session, and this one ends
   * gracefully once its streams are done.
   */
  private retire(session: ClientHttp2Session): void {
    for (const replica of this.replicas.values()) {
      const i = replica.sessions.indexOf(session);
      if (i === -1) continue;
      replica.sessions.splice(i, 1);
      session.close();
      return;
    }
  }

  private activeStreams(session: ClientHttp2Session): number {
    return this.streams.get(session) ?? 0;
  }

  private leastLoaded(sessions: readonly ClientHttp2Session[]): ClientHttp2Session | undefined {
    let best: ClientHttp2Session | undefined;
    for (const s of sessions) if (!s.closed && !s.destroyed && (!best || this.activeStreams(s) < this.activeStreams(best))) best = s;
    return best;
  }

  private async session(target: RemoteGateway, connectMs: number): Promise<ClientHttp2Session> {
    const key = `${target.memberId}@${target.address}`;
    let replica = this.replicas.get(key);
    if (!replica) this.replicas.set(key, (replica = { sessions: [], connecting: undefined, failures: 0, retryAt: 0, lastError: undefined }));

    const least = this.leastLoaded(replica.sessions);
    if (least && this.activeStreams(least) < (least.remoteSettings.maxConcurrentStreams ?? 100)) return least;
    if (replica.connecting) return least ?? replica.connecting;
    if (least && replica.sessions.length >= this.maxSessions) return least; // Node queues beyond the peer's limit
    if (Date.now() < replica.retryAt) {
      if (least) return least;
      throw new GatewayError('upstream-connect', `${target.memberId} is backed off after: ${replica.lastError}`, { gateway: target.memberId });
    }
    const connecting = (replica.connecting = this.connect(target, replica, connectMs).finally(() => (replica.connecting = undefined)));
    // When a full session serves this request, nobody awaits the new connection: its failure is recorded, not thrown.
    connecting.catch(() => {});
    return least ?? connecting;
  }

  private async connect(target: RemoteGateway, replica: Replica, connectMs: number): Promise<ClientHttp2Session> {
    try {
      const session = await this.open(target, connectMs);
      replica.failures = 0;
      replica.lastError = undefined;
      replica.sessions.push(session);
      const forget = () => {
        const i = replica.sessions.indexOf(session);
        if (i !== -1) replica.sessions.splice(i, 1);
      };
      session.once('goaway', forget);
      session.once('close', forget);
      return session;
    } catch (err) {
      replica.failures++;
      const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (replica.failures - 1));
      replica.retryAt = Date.now() + backoff * (0.5 + this.random() / 2);
      replica.lastError = (err as Error).message;
      throw err;
    }
  }

  private async open(target: RemoteGateway, connectMs: number): Promise<ClientHttp2Session> {
    const session = await openGatewaySession(target, this.opts, connectMs);
    this.resets.set(session, new ResetAllowance(RESET_BURST, RESETS_PER_SECOND, Date.now()));
    // Pooled sessions must not keep a draining process alive.
    session.unref();
    return session;
  }
}

/**
 * An mTLS HTTP/2 session to a remote gateway replica, resolved once the peer
 * has proved `target.spiffeId` by SPIFFE rules and sent its HTTP/2 settings;
 * rejects with `upstream-connect` naming the replica, its address and why.
 * The pool keeps these; `meshgate check` opens one and closes it.
 */
export function openGatewaySession(
  target: RemoteGateway,
  credentials: { readonly svid: () => X509Svid; readonly bundleFor: BundleLookup },
  connectMs: number,
): Promise<ClientHttp2Session> {
  const fail = (why: string, cause?: unknown) =>
    new GatewayError('upstream-connect', `cannot connect to gateway ${target.memberId} at ${target.address} (${why})`, { gateway: target.memberId }, { cause });
  let hostPort: HostPort;
  try {
    // Gossiped by another cluster: well-formed only if its gateway is.
    hostPort = parseHostPort(target.address);
  } catch (err) {
    return Promise.reject(fail((err as Error).message, err));
  }
  const { host, port } = hostPort;
  return new Promise((resolve, reject) => {
    let session: ClientHttp2Session | undefined;
    const socket: TLSSocket = tls.connect({
      host,
      port,
      ...tlsMaterial(credentials.svid()),
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
      // Checked below by SPIFFE rules against the ID membership announced.
      rejectUnauthorized: false,
      ...(!/^[\d.:]+$/.test(host) && { servername: host }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      session?.destroy();
      reject(fail('timeout'));
    }, connectMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(fail(err.code ?? err.message, err));
    });
    // Many small HTTP/2 frames per session: Nagle would hold each behind the last ACK.
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      verifyGatewayPeer(socket, credentials.bundleFor, new Date())
        .then((peer) => {
          if (peer.spiffeId !== target.spiffeId) throw new Error(`it is ${peer.spiffeId}, expected ${target.spiffeId}`);
          if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN ${String(socket.alpnProtocol)}`);
          session = http2.connect(`https://${target.address}`, { createConnection: () => socket });
          session.on('error', () => {});
          watchGoaway(session);
          // Streams go out only once the peer's limits are known: before
          // that, Node would send more than it allows and see them refused.
          session.once('remoteSettings', () => {
            clearTimeout(timer);
            resolve(session as ClientHttp2Session);
          });
          session.once('close', () => {
            clearTimeout(timer);
            reject(fail('closed during setup'));
          });
        })
        .catch((err: Error) => {
          clearTimeout(timer);
          socket.destroy();
          reject(fail(err.message, err));
        });
    });
  });
}
