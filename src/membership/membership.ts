import { Awareness } from './awareness.js';
import { FailureDetector, type ProbeResult } from './detector.js';
import { encodeEnvelope, type EnvelopeRejectReason, type EnvelopeSigner, type EnvelopeVerifier } from './envelope.js';
import { HealthState, HealthWriter, parseHealthRecord, type ServiceView } from './health-state.js';
import { MemberTable, updatesFromRemoteState, type MemberView } from './member-table.js';
import type { Schedule } from './memory-transport.js';
import { TransmitLimitedQueue } from './transmit-queue.js';
import type { GossipTransport, TransportStatus } from './transport.js';
import type { Clock, HealthDigest, HealthRecord, MemberInfo, MemberState, MembershipUpdate, Random, ServiceHealth } from './types.js';

export interface MembershipConfig {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly indirectChecks: number;
  readonly pushPullIntervalMs: number;
  /** How often due suspicions and re-probes of dead members are looked at. */
  readonly housekeepingMs?: number;
}

export interface MembershipOptions {
  readonly self: MemberInfo;
  readonly transport: GossipTransport;
  readonly signer: EnvelopeSigner;
  readonly verifier: EnvelopeVerifier;
  readonly clock: Clock;
  readonly schedule: Schedule;
  readonly random: Random;
  readonly config: MembershipConfig;
  /**
   * Clusters whose trust domain is known from config. Others are bound to the
   * first trust domain a verified gateway of theirs presents: in the
   * shared-root model every cluster's CA can mint gateway IDs naming any
   * cluster, so without a binding one cluster could speak for another.
   */
  readonly clusterTrustDomains?: ReadonlyMap<string, string>;
  /**
   * The worst event-loop delay (ms) since the last call: Lifeguard's "slow
   * processing" signal, raising our awareness score so we probe more patiently.
   */
  readonly eventLoopLag?: () => number;
  /**
   * Trust bundles travel with the gossip: each gateway offers its own trust
   * domain's bundle (SPIFFE JSON) and hears those of the others, accepted only
   * from a gateway of the domain the bundle is for.
   */
  readonly bundles?: {
    own(): TrustBundleJson;
    accept(bundle: TrustBundleJson): void;
  };
  /** Membership changes and dropped messages, for logs. */
  readonly onEvent?: (event: MembershipEvent) => void;
}

export type MembershipEvent =
  | { readonly kind: 'member'; readonly update: MembershipUpdate }
  | { readonly kind: 'dropped'; readonly reason: DropReason; readonly detail?: string }
  | { readonly kind: 'transport'; readonly status: TransportStatus };

/** Why an incoming message was not used: the envelope's reasons plus the orchestrator's own. */
export type DropReason = EnvelopeRejectReason | 'foreign-claim' | 'bad-body' | 'unknown-kind';

// What travels inside envelopes (kind → body).
/** The sender's own health record version: lets the receiver treat its copy as current. */
type Stamp = readonly [generation: number, version: number];
interface PingBody {
  readonly target: string;
  readonly updates: readonly MembershipUpdate[];
  readonly stamp?: Stamp;
}
interface AckBody {
  readonly updates: readonly MembershipUpdate[];
  readonly stamp?: Stamp;
}
interface PingReqAnswer {
  readonly acked: boolean;
}
export interface TrustBundleJson {
  readonly trustDomain: string;
  readonly json: string;
}

/** Health records travel as their owner's signed 'health' envelopes, so any member may pass them on. */
type SignedRecord = string;
interface GossipBody {
  readonly updates: readonly MembershipUpdate[];
  readonly records?: readonly SignedRecord[];
  readonly bundle?: TrustBundleJson;
}
interface SyncBody {
  readonly members: readonly MemberState[];
  /** Scuttlebutt: origin → the newest (generation, version) the sender holds. */
  readonly digest?: HealthDigest;
  readonly records?: readonly SignedRecord[];
  readonly bundle?: TrustBundleJson;
}

/** Room left for the envelope around piggybacked updates. */
const PIGGYBACK_BUDGET_BYTES = 16 * 1024;
/** Incarnations start from the clock in seconds; one a day ahead of ours is a forgery. */
const MAX_INCARNATION_AHEAD_S = 86_400;
/** Our health record is sealed again this often, well within an SVID's half life. */
const RESEAL_AFTER_MS = 10 * 60_000;
/** A member introduced by a relay may be at most this far ahead of our clock. */
const MAX_RELAYED_AHEAD_S = 60;
/** How many members, on average, answer a newcomer's alive with a full sync. */
const JOIN_SYNCS = 3;
/** When a reconnected member repeats its alive (ms after the reconnect). */
const REANNOUNCE_AFTER_RECONNECT_MS = [0, 500, 1_500, 3_000];
/** Room kept for the envelope (chain, signature) and the rest of a sync body. */
const SYNC_OVERHEAD_BYTES = 8 * 1024;
const DEFAULT_HOUSEKEEPING_MS = 100;

/**
 * One gateway's membership: SWIM with Lifeguard over the gossip transport.
 * The decisions live in FailureDetector and MemberTable (pure); this class
 * moves their messages, signs and checks every envelope, and keeps this
 * replica's health record travelling with the gossip.
 */
export class Membership {
  private readonly table: MemberTable;
  private readonly detector: FailureDetector;
  private readonly queue: TransmitLimitedQueue<MembershipUpdate>;
  private readonly health: HealthState;
  private readonly writer: HealthWriter;
  /** The owner-signed envelope of each record held in `health`, and when its owner sealed it. */
  private readonly signed = new Map<string, SignedRecord>();
  private readonly sealedAt = new Map<string, number>();
  private readonly drops = new Map<DropReason, number>();
  private readonly clusterDomains: Map<string, string>;
  private readonly cancels = new Set<() => void>();
  private connected = true;
  private synced = false;
  private stopped = false;

  constructor(private readonly options: MembershipOptions) {
    const { self, clock, random, config } = options;
    this.table = new MemberTable({
      self,
      clock,
      random,
      // A restart outranks every rumour about our previous life.
      incarnation: Math.floor(clock.now() / 1_000),
      probeIntervalMs: config.probeIntervalMs,
    });
    this.detector = new FailureDetector({
      table: this.table,
      awareness: new Awareness(),
      clock,
      random,
      config: { probeIntervalMs: config.probeIntervalMs, probeTimeoutMs: config.probeTimeoutMs, indirectChecks: config.indirectChecks },
    });
    this.queue = new TransmitLimitedQueue<MembershipUpdate>({ members: () => this.table.aliveCount() });
    this.health = new HealthState({ clock, staleAfterMs: 3 * config.pushPullIntervalMs });
    this.writer = new HealthWriter(self.id, self.cluster, clock);
    this.clusterDomains = new Map(options.clusterTrustDomains);
    this.clusterDomains.set(self.cluster, self.trustDomain);
  }

  get id(): string {
    return this.options.self.id;
  }

  async start(): Promise<void> {
    const { transport } = this.options;
    this.cancels.add(transport.onStatus((status) => this.transportStatus(status)));
    await transport.start({
      broadcast: (data) => {
        this.receiveBroadcast(data).catch((err: unknown) => this.drop('bad-body', String(err)));
      },
      request: (data) => this.receiveRequest(data),
    });
    this.adoptOwnRecord();
    // Joining: everyone who hears our alive syncs with us (see receiveBroadcast).
    await this.publish([this.table.selfAlive()]);
    this.every(() => this.probe(), this.options.config.probeIntervalMs);
    this.every(() => this.housekeeping(), this.options.config.housekeepingMs ?? DEFAULT_HOUSEKEEPING_MS);
    this.every(() => this.pushPullWithRandomMember(), this.options.config.pushPullIntervalMs);
  }

  /** Graceful leave: tell everyone, then stop. */
  async leave(): Promise<void> {
    if (this.stopped) return;
    await this.publish([this.table.leave()]).catch(() => undefined);
    await this.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.cancels) cancel();
    this.cancels.clear();
    await this.options.transport.close();
  }

  /** Replaces this replica's view of its cluster's services and spreads it at once when it changed. */
  async setLocalServices(services: Readonly<Record<string, ServiceHealth>>): Promise<void> {
    let changed = false;
    for (const [name, health] of Object.entries(services)) changed = this.writer.set(name, health) || changed;
    for (const name of Object.keys(this.writer.snapshot().services)) {
      if (!(name in services)) changed = this.writer.remove(name) || changed;
    }
    if (!changed) return;
    await this.broadcast({ updates: [], records: [this.adoptOwnRecord()] });
  }

  private adoptOwnRecord(): SignedRecord {
    const record = this.writer.snapshot();
    const signed = new TextDecoder().decode(this.seal('health', record));
    this.health.merge(record);
    this.signed.set(this.id, signed);
    this.sealedAt.set(this.id, this.options.clock.now());
    return signed;
  }

  members(): MemberView[] {
    return this.table.views(this.options.clock.now());
  }

  memberStates(): MemberState[] {
    return this.table.members();
  }

  services(): ServiceView {
    const now = this.options.clock.now();
    const views = new Map(this.table.views(now).map((v) => [v.id, v]));
    return this.health.serviceView(now, (origin) => {
      const view = views.get(origin);
      if (!view) return undefined;
      return { status: view.status, reachable: origin === this.id || view.reachable };
    });
  }

  /** Every message not used, by reason: ours, and those the transport refused before we saw them. */
  droppedMessages(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.drops);
    for (const [reason, count] of Object.entries(this.options.transport.stats().dropped)) {
      if (count === 0) continue;
      const name = reason === 'too-large' ? 'oversized' : reason;
      out[name] = (out[name] ?? 0) + count;
    }
    return out;
  }

  // ---- probing ---------------------------------------------------------------

  private async probe(): Promise<number | undefined> {
    if (!this.connected) return undefined;
    if (this.options.eventLoopLag) this.detector.onEventLoopLag(this.options.eventLoopLag());
    const plan = this.detector.nextProbe();
    if (!plan) return undefined;
    const result = await this.ping(plan.target.id, plan.piggyback, plan.timeoutMs, plan.interval);
    // Losing NATS mid-probe says nothing about the target.
    if (!this.connected || this.stopped) return plan.interval;
    this.afterProbe(plan.target.id, result);
    return plan.interval;
  }

  /** A direct ping, then ping-req through helpers if it went unanswered. */
  private async ping(target: string, buddy: MembershipUpdate | undefined, timeoutMs: number, intervalMs: number): Promise<ProbeResult> {
    const started = this.options.clock.now();
    const updates = [...(buddy ? [buddy] : []), ...this.piggyback()];
    try {
      const reply = await this.request<AckBody>(target, 'ping', { target, updates, stamp: this.stamp() } satisfies PingBody, timeoutMs);
      if (reply) {
        this.applyUpdates(reply.body.updates, reply.from);
        this.confirmStamp(reply.from, reply.body.stamp);
      }
      if (reply?.kind === 'ack' && reply.from === target) {
        return { acked: true, indirectAcks: 0, nacks: 0, expectedNacks: 0, rttMs: this.options.clock.now() - started };
      }
    } catch {
      // NATS's "no responders" arrives at once, so the indirect phase starts
      // early; it is not taken as a suspicion by itself: a broken gateway
      // link between two clusters answers the same way for a live member.
    }
    const helpers = this.detector.helpersFor(target);
    const remaining = Math.max(timeoutMs, intervalMs - (this.options.clock.now() - started));
    const answers = await Promise.all(
      helpers.map((helper) =>
        this.request<PingReqAnswer>(helper.id, 'ping-req', { target, updates: buddy ? [buddy] : [] } satisfies PingBody, remaining).then(
          (reply) => reply?.body.acked === true,
          () => undefined,
        ),
      ),
    );
    return {
      acked: false,
      indirectAcks: answers.filter((a) => a === true).length,
      nacks: answers.filter((a) => a === false).length,
      expectedNacks: helpers.length,
    };
  }

  private afterProbe(target: string, result: ProbeResult): void {
    const outcome = this.detector.onProbeResult(target, result);
    this.spread(outcome.updates);
    if (outcome.syncWith) void this.pushPull(outcome.syncWith);
  }

  private async housekeeping(): Promise<undefined> {
    if (!this.connected) return undefined;
    const now = this.options.clock.now();
    this.spread(this.detector.onSuspicionExpired());
    for (const dead of this.detector.reprobesDue()) {
      // Noted before sending, so a slow re-probe is not sent again every tick.
      this.table.noteReprobe(dead.id, now);
      const timeout = this.options.config.probeTimeoutMs;
      void this.ping(dead.id, this.detector.piggybackFor(dead.id), timeout, timeout).then((result) => {
        if (this.connected && !this.stopped) this.afterProbe(dead.id, result);
      });
    }
    // Dead and left members are kept 24 h for re-probing, then forgotten with their records.
    for (const id of this.table.expire(now)) {
      this.health.forget(id);
      this.signed.delete(id);
      this.sealedAt.delete(id);
    }
    return undefined;
  }

  // ---- anti-entropy ------------------------------------------------------------

  private async pushPullWithRandomMember(): Promise<undefined> {
    // Relayed copies are checked against the signer's chain as of now: seal
    // our record again well before our SVID (renewed at half life) expires.
    if (this.options.clock.now() - (this.sealedAt.get(this.id) ?? 0) > RESEAL_AFTER_MS) this.adoptOwnRecord();
    const others = this.table.members().filter((m) => m.id !== this.id && m.status === 'alive');
    const peer = others[Math.floor(this.options.random() * others.length)];
    if (peer && this.connected) await this.pushPull(peer.id);
    return undefined;
  }

  /**
   * Full member state both ways (memberlist push/pull) and Scuttlebutt for
   * health: we send our digest, the peer answers with the records we lack and
   * its digest, and we send back what it lacks.
   */
  private async pushPull(peer: string): Promise<void> {
    try {
      const timeout = this.options.config.probeTimeoutMs * 4;
      const reply = await this.request<SyncBody>(peer, 'sync', this.syncBody(undefined), timeout);
      if (reply?.kind !== 'sync') return;
      await this.applySync(reply.body, reply.from, reply.trustDomain);
      const missing = this.recordsFor(reply.body.digest);
      if (missing.length > 0) await this.request(peer, 'records', { records: missing }, timeout);
    } catch {
      // The next round or a probe will tell; a failed sync is no evidence by itself.
    }
  }

  /**
   * A sync message within the transport's budget: members, digest and bundle
   * first, then as many records as fit; the rest go in the next round, which
   * the digest will ask for again (Scuttlebutt's bounded exchange).
   */
  private syncBody(theirDigest: HealthDigest | undefined): SyncBody {
    const members = this.table.members();
    const digest = this.health.digest();
    const bundle = this.options.bundles?.own();
    const fixed = JSON.stringify({ members, digest, bundle }).length;
    const budget = this.options.transport.maxMessageBytes - fixed - SYNC_OVERHEAD_BYTES;
    const own = this.signed.get(this.id);
    const records = theirDigest ? this.recordsFor(theirDigest, budget) : own && own.length <= budget ? [own] : [];
    return { members, digest, records, ...(bundle && { bundle }) };
  }

  /** Tells every member at once about a change of our trust bundle (a rotation). */
  async announceBundle(): Promise<void> {
    const bundle = this.options.bundles?.own();
    if (bundle) await this.broadcast({ updates: [], bundle });
  }

  private acceptBundle(bundle: unknown, signerTrustDomain: string): void {
    if (bundle === undefined || !this.options.bundles) return;
    const b = bundle as Partial<TrustBundleJson>;
    if (typeof b.trustDomain !== 'string' || typeof b.json !== 'string') return this.drop('bad-body', 'bundle without trustDomain or json');
    if (b.trustDomain !== signerTrustDomain) {
      return this.drop('foreign-claim', `a gateway of ${signerTrustDomain} sent a bundle for ${b.trustDomain}`);
    }
    this.options.bundles.accept({ trustDomain: b.trustDomain, json: b.json });
  }

  /** Our signed records newer than the digest says they hold, up to the budget. */
  private recordsFor(theirDigest: unknown, budgetBytes = this.options.transport.maxMessageBytes - SYNC_OVERHEAD_BYTES): SignedRecord[] {
    if (typeof theirDigest !== 'object' || theirDigest === null) return [];
    const out: SignedRecord[] = [];
    let bytes = 0;
    for (const record of this.health.deltaFor(theirDigest as HealthDigest)) {
      const signed = this.signed.get(record.origin);
      if (!signed || bytes + signed.length > budgetBytes) continue;
      out.push(signed);
      bytes += signed.length;
    }
    return out;
  }

  private async applySync(body: SyncBody, from: string, signerTrustDomain: string): Promise<void> {
    if (!Array.isArray(body.members)) return this.drop('bad-body', 'sync without members');
    let updates: MembershipUpdate[];
    try {
      updates = updatesFromRemoteState(body.members, this.id);
    } catch (err) {
      return this.drop('bad-body', `sync members: ${String(err)}`);
    }
    this.applyUpdates(updates, from);
    await this.applyRecords(body.records, from);
    this.acceptBundle(body.bundle, signerTrustDomain);
  }

  // ---- receiving ---------------------------------------------------------------

  private async receiveBroadcast(data: Uint8Array): Promise<void> {
    const opened = await this.open<GossipBody>(data);
    if (!opened || opened.kind !== 'gossip') return;
    const { body, from } = opened;
    if (!Array.isArray(body.updates)) return this.drop('bad-body', 'gossip without updates');
    this.acceptBundle(body.bundle, opened.trustDomain);
    const newcomers = body.updates.filter((u) => u.kind === 'alive' && u.member?.id === from && !this.table.get(from));
    this.applyUpdates(body.updates, from);
    await this.applyRecords(body.records, from);
    // A member we had never heard of is joining: give it our whole state. A
    // few of us suffice; all of us at once is N² syncs when a cluster starts.
    // And when we are the one joining (or rejoining under an id others still
    // hold), we sync with the first member we hear.
    const joinSync = newcomers.length > 0 && this.options.random() < JOIN_SYNCS / Math.max(1, this.table.aliveCount() - 1);
    if (joinSync || !this.synced) {
      this.synced = true;
      await this.pushPull(from);
    }
  }

  private async receiveRequest(data: Uint8Array): Promise<Uint8Array | undefined> {
    const opened = await this.open<PingBody & SyncBody & GossipBody>(data);
    if (!opened) return undefined;
    const { kind, body, from, trustDomain } = opened;
    switch (kind) {
      case 'ping':
        if (!Array.isArray(body.updates)) return this.drop('bad-body', 'ping without updates');
        this.applyUpdates(body.updates, from);
        this.confirmStamp(from, body.stamp);
        return this.seal('ack', { updates: this.piggyback(), stamp: this.stamp() } satisfies AckBody);
      case 'ping-req': {
        if (typeof body.target !== 'string') return this.drop('bad-body', 'ping-req without target');
        const timeout = this.options.config.probeTimeoutMs;
        const acked = await this.request<AckBody>(body.target, 'ping', { target: body.target, updates: body.updates ?? [] }, timeout).then(
          (reply) => reply?.kind === 'ack' && reply.from === body.target,
          () => false,
        );
        return this.seal('ping-req-answer', { acked } satisfies PingReqAnswer);
      }
      case 'sync':
        await this.applySync(body, from, trustDomain);
        return this.seal('sync', this.syncBody(body.digest ?? {}));
      case 'records':
        await this.applyRecords(body.records, from);
        return this.seal('ack', { updates: [] } satisfies AckBody);
      default:
        return this.drop('unknown-kind', kind);
    }
  }

  private applyUpdates(updates: readonly MembershipUpdate[], from: string): void {
    if (!Array.isArray(updates)) return;
    for (const update of updates) {
      const problem = this.checkUpdate(update, from);
      if (problem) {
        this.drop(problem.reason, problem.detail);
        continue;
      }
      const result = this.detector.applyUpdate(update);
      if (result.refute) this.spread([result.refute]);
      if (result.changed) this.options.onEvent?.({ kind: 'member', update });
      if (result.rebroadcast) this.queue.enqueue(keyOf(update), update);
    }
    this.table.heard(from, this.options.clock.now());
  }

  /**
   * Records may come from anyone, but each must be signed by its owner: a
   * gateway may assert only its own record, of its own cluster.
   */
  private async applyRecords(records: unknown, from: string): Promise<void> {
    if (records === undefined) return;
    if (!Array.isArray(records)) return this.drop('bad-body', 'records is not a list');
    for (const signed of records) {
      if (typeof signed !== 'string') {
        this.drop('bad-body', 'a record is not a signed envelope');
        continue;
      }
      const opened = await this.options.verifier.openRelayed<HealthRecord>(new TextEncoder().encode(signed));
      if (!opened.ok) {
        this.drop(opened.reason, opened.detail);
        continue;
      }
      if (!this.bindCluster(opened.signer.cluster, opened.signer.trustDomain)) continue;
      const parsed = parseHealthRecord(opened.envelope.body);
      if (opened.envelope.kind !== 'health' || !parsed.ok) {
        this.drop('bad-body', parsed.ok ? `a ${opened.envelope.kind} envelope among records` : parsed.problem);
        continue;
      }
      const record = parsed.value;
      if (record.origin !== opened.envelope.from || record.cluster !== opened.signer.cluster) {
        this.drop('foreign-claim', `${opened.envelope.from} signed a record for ${record.origin}`);
        continue;
      }
      // Keep the newest seal of the record we hold: its owner seals it again as its SVID renews.
      const held = this.health.get(record.origin);
      const sameAsHeld = held?.generation === record.generation && held.version === record.version;
      if (this.health.merge(record) || (sameAsHeld && opened.envelope.ts > (this.sealedAt.get(record.origin) ?? 0))) {
        this.signed.set(record.origin, signed);
        this.sealedAt.set(record.origin, opened.envelope.ts);
      }
      // From its owner, a record is current as of now.
      if (record.origin === from) this.health.confirm(from, [record.generation, record.version]);
    }
  }

  private stamp(): Stamp {
    return [this.writer.generation, this.writer.version];
  }

  private confirmStamp(from: string, stamp: unknown): void {
    if (Array.isArray(stamp) && stamp.length === 2 && stamp.every((n) => Number.isSafeInteger(n))) {
      this.health.confirm(from, stamp as unknown as Stamp);
    }
  }

  // ---- sending -----------------------------------------------------------------

  /** Applies our own verdicts and spreads them: once on the broadcast subject, then piggybacked. */
  private spread(updates: readonly MembershipUpdate[]): void {
    if (updates.length === 0) return;
    for (const update of updates) this.options.onEvent?.({ kind: 'member', update });
    void this.publish(updates);
  }

  private async publish(updates: readonly MembershipUpdate[]): Promise<void> {
    for (const update of updates) this.queue.enqueue(keyOf(update), update);
    await this.broadcast({ updates });
  }

  private async broadcast(body: GossipBody): Promise<void> {
    if (!this.connected || this.stopped) return;
    await this.options.transport.broadcast(this.seal('gossip', body)).catch(() => undefined);
  }

  private piggyback(): MembershipUpdate[] {
    return this.queue.take(PIGGYBACK_BUDGET_BYTES, (u) => JSON.stringify(u).length);
  }

  private async request<B>(
    memberId: string,
    kind: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<Opened<B> | undefined> {
    const raw = await this.options.transport.request(memberId, this.seal(kind, body), timeoutMs);
    return this.open<B>(raw);
  }

  /**
   * Every message carries our chain: a member that just joined must be able
   * to check our first ping, or SWIM would suspect us for its ignorance.
   */
  private seal(kind: string, body: unknown): Uint8Array {
    return encodeEnvelope(this.options.signer.seal(kind, body, this.options.clock.now(), { withChain: true }));
  }

  private async open<B>(data: Uint8Array): Promise<Opened<B> | undefined> {
    const result = await this.options.verifier.open<B>(data);
    if (!result.ok) {
      this.drop(result.reason, result.detail);
      return undefined;
    }
    if (!this.bindCluster(result.signer.cluster, result.signer.trustDomain)) return undefined;
    const body = result.envelope.body;
    if (typeof body !== 'object' || body === null) {
      this.drop('bad-body', `${result.envelope.kind} body is not an object`);
      return undefined;
    }
    return { kind: result.envelope.kind, body, from: result.envelope.from, trustDomain: result.signer.trustDomain };
  }

  /**
   * Rumours are relayed, so their sender is often not their subject; what a
   * relay may not do is rewrite a member: only the member itself may
   * introduce or change its own info or announce its leave, and nobody may
   * push an incarnation beyond what a clock-seeded one can reach.
   */
  private checkUpdate(update: unknown, from: string): { reason: DropReason; detail: string } | undefined {
    const u = update as Partial<Record<string, unknown>> | null;
    if (typeof u !== 'object' || u === null || typeof u['kind'] !== 'string') return { reason: 'bad-body', detail: 'not an update' };
    const incarnation = u['incarnation'];
    if (typeof incarnation !== 'number' || !Number.isSafeInteger(incarnation) || incarnation < 0) {
      return { reason: 'bad-body', detail: 'bad incarnation' };
    }
    if (incarnation > this.options.clock.now() / 1_000 + MAX_INCARNATION_AHEAD_S) {
      return { reason: 'bad-body', detail: `incarnation ${incarnation} is beyond any clock` };
    }
    switch (u['kind']) {
      case 'alive': {
        const member = u['member'] as Partial<MemberInfo> | undefined;
        if (typeof member !== 'object' || member === null || typeof member.id !== 'string' || typeof member.cluster !== 'string') {
          return { reason: 'bad-body', detail: 'alive without a member' };
        }
        if (!member.id.startsWith(`${member.cluster}.`)) {
          return { reason: 'bad-body', detail: `member ${member.id} is not of cluster ${member.cluster}` };
        }
        if (typeof member.trustDomain !== 'string' || !this.bindCluster(member.cluster, member.trustDomain)) {
          return { reason: 'wrong-trust-domain', detail: `${member.id} claims trust domain ${String(member.trustDomain)}` };
        }
        if (member.id === from) return undefined;
        const known = this.table.get(member.id);
        // A relay may introduce a member we do not know (that is how a joiner
        // learns the list), with an incarnation no clock is ahead of; it may
        // not rewrite one we know.
        if (known ? !sameInfo(known, member as MemberInfo) : incarnation > this.options.clock.now() / 1_000 + MAX_RELAYED_AHEAD_S) {
          return { reason: 'foreign-claim', detail: `${from} relayed new info for ${member.id}` };
        }
        return undefined;
      }
      case 'left':
        return u['id'] === from ? undefined : { reason: 'foreign-claim', detail: `${from} announced ${String(u['id'])} left` };
      case 'suspect':
      case 'dead':
        return typeof u['id'] === 'string' && typeof u['from'] === 'string' ? undefined : { reason: 'bad-body', detail: 'rumour without id or from' };
      default:
        return { reason: 'bad-body', detail: `unknown update ${String(u['kind'])}` };
    }
  }

  /** True when `trustDomain` may speak for `cluster`; the first one seen is bound for good. */
  private bindCluster(cluster: string, trustDomain: string): boolean {
    const bound = this.clusterDomains.get(cluster);
    if (bound === undefined) this.clusterDomains.set(cluster, trustDomain);
    else if (bound !== trustDomain) {
      this.drop('wrong-trust-domain', `cluster ${cluster} belongs to ${bound}, not ${trustDomain}`);
      return false;
    }
    return true;
  }

  private drop(reason: DropReason, detail?: string): undefined {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.options.onEvent?.({ kind: 'dropped', reason, ...(detail !== undefined && { detail }) });
    return undefined;
  }

  // ---- plumbing ----------------------------------------------------------------

  private transportStatus(status: TransportStatus): void {
    this.options.onEvent?.({ kind: 'transport', status });
    if (status === 'disconnected' || status === 'closed') {
      // Cut off from NATS we hear nobody: accusing others now would be wrong.
      this.connected = false;
    } else if (status === 'reconnected') {
      this.connected = true;
      // Say we are here, and sync so we hear what was said about us meanwhile
      // (a suspicion is refuted when it reaches us). Right after a reconnect
      // our server may not have its links to the other clusters back yet, so
      // one attempt can vanish: repeat while interest spreads.
      for (const delayMs of REANNOUNCE_AFTER_RECONNECT_MS) {
        this.after(() => void this.publish([this.table.selfAlive()]).then(() => this.pushPullWithRandomMember()), delayMs);
      }
    }
  }

  /** Runs `task` again `delay` after each run (or the delay it returns), until stopped. */
  private every(task: () => Promise<number | undefined>, delayMs: number): void {
    const run = () => {
      if (this.stopped) return;
      task().then(
        (next) => this.after(run, next ?? delayMs),
        () => this.after(run, delayMs),
      );
    };
    this.after(run, delayMs * this.options.random());
  }

  private after(task: () => void, delayMs: number): void {
    if (this.stopped) return;
    const cancel = this.options.schedule(() => {
      this.cancels.delete(cancel);
      task();
    }, delayMs);
    this.cancels.add(cancel);
  }
}

const sameInfo = (a: MemberInfo, b: MemberInfo): boolean =>
  a.id === b.id &&
  a.cluster === b.cluster &&
  a.trustDomain === b.trustDomain &&
  a.federationAddr === b.federationAddr &&
  a.adminAddr === b.adminAddr &&
  a.region === b.region &&
  a.zone === b.zone;

/** A checked message: what it is, what it says, and which gateway of which trust domain signed it. */
interface Opened<B> {
  readonly kind: string;
  readonly body: B;
  readonly from: string;
  readonly trustDomain: string;
}

/** Rumours about the same member replace each other in the transmit queue. */
const keyOf = (update: MembershipUpdate): string => (update.kind === 'alive' ? update.member.id : update.id);

