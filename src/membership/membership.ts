import { Awareness } from './awareness.js';
import { DEFAULT_INDIRECT_CHECKS, DEFAULT_PROBE_TIMEOUT_MS, FailureDetector, type LastWord, type NatsAbsence, type ProbeResult } from './detector.js';
import { encodeEnvelope, type EnvelopeRejectReason, type EnvelopeSigner, type EnvelopeVerifier } from './envelope.js';
import { DEFAULT_PUSH_PULL_INTERVAL_MS, HealthState, HealthWriter, chunkBySize, parseHealthRecord, type ServiceView } from './health-state.js';
import { DEFAULT_PROBE_INTERVAL_MS, DEFAULT_SUSPICION_MULT } from './suspicion.js';
import { MemberTable, updatesFromRemoteState, type MemberView } from './member-table.js';
import type { Schedule } from './schedule.js';
import { TransmitLimitedQueue } from './transmit-queue.js';
import { parsePartKey } from './record-parts.js';
import {
  isTransportError,
  type GossipTransport,
  type NatsLocation,
  type TransportDropReason,
  type TransportErrorKind,
  type TransportStatus,
} from './transport.js';
import type { Clock, HealthDigest, HealthRecord, MemberInfo, MemberState, MembershipUpdate, Random, ServiceHealth } from './types.js';

export interface MembershipConfig {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly indirectChecks: number;
  readonly pushPullIntervalMs: number;
  /** memberlist's SuspicionMult: the ordinary suspicion lasts at least this many probe intervals (× log10 N). Default 4. */
  readonly suspicionMult?: number;
  /** How often due suspicions and re-probes of dead members are looked at. */
  readonly housekeepingMs?: number;
  /**
   * How long a joining member waits for some peer to answer its first
   * push-pull before it takes itself to be alone (see `initialSync`).
   * Default 3 probe intervals.
   */
  readonly initialSyncTimeoutMs?: number;
}

/**
 * What a gateway runs with unless told otherwise: memberlist's LAN defaults
 * (its DefaultLANConfig) but for the probe interval, 500 ms instead of 1 s.
 * A crash is found by the first probe that reaches the dead member, which
 * SWIM makes about 1.6 probe intervals away on average and up to about 4.6
 * at the 99th percentile in larger federations: at 1 s that alone would
 * spend the 3 s we allow for detection. The ordinary suspicion keeps
 * memberlist's multiplier, so it still lasts at least 2 s, longer than a
 * 2 s event-loop stall of the suspect plus its refutation; a crash NATS
 * confirms (see NatsAbsence) is declared after one more interval.
 */
export const DEFAULT_MEMBERSHIP_CONFIG: MembershipConfig = Object.freeze({
  probeIntervalMs: DEFAULT_PROBE_INTERVAL_MS / 2,
  probeTimeoutMs: DEFAULT_PROBE_TIMEOUT_MS,
  indirectChecks: DEFAULT_INDIRECT_CHECKS,
  pushPullIntervalMs: DEFAULT_PUSH_PULL_INTERVAL_MS,
  suspicionMult: DEFAULT_SUSPICION_MULT,
});

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
  | { readonly kind: 'unsent'; readonly reason: UnsentReason; readonly message: string; readonly bytes: number; readonly detail: string }
  | { readonly kind: 'transport'; readonly status: TransportStatus };

/**
 * Why an outgoing message was not sent: the transport refused it or failed
 * ('too-large', 'disconnected', 'closed', 'failed'; see TransportErrorKind),
 * or there was nothing to send it in ('too-large' too: a single record part
 * above the message budget). A request that went out but got no answer
 * ('timeout', 'no-responders') is SWIM's business, not a send failure.
 */
export type UnsentReason = Exclude<TransportErrorKind, 'timeout' | 'no-responders'>;
const UNSENT_KINDS: ReadonlySet<TransportErrorKind> = new Set(['too-large', 'disconnected', 'closed', 'failed']);

/**
 * How the first sync of a joining member ended: a peer answered its
 * push-pull (and `complete` says whether every record the peer offered came
 * in), or nobody answered within `initialSyncTimeoutMs`: we are alone, or
 * cannot reach anyone yet.
 */
export type InitialSync =
  | { readonly outcome: 'synced'; readonly peer: string; readonly complete: boolean; readonly afterMs: number }
  | { readonly outcome: 'no-peer'; readonly afterMs: number };

/** Why an incoming message was not used: the transport's and the envelope's reasons, and the orchestrator's own. */
export type DropReason = TransportDropReason | EnvelopeRejectReason | 'foreign-claim' | 'bad-body' | 'unknown-kind';

// What travels inside envelopes (kind → body).
/** The sender's own health record version: lets the receiver treat its copy as current. */
type Stamp = readonly [generation: number, version: number];
/** The sender's NATS server and cluster, so that others can ask NATS about it (see NatsAbsence). */
type At = readonly [server: string, cluster: string];
interface PingBody {
  readonly target: string;
  readonly updates: readonly MembershipUpdate[];
  readonly stamp?: Stamp;
  readonly at?: At;
}
interface AckBody {
  readonly updates: readonly MembershipUpdate[];
  readonly stamp?: Stamp;
  readonly at?: At;
}
interface PingReqAnswer {
  readonly acked: boolean;
  /** Our ping got "no responders" from our NATS server. */
  readonly absent?: true;
  readonly at?: At;
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
  /** A member (re)joining asks for a sync even from those who already know it (a restart under the same id). */
  readonly join?: true;
}
interface RecordsBody {
  readonly records?: readonly SignedRecord[];
}
interface PullBody {
  readonly digest?: HealthDigest;
}
/** A part of the sender's member list (see memberChunks); `of` says how many parts there are. */
interface MembersBody {
  readonly members: readonly MemberState[];
  readonly part?: number;
  readonly of?: number;
}
interface SyncBody {
  /** The first part of the sender's member list; the rest follow in 'members' messages. */
  readonly members: readonly MemberState[];
  /** How many parts the sender's member list has (absent: one). */
  readonly of?: number;
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
/** A timer that fires this much after its time means our event loop stood still (not timer noise). */
const STALL_NOISE_MS = 20;
/** A probe's timeout that fires this much late means its missing ack may have been waiting in our socket. */
const PROBE_STALL_MS = 250;
/**
 * After our NATS connection comes back, our server may still be relinking to
 * the other clusters' (a restarted server took 3–4 s on loopback), and what
 * we cannot reach meanwhile says nothing about them: we accuse no one.
 */
const RECONNECT_DOUBT_MS = 10_000;
/** How long the survey of NATS servers may take (see NatsAbsence). */
const SERVER_SURVEY_MS = 250;
/** A suspect's "no responders" before its verdict is asked again after this: longer than a NATS reconnect (wait and jitter, 1 s at most) and its subscriptions' trip across gateways. */
const LAST_WORD_RECHECK_MS = 1_500;
/** A NATS server neither seen in a location nor answering a survey this long is forgotten. */
const KNOWN_SERVER_TTL_MS = 10 * 60_000;
/** When a joining member announces itself again, until its first sync is in (ms after start). */
const REANNOUNCE_JOIN_MS = [500, 1_500];
/**
 * Most 'records' or 'pull' messages in one push-pull, each direction: with
 * 64 KiB messages, far more than any federation's health needs, and a bound
 * on what one exchange can cost.
 */
const MAX_TRANSFER_MESSAGES = 256;

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
  /** The parts of our record as last sealed, and when all of them were sealed last. */
  private ownParts: readonly HealthRecord[] = [];
  private ownSealedAt = 0;
  private readonly drops = new Map<DropReason, number>();
  private readonly unsent = new Map<UnsentReason, number>();
  /** Suspicions of ourselves we answered with a higher incarnation. */
  private refutations = 0;
  private readonly clusterDomains: Map<string, string>;
  private readonly cancels = new Set<() => void>();
  private connected = true;
  /** A push-pull of ours has been answered since we started. */
  private synced = false;
  /** Our first push-pull is under way. */
  private joinSyncing = false;
  private startedAt = 0;
  /** Each member's NATS server and cluster, as it last told us. */
  private readonly natsLocations = new Map<string, NatsLocation>();
  /** Members that answered a request of ours since our chain last changed, so hold it (see sealFor). */
  private readonly chainKnownBy = new Set<string>();
  private sealedFp: string | undefined;
  /** Chains being fetched from their members (see fetchChain). */
  private readonly chainFetches = new Map<string, Promise<boolean>>();
  /** NATS servers seen (in a member's location or answering a survey), and when last. */
  private readonly knownServers = new Map<string, number>();
  private lastHousekeeping: number | undefined;
  /** When our NATS connection last came back (see RECONNECT_DOUBT_MS). */
  private reconnectedAt: number | undefined;
  private initialDeadlinePassed = false;
  private initial: InitialSync | undefined;
  private readonly initialWaiters: ((result: InitialSync) => void)[] = [];
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
      ...(config.suspicionMult !== undefined && { suspicionMult: config.suspicionMult }),
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
    // Our own cluster's trust domain is known; every other cluster is bound to
    // the first trust domain a verified gateway of theirs presents: in the
    // shared-root model every cluster's CA can mint gateway IDs naming any
    // cluster, so without a binding one cluster could speak for another.
    this.clusterDomains = new Map([[self.cluster, self.trustDomain]]);
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
    this.adoptOwnRecord(true);
    this.startedAt = this.options.clock.now();
    void this.surveyServers();
    // Joining: those who hear our alive sync with us (see receiveBroadcast), and
    // we sync with the first member we hear from. Repeated, as the interest of
    // our new subscription may take a moment to reach other clusters' servers.
    await this.announceJoin();
    for (const delayMs of REANNOUNCE_JOIN_MS) this.after(() => void (this.synced ? undefined : this.announceJoin()), delayMs);
    const config = this.options.config;
    this.after(() => this.initialSyncDeadline(), config.initialSyncTimeoutMs ?? 3 * config.probeIntervalMs);
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

  /**
   * Resolves once the first sync is in: a peer answered our push-pull and
   * what it offered has been pulled, or nobody answered within
   * `initialSyncTimeoutMs` (then a sync still under way is waited for). Until
   * then this member may not know other clusters' services yet.
   */
  initialSync(): Promise<InitialSync> {
    if (this.initial) return Promise.resolve(this.initial);
    return new Promise((resolve) => this.initialWaiters.push(resolve));
  }

  /** How the first sync ended, or undefined while it is pending. */
  initialSyncState(): InitialSync | undefined {
    return this.initial;
  }

  /** Replaces this replica's view of its cluster's services and spreads what changed at once. */
  async setLocalServices(services: Readonly<Record<string, ServiceHealth>>): Promise<void> {
    let changed = false;
    for (const [name, health] of Object.entries(services)) changed = this.writer.set(name, health) || changed;
    for (const name of this.writer.serviceNames()) {
      if (!(name in services)) changed = this.writer.remove(name) || changed;
    }
    if (!changed) return;
    await this.broadcastRecords(this.adoptOwnRecord());
  }

  /**
   * Seals the parts of our record that changed since last time (every part
   * with `all`), holds them like anyone else's, and returns them signed.
   */
  private adoptOwnRecord(all = false): SignedRecord[] {
    const parts = this.writer.snapshot();
    const now = this.options.clock.now();
    const sealed: SignedRecord[] = [];
    for (const part of parts) {
      if (!all && this.ownParts.includes(part)) continue;
      const envelope = new TextDecoder().decode(this.seal('health', part, true));
      this.health.merge(part, { envelope, sealedAt: now });
      sealed.push(envelope);
    }
    this.ownParts = parts;
    if (all) this.ownSealedAt = now;
    return sealed;
  }

  /** Broadcasts signed record parts in as many messages as they need. */
  private async broadcastRecords(records: readonly SignedRecord[]): Promise<void> {
    for (const batch of this.batches(records, this.options.transport.maxMessageBytes - SYNC_OVERHEAD_BYTES)) {
      await this.broadcast({ updates: [], records: batch });
    }
  }

  /** Signed records in batches whose JSON fits `budgetBytes`; one that never fits is counted as unsent. */
  private batches(records: readonly SignedRecord[], budgetBytes: number): SignedRecord[][] {
    const { chunks, oversized } = chunkBySize(records, budgetBytes, (r) => JSON.stringify(r).length);
    for (const record of oversized) {
      this.countUnsent('too-large', 'health', record.length, `a signed record part of ${record.length} bytes does not fit a ${budgetBytes}-byte message`);
    }
    return chunks;
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

  /** Every message we could not send, by reason. */
  /** For metrics: members by status, refutations we sent, and messages the transport received by kind. */
  counts(): { readonly members: Record<string, number>; readonly refutations: number; readonly received: Record<string, number> } {
    const members: Record<string, number> = {};
    for (const m of this.table.members()) members[m.status] = (members[m.status] ?? 0) + 1;
    return { members, refutations: this.refutations, received: { ...this.options.transport.stats().received } };
  }

  unsentMessages(): Record<string, number> {
    return Object.fromEntries(this.unsent);
  }

  /** Every message not used, by reason: ours, and those the transport refused before we saw them. */
  droppedMessages(): Partial<Record<DropReason, number>> {
    const out: Partial<Record<DropReason, number>> = Object.fromEntries(this.drops);
    for (const [reason, count] of Object.entries(this.options.transport.stats().dropped) as [TransportDropReason, number][]) {
      if (count > 0) out[reason] = (out[reason] ?? 0) + count;
    }
    return out;
  }

  // ---- probing ---------------------------------------------------------------

  private async probe(): Promise<number | undefined> {
    if (!this.connected) return undefined;
    if (this.options.eventLoopLag) this.detector.onEventLoopLag(this.options.eventLoopLag());
    const plan = this.detector.nextProbe();
    if (!plan) return undefined;
    const result = await this.ping(plan.target.id, plan.piggyback, plan.timeoutMs, plan.interval, { askNats: true });
    // Losing NATS mid-probe says nothing about the target.
    if (!this.connected || this.stopped) return plan.interval;
    this.afterProbe(plan.target.id, result);
    return plan.interval;
  }

  /**
   * A direct ping, then ping-req through helpers if it went unanswered; then,
   * with `askNats`, what NATS says of a target nobody reached (a re-probe of
   * the dead has no use for it).
   */
  private async ping(target: string, buddy: MembershipUpdate | undefined, timeoutMs: number, intervalMs: number, { askNats }: { askNats: boolean }): Promise<ProbeResult> {
    const clock = this.options.clock;
    const started = clock.now();
    const updates = [...(buddy ? [buddy] : []), ...this.piggyback()];
    let noResponders = false;
    let stalled = false;
    try {
      const reply = await this.request<AckBody>(target, 'ping', { target, updates, stamp: this.stamp(), ...this.at() } satisfies PingBody, timeoutMs);
      if (reply) this.takeAck(reply);
      if (reply?.kind === 'ack' && reply.from === target) {
        return { acked: true, indirectAcks: 0, nacks: 0, expectedNacks: 0, rttMs: clock.now() - started };
      }
    } catch (err) {
      // NATS's "no responders" arrives at once, so the indirect phase starts
      // early; it is not taken as a suspicion by itself: a broken gateway
      // link between two clusters answers the same way for a live member.
      noResponders = isTransportError(err, 'no-responders');
      stalled = clock.now() - started > timeoutMs + PROBE_STALL_MS;
    }
    const helpers = this.detector.helpersFor(target);
    const indirectStarted = clock.now();
    const remaining = Math.max(timeoutMs, intervalMs - (indirectStarted - started));
    const answers = await Promise.all(
      helpers.map((helper) =>
        this.request<PingReqAnswer>(helper.id, 'ping-req', { target, updates: buddy ? [buddy] : [] } satisfies PingBody, remaining).then(
          (reply) => reply?.body,
          () => undefined,
        ),
      ),
    );
    if (clock.now() - indirectStarted > remaining + PROBE_STALL_MS) stalled = true;
    const sinceReconnect = this.reconnectedAt === undefined ? Infinity : clock.now() - this.reconnectedAt;
    const ownFault = stalled
      ? 'our own event loop stalled while waiting'
      : sinceReconnect < RECONNECT_DOUBT_MS
        ? `our NATS connection came back ${sinceReconnect} ms ago and our server's links to other clusters may not be`
        : undefined;
    const acks = answers.filter((a) => a?.acked === true).length;
    const absence = askNats && acks === 0 ? await this.absenceOf(target, noResponders, helpers, answers) : undefined;
    return {
      acked: false,
      indirectAcks: acks,
      nacks: answers.filter((a) => a?.acked === false).length,
      expectedNacks: helpers.length,
      ...(absence && { absence }),
      ...(ownFault !== undefined && { ownFault }),
    };
  }

  /**
   * A direct ping of a suspect whose suspicion ran out, carrying the
   * suspicion so that a live one refutes it. Unlike a probe it asks no
   * helpers: it is NATS's answer that counts (see FailureDetector.onLastWord).
   * "No responders" counts only when said twice, LAST_WORD_RECHECK_MS apart:
   * a member whose loop stood still longer than its NATS pings allow is
   * between two connections for up to a reconnect wait.
   */
  private async lastWordOf(target: string): Promise<LastWord> {
    const first = await this.lastPing(target);
    if (first !== 'no-responders') return first;
    await new Promise<void>((resolve) => this.after(resolve, LAST_WORD_RECHECK_MS));
    return this.lastPing(target);
  }

  private async lastPing(target: string): Promise<LastWord> {
    const buddy = this.detector.piggybackFor(target);
    try {
      const reply = await this.request<AckBody>(target, 'ping', { target, updates: buddy ? [buddy] : [], stamp: this.stamp(), ...this.at() } satisfies PingBody, this.options.config.probeTimeoutMs);
      if (reply) this.takeAck(reply);
      return reply?.kind === 'ack' && reply.from === target ? 'answered' : 'failed';
    } catch (err) {
      if (isTransportError(err, 'no-responders')) return 'no-responders';
      return isTransportError(err, 'timeout') ? 'timed-out' : 'failed';
    }
  }

  /** What every answer to our ping carries: rumours, our stamp back, where it is attached. */
  private takeAck(reply: Opened<AckBody>): void {
    this.applyUpdates(reply.body.updates, reply.from);
    this.confirmStamp(reply.from, reply.body.stamp);
    this.noteLocation(reply.from, reply.body.at);
  }

  /**
   * What NATS says about a probe nobody answered: which NATS clusters'
   * servers said "no responders" (ours and each helper's that did, when our
   * ping got that answer), and whether the server the target was last
   * attached to answers us (see NatsAbsence). The survey runs for any such
   * probe: a silent server that is, or may be, the target's holds the
   * suspicion (a NATS restart is no member's death), while hastening still
   * needs the word of two NATS clusters.
   */
  private async absenceOf(
    target: string,
    noResponders: boolean,
    helpers: readonly MemberState[],
    answers: readonly (PingReqAnswer | undefined)[],
  ): Promise<NatsAbsence | undefined> {
    const ours = this.options.transport.location();
    if (!ours) return undefined;
    const natsClusters = new Set<string>();
    if (noResponders) {
      natsClusters.add(ours.cluster);
      answers.forEach((answer, i) => {
        const helper = helpers[i];
        if (!answer || answer.absent !== true || !helper) return;
        this.noteLocation(helper.id, answer.at);
        const at = this.natsLocations.get(helper.id);
        if (at) natsClusters.add(at.cluster);
      });
    }
    const clusters = [...natsClusters];
    const answering = await this.surveyServers();
    if (!answering) return clusters.length > 0 ? { natsClusters: clusters } : undefined;
    const at = this.natsLocations.get(target);
    if (at) return answering.has(at.server) ? { natsClusters: clusters, serverAnswered: at.server } : { natsClusters: clusters, serverSilent: at.server };
    // It never told us its server (it may have joined a moment ago), but it was on one of those we know.
    const known = [...this.knownServers.keys()];
    const silent = known.filter((server) => !answering.has(server));
    if (silent.length > 0) return { natsClusters: clusters, serverSilent: `${silent.join(' or ')} (it never told us which is its own)` };
    return known.length > 0 ? { natsClusters: clusters, serverAnswered: `each of the ${known.length} NATS servers we know` } : { natsClusters: clusters };
  }

  /** Asks which NATS servers answer now, and remembers them. */
  private async surveyServers(): Promise<ReadonlySet<string> | undefined> {
    const answering = await this.options.transport.answeringServers(SERVER_SURVEY_MS);
    const now = this.options.clock.now();
    for (const server of answering ?? []) this.knownServers.set(server, now);
    // A server gone for good (decommissioned) must not block the fast path forever.
    for (const [server, seen] of this.knownServers) if (now - seen > KNOWN_SERVER_TTL_MS) this.knownServers.delete(server);
    return answering;
  }

  private afterProbe(target: string, result: ProbeResult): void {
    const outcome = this.detector.onProbeResult(target, result);
    this.spread(outcome.updates);
    if (outcome.syncWith) void this.pushPull(outcome.syncWith);
  }

  private async housekeeping(): Promise<undefined> {
    const now = this.options.clock.now();
    // A tick this late means our loop stood still: suspicions must not run out on that time.
    const late = this.lastHousekeeping === undefined ? 0 : now - this.lastHousekeeping - (this.options.config.housekeepingMs ?? DEFAULT_HOUSEKEEPING_MS);
    this.lastHousekeeping = now;
    if (late > STALL_NOISE_MS) this.detector.onOwnStall(late);
    if (!this.connected) return undefined;
    for (const suspect of this.detector.lastWordsDue()) {
      void this.lastWordOf(suspect.id).then((word) => {
        if (!this.stopped) this.spread(this.detector.onLastWord(suspect.id, word));
      });
    }
    this.spread(this.detector.onSuspicionExpired());
    for (const dead of this.detector.reprobesDue()) {
      // Noted before sending, so a slow re-probe is not sent again every tick.
      this.table.noteReprobe(dead.id, now);
      const timeout = this.options.config.probeTimeoutMs;
      void this.ping(dead.id, this.detector.piggybackFor(dead.id), timeout, timeout, { askNats: false }).then((result) => {
        if (this.connected && !this.stopped) this.afterProbe(dead.id, result);
      });
    }
    // Dead and left members are kept 24 h for re-probing, then forgotten with their records.
    for (const id of this.table.expire(now)) this.health.forget(id);
    return undefined;
  }

  // ---- anti-entropy ------------------------------------------------------------

  private async pushPullWithRandomMember(): Promise<undefined> {
    // Relayed copies are checked against the signer's chain as of now: seal
    // our record again well before our SVID (renewed at half life) expires.
    if (this.options.clock.now() - this.ownSealedAt > RESEAL_AFTER_MS) this.adoptOwnRecord(true);
    void this.surveyServers();
    const others = this.table.members().filter((m) => m.id !== this.id && m.status === 'alive');
    const peer = others[Math.floor(this.options.random() * others.length)];
    if (peer && this.connected) await this.syncWith(peer.id);
    return undefined;
  }

  /** Our first sync, with the first member we hear from; one at a time. */
  private async joinSyncWith(peer: string): Promise<void> {
    if (this.synced || this.joinSyncing || peer === this.id || this.stopped) return;
    this.joinSyncing = true;
    try {
      await this.syncWith(peer);
    } finally {
      this.joinSyncing = false;
    }
    if (!this.synced && this.initialDeadlinePassed) this.settleInitial({ outcome: 'no-peer', afterMs: this.options.clock.now() - this.startedAt });
  }

  private async syncWith(peer: string): Promise<void> {
    const result = await this.pushPull(peer);
    if (!result.answered || this.synced) return;
    this.synced = true;
    this.settleInitial({ outcome: 'synced', peer, complete: result.complete, afterMs: this.options.clock.now() - this.startedAt });
  }

  private initialSyncDeadline(): void {
    this.initialDeadlinePassed = true;
    if (!this.joinSyncing) this.settleInitial({ outcome: 'no-peer', afterMs: this.options.clock.now() - this.startedAt });
  }

  private settleInitial(result: InitialSync): void {
    if (this.initial) return;
    this.initial = result;
    for (const resolve of this.initialWaiters.splice(0)) resolve(result);
  }

  /**
   * Full member state both ways (memberlist push/pull) and Scuttlebutt for
   * health: we send our digest, the peer answers with the records we lack (as
   * many as fit) and its digest; we send back everything it lacks and pull
   * the rest of what we lack, each in as many messages as it takes.
   * `answered`: the peer answered the sync; `complete`: we now hold all its
   * digest offered.
   */
  private async pushPull(peer: string): Promise<{ answered: boolean; complete: boolean }> {
    let answered = false;
    try {
      const timeout = this.options.config.probeTimeoutMs * 4;
      const reply = await this.request<SyncBody>(peer, 'sync', this.syncBody(undefined), timeout);
      if (reply?.kind !== 'sync') return { answered, complete: false };
      answered = true;
      await this.applySync(reply.body, reply.from, reply.trustDomain);
      await this.exchangeMemberParts(peer, reply.body.of, timeout);
      const theirDigest = reply.body.digest;
      for (const batch of this.batches(this.recordsFor(theirDigest), this.recordsBudget()).slice(0, MAX_TRANSFER_MESSAGES)) {
        await this.request(peer, 'records', { records: batch } satisfies RecordsBody, timeout);
      }
      return { answered, complete: await this.pullFrom(peer, theirDigest, timeout) };
    } catch {
      // The next round or a probe will tell; a failed sync is no evidence by itself.
      return { answered, complete: false };
    }
  }

  /**
   * The member list beyond the first part, both ways: ours pushed in
   * 'members' messages, the peer's pulled part by part (`theirParts` is how
   * many it said it has).
   */
  private async exchangeMemberParts(peer: string, theirParts: unknown, timeoutMs: number): Promise<void> {
    const ours = this.memberChunks();
    for (let part = 1; part < ours.length; part++) {
      await this.request(peer, 'members', { members: ours[part] ?? [], part, of: ours.length } satisfies MembersBody, timeoutMs);
    }
    const count = typeof theirParts === 'number' && Number.isSafeInteger(theirParts) ? Math.min(theirParts, MAX_TRANSFER_MESSAGES) : 1;
    for (let part = 1; part < count; part++) {
      const reply = await this.request<MembersBody>(peer, 'members-pull', { part } satisfies { part: number }, timeoutMs);
      if (reply?.kind !== 'members' || !Array.isArray(reply.body.members)) break;
      this.applyMembers(reply.body.members, reply.from);
    }
  }

  /** Asks `peer` for what its digest offered and we still lack, until we hold it all or it sends nothing new. */
  private async pullFrom(peer: string, theirDigest: unknown, timeoutMs: number): Promise<boolean> {
    if (!isDigest(theirDigest)) return true;
    let missing = this.health.missingFrom(theirDigest).length;
    for (let round = 0; round < MAX_TRANSFER_MESSAGES && missing > 0; round++) {
      const reply = await this.request<RecordsBody>(peer, 'pull', { digest: this.health.digest() } satisfies PullBody, timeoutMs);
      if (reply?.kind !== 'records' || !Array.isArray(reply.body.records) || reply.body.records.length === 0) break;
      await this.applyRecords(reply.body.records, reply.from);
      const left = this.health.missingFrom(theirDigest).length;
      if (left >= missing) break;
      missing = left;
    }
    return missing === 0;
  }

  private recordsBudget(): number {
    return this.options.transport.maxMessageBytes - SYNC_OVERHEAD_BYTES;
  }

  /**
   * A sync message within the transport's budget: members, digest and bundle
   * first, then as many records as fit; the rest go in the next round, which
   * the digest will ask for again (Scuttlebutt's bounded exchange).
   */
  private syncBody(theirDigest: HealthDigest | undefined): SyncBody {
    const parts = this.memberChunks();
    const members = parts[0] ?? [];
    const digest = this.health.digest();
    const bundle = this.options.bundles?.own();
    const fixed = JSON.stringify({ members, digest, bundle, of: parts.length }).length;
    const budget = this.recordsBudget() - fixed;
    // A sync we start carries our own record; a reply what the asker lacks. The rest follows in 'records' and 'pull'.
    const offered = theirDigest ? this.recordsFor(theirDigest) : this.ownParts.map((part) => this.health.sealOf(part)?.envelope).filter((e) => e !== undefined);
    const records = this.batches(offered, budget)[0] ?? [];
    return { members, digest, records, ...(parts.length > 1 && { of: parts.length }), ...(bundle && { bundle }) };
  }

  /** Our member list in parts (see memberListParts); a member too big for any part is counted as unsent. */
  private memberChunks(): MemberState[][] {
    const { parts, oversized } = memberListParts(this.table.members(), this.options.transport.maxMessageBytes);
    for (const m of oversized) this.countUnsent('too-large', 'sync', JSON.stringify(m).length, `member ${m.id} does not fit a part of a sync`);
    return parts;
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

  /** Our signed record parts newer than the digest says they hold. */
  private recordsFor(theirDigest: unknown): SignedRecord[] {
    if (!isDigest(theirDigest)) return [];
    const out: SignedRecord[] = [];
    for (const record of this.health.deltaFor(theirDigest)) {
      const seal = this.health.sealOf(record);
      if (seal) out.push(seal.envelope);
    }
    return out;
  }

  /** A peer holds a part of our record newer than ours (our clock went back, or our id is used twice): jump past it. */
  private supersedeOwn(theirDigest: unknown): void {
    if (!isDigest(theirDigest)) return;
    let jumped = false;
    for (const [key, entry] of Object.entries(theirDigest)) {
      if (parsePartKey(key)?.origin !== this.id || !Array.isArray(entry) || entry.length !== 2) continue;
      jumped = this.writer.supersede(entry) || jumped;
    }
    if (jumped) void this.broadcastRecords(this.adoptOwnRecord(true));
  }

  private async applySync(body: SyncBody, from: string, signerTrustDomain: string): Promise<void> {
    if (!Array.isArray(body.members)) return this.drop('bad-body', 'sync without members');
    this.applyMembers(body.members, from);
    await this.applyRecords(body.records, from);
    this.supersedeOwn(body.digest);
    this.acceptBundle(body.bundle, signerTrustDomain);
  }

  /** A part of another member's member list, as rumours from it. */
  private applyMembers(members: readonly MemberState[], from: string): void {
    let updates: MembershipUpdate[];
    try {
      updates = updatesFromRemoteState(members, this.id);
    } catch (err) {
      return void this.drop('bad-body', `sync members: ${String(err)}`);
    }
    this.applyUpdates(updates, from);
  }

  // ---- receiving ---------------------------------------------------------------

  private async receiveBroadcast(data: Uint8Array): Promise<void> {
    const opened = await this.open<GossipBody>(data);
    if (!opened || opened.kind !== 'gossip') return;
    const { body, from } = opened;
    if (!Array.isArray(body.updates)) return this.drop('bad-body', 'gossip without updates');
    this.acceptBundle(body.bundle, opened.trustDomain);
    const joining = body.updates.filter((u) => u.kind === 'alive' && u.member?.id === from && (body.join === true || !this.table.get(from)));
    this.applyUpdates(body.updates, from);
    await this.applyRecords(body.records, from);
    // A member is joining (new, or restarted under its id): give it our whole
    // state. A few of us suffice; all of us at once is N² syncs when a
    // cluster starts. And when we are the one joining, we sync with the first
    // member we hear.
    const joinSync = joining.length > 0 && this.options.random() < JOIN_SYNCS / Math.max(1, this.table.aliveCount() - 1);
    if (joinSync) await this.syncWith(from);
    else if (!this.synced) await this.joinSyncWith(from);
  }

  private async receiveRequest(data: Uint8Array): Promise<Uint8Array | undefined> {
    const opened = await this.open<PingBody & SyncBody & GossipBody>(data);
    if (!opened) return undefined;
    const { kind, body, from, trustDomain } = opened;
    // Someone knows us: if we have not synced yet, it is a peer to sync with (after answering it).
    if (!this.synced && kind !== 'ping-req') this.after(() => void this.joinSyncWith(from), 0);
    switch (kind) {
      case 'ping':
        if (!Array.isArray(body.updates)) return this.drop('bad-body', 'ping without updates');
        this.applyUpdates(body.updates, from);
        this.confirmStamp(from, body.stamp);
        this.noteLocation(from, body.at);
        return this.sealFor(from, 'ack', { updates: this.piggyback(), stamp: this.stamp(), ...this.at() } satisfies AckBody);
      case 'ping-req': {
        if (typeof body.target !== 'string') return this.drop('bad-body', 'ping-req without target');
        const timeout = this.options.config.probeTimeoutMs;
        const answer: PingReqAnswer = await this.request<AckBody>(body.target, 'ping', { target: body.target, updates: body.updates ?? [], ...this.at() }, timeout).then(
          (reply) => ({ acked: reply?.kind === 'ack' && reply.from === body.target }),
          (err: unknown) => (isTransportError(err, 'no-responders') ? { acked: false, absent: true } : { acked: false }),
        );
        return this.sealFor(from, 'ping-req-answer', { ...answer, ...this.at() } satisfies PingReqAnswer);
      }
      case 'sync':
        await this.applySync(body, from, trustDomain);
        return this.sealFor(from, 'sync', this.syncBody(body.digest ?? {}));
      case 'chain':
        return this.seal('chain', {}, true);
      case 'members':
        if (!Array.isArray(body.members)) return this.drop('bad-body', 'members without a list');
        this.applyMembers(body.members, from);
        return this.sealFor(from, 'ack', { updates: [] } satisfies AckBody);
      case 'members-pull': {
        const part = (body as { part?: unknown }).part;
        if (typeof part !== 'number' || !Number.isSafeInteger(part) || part < 0) return this.drop('bad-body', 'members-pull without a part number');
        const parts = this.memberChunks();
        return this.sealFor(from, 'members', { members: parts[part] ?? [], part, of: parts.length } satisfies MembersBody);
      }
      case 'records':
        await this.applyRecords(body.records, from);
        return this.sealFor(from, 'ack', { updates: [] } satisfies AckBody);
      case 'pull':
        return this.sealFor(from, 'records', { records: this.batches(this.recordsFor((body as PullBody).digest), this.recordsBudget())[0] ?? [] } satisfies RecordsBody);
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
      if (result.refute) {
        this.refutations++;
        this.spread([result.refute]);
      }
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
      const result = await this.options.verifier.openRelayed<HealthRecord>(new TextEncoder().encode(signed));
      if (!result.ok) {
        this.drop(result.error.reason, result.error.detail);
        continue;
      }
      const opened = result.value;
      if (!this.bindCluster(opened.signer.cluster, opened.signer.trustDomain)) continue;
      const parsed = parseHealthRecord(opened.envelope.body);
      if (opened.envelope.kind !== 'health' || !parsed.ok) {
        this.drop('bad-body', parsed.ok ? `a ${opened.envelope.kind} envelope among records` : parsed.error);
        continue;
      }
      const record = parsed.value;
      if (record.origin !== opened.envelope.from || record.cluster !== opened.signer.cluster) {
        this.drop('foreign-claim', `${opened.envelope.from} signed a record for ${record.origin}`);
        continue;
      }
      // The seal travels with the part; of two seals of one version the newer is kept (owners seal again as their SVIDs renew).
      this.health.merge(record, { envelope: signed, sealedAt: opened.envelope.ts });
      // From its owner, a part is current as of now.
      if (record.origin === from) this.health.confirmPart(record);
    }
  }

  private stamp(): Stamp {
    return this.writer.stamp();
  }

  /** Our NATS location as a body field (none while disconnected). */
  private at(): { at?: At } {
    const here = this.options.transport.location();
    return here ? { at: [here.server, here.cluster] } : {};
  }

  private noteLocation(member: string, at: unknown): void {
    const location = parseAt(at);
    if (!location) return;
    this.natsLocations.set(member, location);
    this.knownServers.set(location.server, this.options.clock.now());
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

  private async announceJoin(): Promise<void> {
    const alive = this.table.selfAlive();
    this.queue.enqueue(keyOf(alive), alive);
    await this.broadcast({ updates: [alive], join: true });
  }

  private async broadcast(body: GossipBody): Promise<void> {
    if (this.stopped) return;
    const data = this.seal('gossip', body);
    if (!this.connected) return this.countUnsent('disconnected', 'gossip', data.length, 'not connected to NATS');
    await this.options.transport.broadcast(data).catch((err: unknown) => this.sendFailed('gossip', data.length, err));
  }

  /** Counts a send the transport refused or failed; other errors (no answer) are not send failures. */
  private sendFailed(message: string, bytes: number, err: unknown): void {
    const kind: TransportErrorKind = isTransportError(err) ? err.kind : 'failed';
    if (!UNSENT_KINDS.has(kind)) return;
    this.countUnsent(kind as UnsentReason, message, bytes, err instanceof Error ? err.message : String(err));
  }

  private countUnsent(reason: UnsentReason, message: string, bytes: number, detail: string): void {
    this.unsent.set(reason, (this.unsent.get(reason) ?? 0) + 1);
    this.options.onEvent?.({ kind: 'unsent', reason, message, bytes, detail });
  }

  private piggyback(): MembershipUpdate[] {
    return this.queue.take(PIGGYBACK_BUDGET_BYTES, (u) => JSON.stringify(u).length);
  }

  /**
   * Asks `member` for its chain, once at a time per member: the reply is
   * sealed with the chain, and opening it verifies and caches it. Our request
   * carries ours, so that a member that does not know us either can answer.
   */
  private fetchChain(member: string): Promise<boolean> {
    if (member === this.id || !this.connected) return Promise.resolve(false);
    let pending = this.chainFetches.get(member);
    if (!pending) {
      pending = this.options.transport
        .request(member, this.seal('chain', {}, true), this.options.config.probeTimeoutMs)
        .then(async (reply) => (await this.options.verifier.open(reply)).ok, () => false)
        .finally(() => this.chainFetches.delete(member));
      this.chainFetches.set(member, pending);
    }
    return pending;
  }

  private async request<B>(
    memberId: string,
    kind: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<Opened<B> | undefined> {
    const data = this.sealFor(memberId, kind, body);
    let raw: Uint8Array;
    try {
      raw = await this.options.transport.request(memberId, data, timeoutMs);
    } catch (err) {
      this.sendFailed(kind, data.length, err);
      throw err;
    }
    const opened = await this.open<B>(raw);
    // It answered, so it opened our request: it holds our chain from now on.
    if (opened?.from === memberId) this.chainKnownBy.add(memberId);
    return opened;
  }

  /**
   * Messages carry our chain's fingerprint, and the chain itself only now
   * and then (EnvelopeSigner's rules) or with `withChain`: a receiver that
   * does not know the fingerprint asks us for the chain once (see open).
   * Health records always carry it: anyone may relay them, to members that
   * never heard from their owner.
   */
  private seal(kind: string, body: unknown, withChain = false): Uint8Array {
    const envelope = this.options.signer.seal(kind, body, this.options.clock.now(), { withChain });
    if (envelope.fp !== this.sealedFp) {
      // A new SVID: nobody knows this chain yet.
      this.sealedFp = envelope.fp;
      this.chainKnownBy.clear();
    }
    return encodeEnvelope(envelope);
  }

  /** A direct message to `member`: with our chain until it has shown it holds it. */
  private sealFor(member: string, kind: string, body: unknown): Uint8Array {
    return this.seal(kind, body, !this.chainKnownBy.has(member));
  }

  private async open<B>(data: Uint8Array): Promise<Opened<B> | undefined> {
    let result = await this.options.verifier.open<B>(data);
    if (!result.ok && result.error.reason === 'unknown-chain' && result.error.from !== undefined && (await this.fetchChain(result.error.from))) {
      result = await this.options.verifier.open<B>(data);
    }
    if (!result.ok) {
      this.drop(result.error.reason, result.error.detail);
      return undefined;
    }
    const { envelope, signer } = result.value;
    if (!this.bindCluster(signer.cluster, signer.trustDomain)) return undefined;
    const body = envelope.body;
    if (typeof body !== 'object' || body === null) {
      this.drop('bad-body', `${envelope.kind} body is not an object`);
      return undefined;
    }
    return { kind: envelope.kind, body, from: envelope.from, trustDomain: signer.trustDomain };
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
      this.reconnectedAt = this.options.clock.now();
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


/**
 * A member list in parts that each fit a quarter of a message, the rest of
 * which is left for the digest, records and envelope: 1,000 members are
 * about 250 KB of JSON, four times a 64 KiB message. Sorted by id, so that a
 * part asked for by number is the same part while the list holds still.
 */
export function memberListParts(members: readonly MemberState[], maxMessageBytes: number): { parts: MemberState[][]; oversized: MemberState[] } {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const { chunks, oversized } = chunkBySize(sorted, Math.floor(maxMessageBytes / 4), (m) => JSON.stringify(m).length);
  return { parts: chunks, oversized };
}

/** A NATS location off the wire: two short strings, or nothing. */
function parseAt(value: unknown): NatsLocation | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [server, cluster] = value as unknown[];
  const fits = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
  return fits(server) && fits(cluster) ? { server, cluster } : undefined;
}

const isDigest = (value: unknown): value is HealthDigest => typeof value === 'object' && value !== null && !Array.isArray(value);
