/**
 * Many GossipTransports in one process, for unit tests (memberlist's
 * MockNetwork, with faults). It keeps NATS's semantics where tests depend on
 * them:
 *  - broadcasts reach the members receiving when it is sent, never the sender;
 *    a request to oneself gets 'no-responders' (nats-transport uses noEcho);
 *  - a request to a member that is not receiving (never started, closed,
 *    disconnected) gets 'no-responders'; one lost on the way times out;
 *  - a timeout that spans our own disconnect is 'disconnected';
 *  - messages above the budget are refused when sent and dropped when received.
 *
 * And adds knobs NATS does not have: a seeded drop rate, partitions (one-way
 * or both ways, between members or whole clusters), latency, and a
 * disconnect/reconnect switch per member. Time comes from an injected
 * `Schedule`, so a fake clock (ManualScheduler, or vitest's fake timers
 * with the default) drives delivery and timeouts without sleeping.
 *
 * Differences from NATS, on purpose: two live transports may not share a
 * member id (NATS would deliver to both and keep the first reply), and
 * interest is known everywhere at once (no propagation delay).
 */
import { mulberry32 } from '../../../test/harness/seeded-random.js';
import { realTimeSchedule, type Schedule } from '../schedule.js';
import { parseMemberId } from '../subjects.js';
import type { Random } from '../types.js';
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
} from '../transport.js';

/** Milliseconds a message takes from `from` to `to` (member ids). */
export type Latency = number | ((from: string, to: string) => number);

export interface MemoryNetworkOptions {
  /** Default: real timers. */
  schedule?: Schedule;
  /** Milliseconds per delivery, or a function of (from, to). Default 0 (still asynchronous: delivered by the scheduler, never inside the send call). */
  latency?: Latency;
  /** Chance, 0–1, that any one delivery (a broadcast copy, a request, a reply) is lost. Default 0. */
  dropRate?: number;
  /** Source of chance for drops. Default: mulberry32(seed). */
  random?: Random;
  /** Seed for the default random. Default 1. */
  seed?: number;
  /** Every transport's budget (as if every server's max_payload were above it). Default 64 KiB. */
  maxMessageBytes?: number;
}

export interface MemoryNetworkStats {
  /** Deliveries handed to the scheduler. */
  readonly carried: number;
  /** Deliveries lost to the drop rate. */
  readonly dropped: number;
  /** Deliveries lost to a partition. */
  readonly blocked: number;
}

export class MemoryNetwork {
  readonly maxMessageBytes: number;
  private readonly schedule: Schedule;
  private readonly random: Random;
  private latency: Latency;
  private dropRate: number;
  /** Live (not closed) transports by member id. */
  private readonly transports = new Map<string, MemoryTransport>();
  /** Cut directions, `from→to`, each side a member id or a cluster name. */
  private readonly cuts = new Set<string>();
  /** Clusters whose (notional) NATS server does not answer surveys. */
  private readonly silentServers = new Set<string>();
  /** Every cluster a transport was made for: each has its server from then on. */
  private readonly clusters = new Set<string>();
  private readonly counters = { carried: 0, dropped: 0, blocked: 0 };

  constructor(opts: MemoryNetworkOptions = {}) {
    this.schedule = opts.schedule ?? realTimeSchedule;
    this.random = opts.random ?? mulberry32(opts.seed ?? 1);
    this.latency = checkLatency(opts.latency ?? 0);
    this.dropRate = checkDropRate(opts.dropRate ?? 0);
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** A transport for `memberId` (`<cluster>.<replica>`) on this network. */
  transport(memberId: string): MemoryTransport {
    parseMemberId(memberId);
    if (this.transports.has(memberId)) throw new Error(`member ${memberId} already has a live transport on this network`);
    const transport = new MemoryTransport(this, memberId);
    this.transports.set(memberId, transport);
    this.clusters.add(parseMemberId(memberId).cluster);
    return transport;
  }

  /** The live transport of `memberId`, if any (to watch what it sends). */
  transportOf(memberId: string): MemoryTransport | undefined {
    return this.transports.get(memberId);
  }

  /**
   * Loses every message from `a` to `b` and, unless oneWay, from `b` to `a`.
   * Each side is a member id (`us-east.1`) or a cluster name (`us-east`: all
   * its members), so `partition('a', 'c')` is the cut A↔C NATS gateway link.
   */
  partition(a: string, b: string, opts: { oneWay?: boolean } = {}): void {
    this.cuts.add(cutKey(a, b));
    if (!opts.oneWay) this.cuts.add(cutKey(b, a));
  }

  /** Restores both directions between `a` and `b` (as named when cut). */
  heal(a: string, b: string): void {
    this.cuts.delete(cutKey(a, b));
    this.cuts.delete(cutKey(b, a));
  }

  healAll(): void {
    this.cuts.clear();
  }

  setDropRate(rate: number): void {
    this.dropRate = checkDropRate(rate);
  }

  setLatency(latency: Latency): void {
    this.latency = checkLatency(latency);
  }

  /** As if `memberId`'s NATS connection dropped: it emits 'disconnected', cannot send, and receives nothing. */
  disconnect(memberId: string): void {
    this.live(memberId).setConnected(false);
  }

  /** Its connection is back: it emits 'reconnected' and receives again (as nats.js re-subscribes). */
  reconnect(memberId: string): void {
    this.live(memberId).setConnected(true);
  }

  /**
   * Each cluster has one notional NATS server, `nats-<cluster>`, which every
   * member of the cluster is attached to. A silent one answers no survey
   * (serverAnswers), as a restarting server would not.
   */
  setServerSilent(cluster: string, silent: boolean): void {
    if (silent) this.silentServers.add(cluster);
    else this.silentServers.delete(cluster);
  }

  stats(): MemoryNetworkStats {
    return { ...this.counters };
  }

  /** @internal The clusters whose server `from` hears: not silent, and no cut between the clusters. */
  answeringClusters(from: string): string[] {
    const fromCluster = parseMemberId(from).cluster;
    return [...this.clusters].filter(
      (cluster) => !this.silentServers.has(cluster) && !this.cuts.has(cutKey(fromCluster, cluster)) && !this.cuts.has(cutKey(cluster, fromCluster)),
    );
  }

  // ---- used by MemoryTransport ----

  /** @internal */
  broadcastFrom(from: string, data: Uint8Array): void {
    // Like NATS, recipients are whoever receives at publish time.
    for (const receiver of this.receivers()) {
      if (receiver.id === from) continue;
      const copy = data.slice();
      this.carry(from, receiver.id, () => {
        if (receiver.receiving) receiver.deliverBroadcast(copy);
      });
    }
  }

  /** @internal `onOutcome` gets the reply, or 'no-responders'; nothing at all when a leg is lost. */
  requestFrom(from: string, to: string, data: Uint8Array, onOutcome: (outcome: Uint8Array | 'no-responders') => void): void {
    const copy = data.slice();
    this.carry(from, to, () => {
      const target = this.transports.get(to);
      // to === from: NATS with noEcho does not deliver our own messages to us.
      if (!target?.receiving || to === from) {
        // NATS's 503 comes from the server, which no partition between members stands in front of.
        this.schedule(() => onOutcome('no-responders'), this.latencyOf(to, from));
        return;
      }
      target.deliverRequest(copy, (reply) => {
        if (!target.receiving) throw new Error(`${to} is not connected`);
        const replyCopy = reply.slice();
        this.carry(to, from, () => onOutcome(replyCopy));
      });
    });
  }

  /** @internal */
  scheduleTask(task: () => void, delayMs: number): () => void {
    return this.schedule(task, delayMs);
  }

  /** @internal */
  forget(transport: MemoryTransport): void {
    if (this.transports.get(transport.id) === transport) this.transports.delete(transport.id);
  }

  private *receivers(): Iterable<MemoryTransport> {
    for (const t of this.transports.values()) if (t.receiving) yield t;
  }

  private live(memberId: string): MemoryTransport {
    const transport = this.transports.get(memberId);
    if (!transport) throw new Error(`no live transport for member ${memberId} on this network`);
    return transport;
  }

  /** One delivery: maybe lost to a partition or the drop rate, else run after the latency. */
  private carry(from: string, to: string, deliver: () => void): void {
    if (this.isCut(from, to)) {
      this.counters.blocked++;
      return;
    }
    if (this.dropRate > 0 && this.random() < this.dropRate) {
      this.counters.dropped++;
      return;
    }
    this.counters.carried++;
    this.schedule(deliver, this.latencyOf(from, to));
  }

  private isCut(from: string, to: string): boolean {
    if (this.cuts.size === 0) return false;
    const fromNames = [from, parseMemberId(from).cluster];
    const toNames = [to, parseMemberId(to).cluster];
    return fromNames.some((f) => toNames.some((t) => this.cuts.has(cutKey(f, t))));
  }

  private latencyOf(from: string, to: string): number {
    const ms = typeof this.latency === 'number' ? this.latency : this.latency(from, to);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }
}

export class MemoryTransport implements GossipTransport {
  private readonly inbound = new InboundGate(() => this.maxMessageBytes);
  private readonly statusListeners = new StatusListeners();
  /** Requests still waiting, so close() can reject them. */
  private readonly pending = new Set<(err: TransportError) => void>();
  private connected = true;
  private disconnects = 0;
  private closed = false;

  /** Use MemoryNetwork.transport(). */
  constructor(
    private readonly network: MemoryNetwork,
    readonly id: string,
  ) {}

  get maxMessageBytes(): number {
    return this.network.maxMessageBytes;
  }

  /** Started, not closed, connected: what NATS would call "has interest". */
  get receiving(): boolean {
    return this.inbound.started && this.connected && !this.closed;
  }

  async start(handlers: TransportHandlers): Promise<void> {
    if (this.closed) throw new TransportError('closed', 'the transport is closed');
    if (this.inbound.started) throw new Error('MemoryTransport.start() was already called');
    this.inbound.setHandlers(handlers);
  }

  async broadcast(data: Uint8Array): Promise<void> {
    this.checkSendable(data);
    this.network.broadcastFrom(this.id, data);
  }

  request(memberId: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      assertTimeout(timeoutMs);
      parseMemberId(memberId);
      this.checkSendable(data);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const disconnectsBefore = this.disconnects;
      let settled = false;
      const settle = (outcome: Uint8Array | TransportError): void => {
        if (settled) return;
        settled = true;
        cancelTimeout();
        this.pending.delete(settle);
        if (isTransportError(outcome)) reject(outcome);
        else resolve(outcome);
      };
      const cancelTimeout = this.network.scheduleTask(() => {
        const wasDisconnected = !this.connected || this.disconnects !== disconnectsBefore;
        settle(
          wasDisconnected
            ? new TransportError('disconnected', `request to ${memberId}: timed out while disconnected`)
            : new TransportError('timeout', `request to ${memberId}: timed out`),
        );
      }, timeoutMs);
      this.pending.add(settle);
      this.network.requestFrom(this.id, memberId, data, (outcome) => {
        // An answer reaching a connection that has gone meanwhile is lost, as on NATS.
        if (!this.connected || this.closed) return;
        if (outcome === 'no-responders') settle(new TransportError('no-responders', `request to ${memberId}: no responders`));
        else if (outcome.length > this.maxMessageBytes) settle(new TransportError('too-large', `reply from ${memberId} is above the budget`));
        else settle(outcome);
      });
    });
  }

  location(): NatsLocation | undefined {
    if (!this.connected || this.closed) return undefined;
    const { cluster } = parseMemberId(this.id);
    return { server: `${SERVER_PREFIX}${cluster}`, cluster: `${SERVER_PREFIX}${cluster}` };
  }

  async answeringServers(_timeoutMs: number): Promise<ReadonlySet<string> | undefined> {
    if (!this.connected || this.closed) return undefined;
    return new Set(this.network.answeringClusters(this.id).map((cluster) => `${SERVER_PREFIX}${cluster}`));
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.statusListeners.add(listener);
  }

  stats(): TransportStats {
    return this.inbound.stats();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.network.forget(this);
    this.statusListeners.clear();
    const closedError = new TransportError('closed', 'the transport was closed');
    for (const settle of [...this.pending]) settle(closedError);
  }

  /** @internal */
  deliverBroadcast(data: Uint8Array): void {
    this.inbound.broadcast(data);
  }

  /** @internal */
  deliverRequest(data: Uint8Array, respond: (reply: Uint8Array) => void): void {
    this.inbound.request(data, respond);
  }

  /** @internal */
  setConnected(connected: boolean): void {
    if (this.closed || connected === this.connected) return;
    this.connected = connected;
    if (!connected) this.disconnects++;
    this.statusListeners.emit(connected ? 'reconnected' : 'disconnected');
  }

  private checkSendable(data: Uint8Array): void {
    if (this.closed) throw new TransportError('closed', 'the transport is closed');
    if (data.length > this.maxMessageBytes) {
      throw new TransportError('too-large', `message is ${data.length} bytes, above the ${this.maxMessageBytes}-byte budget`);
    }
    if (!this.connected) throw new TransportError('disconnected', 'not connected (MemoryNetwork.disconnect)');
  }
}

const SERVER_PREFIX = 'nats-';

function cutKey(from: string, to: string): string {
  return `${from}→${to}`;
}

function checkDropRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`dropRate must be between 0 and 1, got ${rate}`);
  return rate;
}

function checkLatency(latency: Latency): Latency {
  if (typeof latency === 'number' && !(latency >= 0 && Number.isFinite(latency))) {
    throw new RangeError(`latency must be a finite number of milliseconds ≥ 0, got ${latency}`);
  }
  return latency;
}
