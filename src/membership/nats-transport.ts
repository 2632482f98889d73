/**
 * GossipTransport over one nats.js connection.
 *
 * What NATS gives (NATS docs: request-reply, no responders, automatic
 * reconnection) and what we add:
 *  - request/reply with a muxed reply inbox: one wildcard subscription for all
 *    our requests, so probing does not churn interest across gateways;
 *  - "no responders" (a 503 status) when no subscriber exists as far as our
 *    server knows: mapped to 'no-responders', evidence for the detector, not proof;
 *  - reconnection, with our subscriptions re-sent by nats.js after each
 *    reconnect (integration-tested); we surface 'disconnected'/'reconnected'
 *    so the orchestrator does not take a NATS restart for our own death;
 *  - a timeout that spans a disconnect is reported as 'disconnected': it says
 *    nothing about the member we asked.
 */
import {
  connect,
  ErrorCode,
  Events,
  NatsError,
  RequestStrategy,
  type ConnectionOptions,
  type Msg,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { gossipSubject, memberSubject, parseMemberId, assertToken } from './subjects.js';
import {
  assertTimeout,
  DEFAULT_MAX_MESSAGE_BYTES,
  InboundGate,
  StatusListeners,
  isTransportError,
  TransportError,
  type GossipTransport,
  type NatsLocation,
  type TransportHandlers,
  type TransportStats,
  type TransportStatus,
} from './transport.js';

/** Much shorter than the client default (a ping every 2 min, 2 outstanding), which hides a dead link for minutes. */
export const NATS_PING_INTERVAL_MS = 5_000;
export const NATS_MAX_PINGS_OUT = 2;
/** Reconnect waits 250 ms plus up to 750 ms of jitter, so replicas that lost the same server do not return in one herd. */
export const NATS_RECONNECT_WAIT_MS = 250;
export const NATS_RECONNECT_JITTER_MS = 750;
/** Every server's account statistics; the reply names the server (NATS system events, account-scoped requests). */
const ACCOUNT_STATZ = '$SYS.REQ.ACCOUNT.PING.STATZ';
/**
 * Without it a server answers only while our account has a connection on it,
 * so the server of a cluster whose one gateway just died would stay silent.
 */
const STATZ_INCLUDE_UNUSED = new TextEncoder().encode('{"include_unused":true}');
/** A STATZ reply is a few hundred bytes; anything far larger is not one. */
const STATZ_MAX_BYTES = 64 * 1024;
/** How long close() lets queued messages (a graceful 'left') reach the server. */
const CLOSE_FLUSH_MS = 2_000;
/** How long start() waits for the server to confirm our subscriptions. */
const START_FLUSH_MS = 5_000;

export interface NatsTransportOptions {
  /** NATS URLs, e.g. config's `nats.servers`. */
  servers: string | string[];
  federation: string;
  /** Our member id, `<cluster>.<replica>`. */
  memberId: string;
  /** Connection name as the server shows it (/connz); default `meshgate-gossip-<memberId>`. */
  name?: string;
  /** Message budget; never above the server's max_payload. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Further nats.js options (TLS, credentials, inboxPrefix…), applied over ours. */
  connection?: Partial<ConnectionOptions>;
}

/** The nats.js options a gossip connection uses. */
export function natsConnectionOptions(opts: NatsTransportOptions): ConnectionOptions {
  return {
    servers: opts.servers,
    name: opts.name ?? `meshgate-gossip-${opts.memberId}`,
    pingInterval: NATS_PING_INTERVAL_MS,
    maxPingOut: NATS_MAX_PINGS_OUT,
    reconnect: true,
    // Never give up: a NATS outage of any length must end in a reconnect, not a dead gateway.
    maxReconnectAttempts: -1,
    reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
    reconnectJitter: NATS_RECONNECT_JITTER_MS,
    reconnectJitterTLS: NATS_RECONNECT_JITTER_MS,
    // Our own broadcasts are of no use to us; the server need not send them back.
    noEcho: true,
    ...opts.connection,
  };
}

export interface NatsTransportSettings {
  federation: string;
  memberId: string;
  maxMessageBytes?: number;
  /** close() also closes the connection. Default true. */
  ownsConnection?: boolean;
}

export class NatsTransport implements GossipTransport {
  /** Connects with natsConnectionOptions(opts) and wraps the connection (which close() then closes). */
  static async connect(opts: NatsTransportOptions): Promise<NatsTransport> {
    validateSettings(opts);
    const nc = await connect(natsConnectionOptions(opts));
    return new NatsTransport(nc, { ...opts, ownsConnection: true });
  }

  private readonly federation: string;
  private readonly gossip: string;
  private readonly self: string;
  private readonly budget: number;
  private readonly ownsConnection: boolean;
  private readonly inbound = new InboundGate(() => this.maxMessageBytes);
  private readonly statusListeners = new StatusListeners();
  private readonly subscriptions: Subscription[] = [];
  /** Rejecters of requests still waiting, so close() ends them at once (also on a connection we do not own). */
  private readonly pending = new Set<(err: TransportError) => void>();
  private connected = true;
  /** Counts disconnects, so a request can tell whether one happened while it waited. */
  private disconnects = 0;
  /** Last max_payload the server announced; nc.info is unset while reconnecting. */
  private serverMaxPayload: number | undefined;
  private closing = false;

  /**
   * Wraps a connection made elsewhere. Its options matter: use
   * natsConnectionOptions() (a connection that gives up reconnecting ends this transport).
   */
  constructor(
    private readonly nc: NatsConnection,
    settings: NatsTransportSettings,
  ) {
    validateSettings(settings);
    this.federation = settings.federation;
    this.gossip = gossipSubject(settings.federation);
    this.self = memberSubject(settings.federation, settings.memberId);
    this.budget = settings.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.ownsConnection = settings.ownsConnection ?? true;
    this.serverMaxPayload = nc.info?.max_payload;
    void this.watchStatus();
    nc.closed().then(
      () => this.connectionEnded(),
      () => this.connectionEnded(),
    );
  }

  get maxMessageBytes(): number {
    const announced = this.nc.info?.max_payload;
    if (announced) this.serverMaxPayload = announced;
    return Math.min(this.budget, this.serverMaxPayload ?? this.budget);
  }

  async start(handlers: TransportHandlers): Promise<void> {
    if (this.closing) throw new TransportError('closed', 'the transport is closed');
    if (this.inbound.started) throw new Error('NatsTransport.start() was already called');
    this.inbound.setHandlers(handlers);
    // Callbacks, not async iterators: nats.js calls them from its parser, and
    // InboundGate guarantees nothing thrown gets back there.
    this.subscriptions.push(
      this.nc.subscribe(this.gossip, {
        callback: (err, msg) => {
          if (!err) this.inbound.broadcast(msg.data);
        },
      }),
      this.nc.subscribe(this.self, {
        callback: (err, msg) => {
          if (!err) this.inbound.request(msg.data, responder(msg));
        },
      }),
    );
    // Once the server has answered a PING it holds our SUBs: from then on a
    // request to us through this server finds us. (Other servers learn it
    // asynchronously.) Bounded: while disconnected, nats.js re-sends them on reconnect.
    await within(this.nc.flush(), START_FLUSH_MS);
  }

  async broadcast(data: Uint8Array): Promise<void> {
    this.checkSendable(data);
    try {
      this.nc.publish(this.gossip, data);
    } catch (err) {
      throw this.toTransportError(err, 'broadcast', false);
    }
  }

  async request(memberId: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    assertTimeout(timeoutMs);
    const subject = memberSubject(this.federation, memberId);
    this.checkSendable(data);
    const disconnectsBefore = this.disconnects;
    let reply: Msg;
    try {
      reply = await this.untilClosed(this.nc.request(subject, data, { timeout: timeoutMs }));
    } catch (err) {
      if (isTransportError(err)) throw err;
      throw this.toTransportError(err, `request to ${memberId}`, this.disconnects !== disconnectsBefore);
    }
    if (reply.data.length > this.maxMessageBytes) {
      throw new TransportError('too-large', `reply from ${memberId} is ${reply.data.length} bytes, above the ${this.maxMessageBytes}-byte budget`);
    }
    return reply.data;
  }

  location(): NatsLocation | undefined {
    const info = this.connected ? this.nc.info : undefined;
    if (!info?.server_name) return undefined;
    return { server: info.server_name, cluster: info.cluster ?? info.server_name };
  }

  /**
   * Asks every server of the account for its statistics (NATS's
   * account-scoped `$SYS.REQ.ACCOUNT.PING.STATZ`, open to every account by
   * default) and collects who answers within `timeoutMs`.
   */
  async answeringServers(timeoutMs: number): Promise<ReadonlySet<string> | undefined> {
    if (!this.connected || this.closing) return undefined;
    const names = new Set<string>();
    try {
      const replies = await this.nc.requestMany(ACCOUNT_STATZ, STATZ_INCLUDE_UNUSED, { maxWait: timeoutMs, strategy: RequestStrategy.Timer });
      for await (const reply of replies) {
        const name = reply.data.length <= STATZ_MAX_BYTES ? statzServerName(reply.data) : undefined;
        if (name) names.add(name);
      }
    } catch {
      return undefined;
    }
    return names.size > 0 ? names : undefined;
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.statusListeners.add(listener);
  }

  stats(): TransportStats {
    return this.inbound.stats();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.statusListeners.clear();
    const closedError = new TransportError('closed', 'the transport was closed');
    for (const reject of [...this.pending]) reject(closedError);
    for (const sub of this.subscriptions) {
      try {
        sub.unsubscribe();
      } catch {
        // Already gone with the connection.
      }
    }
    if (!this.ownsConnection || this.nc.isClosed()) return;
    // nats.js close() drops what is still queued: let a last broadcast (a graceful 'left') out first.
    if (this.connected) await within(this.nc.flush(), CLOSE_FLUSH_MS);
    await this.nc.close();
  }

  private untilClosed<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      promise.then(resolve, reject).finally(() => this.pending.delete(reject));
    });
  }

  /** The checks made before anything is handed to nats.js (which would buffer while disconnected). */
  private checkSendable(data: Uint8Array): void {
    if (this.closing || this.nc.isClosed()) throw new TransportError('closed', 'the transport is closed');
    const limit = this.maxMessageBytes;
    if (data.length > limit) throw new TransportError('too-large', `message is ${data.length} bytes, above the ${limit}-byte budget`);
    if (!this.connected) throw new TransportError('disconnected', 'not connected to NATS (reconnecting)');
  }

  private toTransportError(err: unknown, what: string, disconnectedMeanwhile: boolean): TransportError {
    if (this.closing) return new TransportError('closed', `${what}: the transport was closed`, { cause: err });
    return natsErrorToTransportError(err, what, disconnectedMeanwhile || !this.connected);
  }

  private async watchStatus(): Promise<void> {
    // The iterator ends when the connection closes. Only transitions are
    // reported, whatever nats.js repeats.
    try {
      for await (const status of this.nc.status()) {
        if (status.type === Events.Disconnect && this.connected) {
          this.connected = false;
          this.disconnects++;
          this.statusListeners.emit('disconnected');
        } else if (status.type === Events.Reconnect && !this.connected) {
          this.connected = true;
          this.statusListeners.emit('reconnected');
        }
      }
    } catch {
      // The iterator does not throw today; if it ever does, closed() still reports the end.
    }
  }

  private connectionEnded(): void {
    this.connected = false;
    if (!this.closing) this.statusListeners.emit('closed');
  }
}

/**
 * What a nats.js error means for gossip. `disconnected`: the connection was
 * down when the error happened or went down while we waited, which turns a
 * timeout into 'disconnected' (nats.js does not fail in-flight requests on a
 * disconnect: they simply time out).
 */
export function natsErrorToTransportError(err: unknown, what: string, disconnected: boolean): TransportError {
  const code = err instanceof NatsError ? err.code : undefined;
  switch (code) {
    case ErrorCode.NoResponders:
      return new TransportError('no-responders', `${what}: no responders`, { cause: err });
    case ErrorCode.Timeout:
      return disconnected
        ? new TransportError('disconnected', `${what}: timed out while disconnected from NATS`, { cause: err })
        : new TransportError('timeout', `${what}: timed out`, { cause: err });
    case ErrorCode.MaxPayloadExceeded:
      return new TransportError('too-large', `${what}: above the server's max_payload`, { cause: err });
    case ErrorCode.Disconnect:
      return new TransportError('disconnected', `${what}: disconnected from NATS`, { cause: err });
    case ErrorCode.ConnectionClosed:
    case ErrorCode.ConnectionDraining:
      return new TransportError('closed', `${what}: the NATS connection is closed`, { cause: err });
    default:
      return new TransportError('failed', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function responder(msg: Msg): ((reply: Uint8Array) => void) | undefined {
  if (!msg.reply) return undefined;
  return (reply) => {
    // respond() returns false when there is nowhere to send: count it as a failed reply.
    if (!msg.respond(reply)) throw new Error('no reply subject');
  };
}

function validateSettings(settings: { federation: string; memberId: string; maxMessageBytes?: number }): void {
  assertToken(settings.federation, 'federation');
  parseMemberId(settings.memberId);
  const max = settings.maxMessageBytes;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    throw new RangeError(`maxMessageBytes must be a positive integer, got ${max}`);
  }
}

/** Waits for `promise` at most `ms`; its failure is ignored (the caller goes on either way). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `server.name` of a STATZ reply, or undefined when it is not one. */
function statzServerName(data: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(data)) as { server?: { name?: unknown } };
    return typeof parsed.server?.name === 'string' ? parsed.server.name : undefined;
  } catch {
    return undefined;
  }
}
