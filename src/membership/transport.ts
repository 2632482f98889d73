/**
 * The gossip transport: how membership's messages leave and reach this
 * process, and nothing else (no envelopes, no signatures, no SWIM). It is an
 * interface so that SWIM and the health CRDT are unit-tested over an
 * in-memory network (testing/memory-transport.ts, memberlist's MockTransport)
 * and run over NATS in production (nats-transport.ts), as memberlist's
 * Transport interface splits them.
 *
 * Both implementations share the rules for inbound messages (InboundGate):
 * oversized ones are dropped before a handler sees them, and a handler that
 * throws or rejects costs a counter, never the process.
 */

/** The budget for one gossip message (docs/architecture.md, Membership): larger ones are refused when sent and dropped when received. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

export interface GossipTransport {
  /**
   * Start receiving: broadcasts on `meshgate.<federation>.gossip` (never our
   * own) and requests on `meshgate.<federation>.member.<cluster>.<replica>`
   * (our id). Sending needs no start. Call once.
   */
  start(handlers: TransportHandlers): Promise<void>;
  /**
   * Publish once on the broadcast subject: at most once, to whoever listens
   * now. Rejects with a TransportError ('too-large', 'disconnected' — nothing
   * is buffered for later — or 'closed').
   */
  broadcast(data: Uint8Array): Promise<void>;
  /**
   * Direct request/reply to one member (`<cluster>.<replica>`). Resolves with
   * the reply; rejects with a TransportError (see TransportErrorKind for what
   * each kind says about the member), or InvalidTokenError for a malformed id.
   * A member never answers itself: a request to our own id gets 'no-responders'.
   */
  request(memberId: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** The NATS server we are attached to now and its cluster; undefined while disconnected. */
  location(): NatsLocation | undefined;
  /**
   * The NATS servers that answer us within `timeoutMs`: those up and linked
   * to ours. Undefined when the transport cannot tell (the survey is not
   * available, or we are disconnected). Never rejects.
   */
  answeringServers(timeoutMs: number): Promise<ReadonlySet<string> | undefined>;
  /** Connection events for the orchestrator; returns the unsubscribe function. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
  /** The largest message sent or accepted now: the configured budget, capped by the server's max_payload. */
  readonly maxMessageBytes: number;
  /** Counters for metrics: what was received, and what was dropped and why. */
  stats(): TransportStats;
  /** Stop receiving and release the connection; pending requests reject with 'closed'. Idempotent. */
  close(): Promise<void>;
}

/** Where a member is attached to NATS. A server in no cluster is a cluster of its own. */
export interface NatsLocation {
  readonly server: string;
  readonly cluster: string;
}

export interface TransportHandlers {
  /** A broadcast from another member. Errors thrown are counted and swallowed. */
  broadcast(data: Uint8Array): void;
  /**
   * A request for us. The value returned (or resolved) is the reply;
   * undefined sends none, and the requester times out. A throw or rejection
   * is counted and sends none.
   */
  request(data: Uint8Array): Promise<Uint8Array | undefined> | Uint8Array | undefined;
}

/**
 * - 'disconnected': our link to the messaging system is down (a NATS server
 *   restart looks like this); we keep trying, and subscriptions come back on
 *   'reconnected'. Neither says anything about other members.
 * - 'reconnected': the link is back.
 * - 'closed': the transport is finished without close() having been called
 *   (e.g. the server refused our credentials); it will not reconnect.
 */
export type TransportStatus = 'disconnected' | 'reconnected' | 'closed';

/**
 * Why a send failed, and what it says about the member asked:
 * - 'timeout': no reply in time. Weak evidence against the member (or the path to it).
 * - 'no-responders': nobody was subscribed on its subject, as far as our
 *   server knew. Stronger evidence, not proof: interest crosses NATS gateways
 *   and leaf links asynchronously, and a cut gateway link looks the same.
 * - 'disconnected': we had no connection when sending, or lost it while
 *   waiting. Says nothing about the member.
 * - 'too-large': above maxMessageBytes (ours or a reply); never sent.
 * - 'closed': this transport was closed.
 * - 'failed': anything else (e.g. a NATS permissions violation); see `cause`.
 */
export type TransportErrorKind = 'timeout' | 'no-responders' | 'disconnected' | 'too-large' | 'closed' | 'failed';

/** Marks transport errors; Symbol.for is one symbol in every copy of this module, where `instanceof` is not. */
const TRANSPORT_ERROR: unique symbol = Symbol.for('meshgate.membership.transport-error');

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly [TRANSPORT_ERROR] = true;

  constructor(
    readonly kind: TransportErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isTransportError(err: unknown, kind?: TransportErrorKind): err is TransportError {
  return (err as { [TRANSPORT_ERROR]?: unknown } | null)?.[TRANSPORT_ERROR] === true && (kind === undefined || (err as TransportError).kind === kind);
}

/**
 * Why the transport dropped an inbound message (or our reply to one) before
 * membership saw it. Part of membership's DropReason, so one name counts one
 * thing wherever it is read.
 */
export type TransportDropReason =
  /** Inbound above maxMessageBytes: no handler saw it (the envelope check's 'oversized', one step earlier). */
  | 'oversized'
  /** A message on our member subject with no reply subject: not a request. */
  | 'no-reply-subject'
  /** A handler threw or rejected. */
  | 'handler-error'
  /** Our handler's reply was above maxMessageBytes: not sent. */
  | 'reply-too-large'
  /** Sending the reply failed (connection gone, server refused it). */
  | 'reply-failed';

export interface TransportStats {
  readonly received: { readonly broadcasts: number; readonly requests: number };
  readonly dropped: Readonly<Record<TransportDropReason, number>>;
}

/**
 * What both implementations do with an inbound message: check its size, call
 * the handler, send the reply if there is one, and count whatever goes wrong
 * instead of letting it escape into the NATS client's parser or a timer.
 */
export class InboundGate {
  private readonly received = { broadcasts: 0, requests: 0 };
  private readonly dropped: Record<TransportDropReason, number> = {
    oversized: 0,
    'no-reply-subject': 0,
    'handler-error': 0,
    'reply-too-large': 0,
    'reply-failed': 0,
  };
  private handlers: TransportHandlers | undefined;

  constructor(private readonly maxMessageBytes: () => number) {}

  get started(): boolean {
    return this.handlers !== undefined;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  broadcast(data: Uint8Array): void {
    const handlers = this.handlers;
    if (!handlers) return;
    if (data.length > this.maxMessageBytes()) return this.drop('oversized');
    this.received.broadcasts++;
    try {
      handlers.broadcast(data);
    } catch {
      this.drop('handler-error');
    }
  }

  /** `respond` is absent when the message carried no reply subject. */
  request(data: Uint8Array, respond: ((reply: Uint8Array) => void) | undefined): void {
    const handlers = this.handlers;
    if (!handlers) return;
    if (!respond) return this.drop('no-reply-subject');
    if (data.length > this.maxMessageBytes()) return this.drop('oversized');
    this.received.requests++;
    let result: ReturnType<TransportHandlers['request']>;
    try {
      result = handlers.request(data);
    } catch {
      return this.drop('handler-error');
    }
    Promise.resolve(result).then(
      (reply) => this.reply(reply, respond),
      () => this.drop('handler-error'),
    );
  }

  stats(): TransportStats {
    return { received: { ...this.received }, dropped: { ...this.dropped } };
  }

  private reply(reply: Uint8Array | undefined, respond: (reply: Uint8Array) => void): void {
    if (reply === undefined) return;
    if (!(reply instanceof Uint8Array)) return this.drop('handler-error');
    if (reply.length > this.maxMessageBytes()) return this.drop('reply-too-large');
    try {
      respond(reply);
    } catch {
      this.drop('reply-failed');
    }
  }

  private drop(reason: TransportDropReason): void {
    this.dropped[reason]++;
  }
}

/** onStatus bookkeeping: a listener that throws neither stops the others nor escapes. */
export class StatusListeners {
  private readonly listeners = new Set<(status: TransportStatus) => void>();

  add(listener: (status: TransportStatus) => void): () => void {
    // Wrapped so that the same function added twice is called twice and removed once per unsubscribe.
    const entry = (status: TransportStatus): void => listener(status);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(status: TransportStatus): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(status);
      } catch {
        // A listener's bug must not take the connection's status loop down with it.
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** Rejects a timeout that is not a positive finite number of milliseconds (a caller's bug, not a network event). */
export function assertTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) throw new RangeError(`request timeout must be a number of milliseconds ≥ 1, got ${timeoutMs}`);
}
