/**
 * The member list and its state machine: what this process believes about
 * every member, and the rules by which rumours (alive / suspect / dead /
 * left) change that belief. The rules are memberlist's `aliveNode`,
 * `suspectNode`, `deadNode` and `refute` (state.go), adapted:
 *
 *  - memberlist forgets dead nodes after GossipToTheDeadTime; we keep dead
 *    and left members for 24 h and re-probe the dead every 30 s, so a
 *    partition that heals after minutes heals membership too (Serf's
 *    reconnect; memberlist#222, weaviate#10698);
 *  - graceful leave is its own rumour (`left`) instead of a dead message
 *    whose `from` is the node itself (memberlist treats that as left too,
 *    and so do we);
 *  - besides SWIM's status we keep a local view, `reachable`, of whether our
 *    own direct probes get through: "unreachable from here" is not "dead"
 *    (Akka's reachability), for example when a NATS gateway link is down.
 *
 * Pure: no timers or I/O. Time comes from the injected clock (for the
 * `statusSince` of rumours applied) or as an argument.
 */
import {
  DEFAULT_PROBE_INTERVAL_MS,
  DEFAULT_SUSPICION_MAX_TIMEOUT_MULT,
  DEFAULT_SUSPICION_MULT,
  Suspicion,
  confirmationsWanted,
  suspicionTimeouts,
} from './suspicion.js';
import type { Clock, MemberInfo, MemberState, MemberStatus, MembershipUpdate, Random } from './types.js';

/** Dead members are re-probed this often (Serf ReconnectInterval, memberlist LAN GossipToTheDeadTime). */
export const REPROBE_INTERVAL_MS = 30_000;
/**
 * Up to this fraction of the interval is added at random to each re-probe
 * time, so gateways that all saw a cluster die within the same second do
 * not all re-probe it in the same second, forever.
 */
export const REPROBE_JITTER_FRACTION = 0.1;
/**
 * Dead and left members are kept this long after their last status change
 * (Serf ReconnectTimeout, chitchat's dead-node grace).
 */
export const DEAD_RETENTION_MS = 24 * 60 * 60 * 1000;
/**
 * Weight of a new sample in the probe round-trip EWMA: 0.3 follows a real
 * change within a few probes without jumping on one outlier.
 */
export const RTT_EWMA_WEIGHT = 0.3;

/** What applying one rumour did. */
export interface ApplyResult {
  /** Our belief changed (status, incarnation, info or accusers). */
  readonly changed: boolean;
  /** The rumour was news: gossip it on (memberlist `encodeAndBroadcast`). */
  readonly rebroadcast: boolean;
  /**
   * The rumour accused us: broadcast this `alive` with our raised
   * incarnation. Each refutation also costs +1 local health (Lifeguard),
   * which the detector applies.
   */
  readonly refute?: MembershipUpdate;
}

/** One row of /debug/members: every state has an age and a reason. */
export interface MemberView {
  readonly id: string;
  readonly cluster: string;
  readonly trustDomain: string;
  /** host:port of its federation listener, as it announced it. */
  readonly federationAddr: string;
  readonly status: MemberStatus;
  readonly incarnation: number;
  /** ms since a valid message from it reached us; null if never. */
  readonly lastHeardMs: number | null;
  /** EWMA of our probe round trips to it; null before the first ack. */
  readonly rttMs: number | null;
  /** Whether our latest direct probe of it was answered (true until probed). */
  readonly reachable: boolean;
  /** Who suspected it (first) and who confirmed, or who declared it dead. */
  readonly suspectedBy: readonly string[];
  readonly why: string;
  readonly statusSinceMs: number;
}

/** A read-only look at a member's running suspicion. */
export interface SuspicionSnapshot {
  readonly deadline: number;
  readonly confirmations: number;
  readonly k: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly accusers: readonly string[];
  /** Its last ping is out (see Suspicion.lastWordDue). */
  readonly awaitingLastWord: boolean;
}

export interface MemberTableOptions {
  readonly self: MemberInfo;
  readonly clock: Clock;
  /** Jitters re-probe times. */
  readonly random: Random;
  /**
   * Our starting incarnation (default 0). The orchestrator may seed it with
   * a start time so that a restarted gateway outranks rumours about its
   * previous life at once instead of after one refutation.
   */
  readonly incarnation?: number;
  readonly probeIntervalMs?: number;
  readonly suspicionMult?: number;
  readonly suspicionMaxTimeoutMult?: number;
}

interface MemberRecord {
  info: MemberInfo;
  incarnation: number;
  status: MemberStatus;
  statusSince: number;
  why: string;
  suspectedBy: string[];
  suspicion: Suspicion | undefined;
  lastHeard: number | undefined;
  rttMs: number | undefined;
  reachable: boolean;
  unreachableWhy: string;
  nextReprobeAt: number | undefined;
}

/** A member as first known: alive, nothing heard or measured yet. */
function aliveRecord(info: MemberInfo, incarnation: number, since: number, why: string): MemberRecord {
  return {
    info,
    incarnation,
    status: 'alive',
    statusSince: since,
    why,
    suspectedBy: [],
    suspicion: undefined,
    lastHeard: undefined,
    rttMs: undefined,
    reachable: true,
    unreachableWhy: '',
    nextReprobeAt: undefined,
  };
}

const UNCHANGED: ApplyResult = Object.freeze({ changed: false, rebroadcast: false });
const NEWS: ApplyResult = Object.freeze({ changed: true, rebroadcast: true });

function isIncarnation(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function sameInfo(a: MemberInfo, b: MemberInfo): boolean {
  return (
    a.id === b.id &&
    a.cluster === b.cluster &&
    a.region === b.region &&
    a.zone === b.zone &&
    a.trustDomain === b.trustDomain &&
    a.federationAddr === b.federationAddr &&
    a.adminAddr === b.adminAddr
  );
}

/** Just the MemberInfo fields of a richer object (a remote MemberState may carry more). */
export function memberInfoOf(m: MemberInfo): MemberInfo {
  const info: { -readonly [K in keyof MemberInfo]: MemberInfo[K] } = {
    id: m.id,
    cluster: m.cluster,
    trustDomain: m.trustDomain,
    federationAddr: m.federationAddr,
    adminAddr: m.adminAddr,
  };
  if (m.region !== undefined) info.region = m.region;
  if (m.zone !== undefined) info.zone = m.zone;
  return info;
}

function isGone(status: MemberStatus): boolean {
  return status === 'dead' || status === 'left';
}

export class MemberTable {
  readonly selfId: string;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly probeIntervalMs: number;
  private readonly suspicionMult: number;
  private readonly suspicionMaxTimeoutMult: number;
  private readonly records = new Map<string, MemberRecord>();
  private readonly me: MemberRecord;
  private refuted = 0;

  constructor(options: MemberTableOptions) {
    this.selfId = options.self.id;
    this.clock = options.clock;
    this.random = options.random;
    this.probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.suspicionMult = options.suspicionMult ?? DEFAULT_SUSPICION_MULT;
    this.suspicionMaxTimeoutMult = options.suspicionMaxTimeoutMult ?? DEFAULT_SUSPICION_MAX_TIMEOUT_MULT;
    const incarnation = options.incarnation ?? 0;
    if (!isIncarnation(incarnation)) throw new RangeError(`incarnation must be a non-negative safe integer, got ${incarnation}`);
    this.me = aliveRecord(options.self, incarnation, this.clock.now(), 'this process');
    this.records.set(this.selfId, this.me);
  }

  /** Our own incarnation: only we raise it, to refute. */
  incarnation(): number {
    return this.me.incarnation;
  }

  /** Times we refuted a suspicion or death about ourselves (for metrics). */
  refutations(): number {
    return this.refuted;
  }

  /** The `alive` rumour that announces us at our current incarnation (for join and push-pull). */
  selfAlive(): MembershipUpdate {
    return { kind: 'alive', member: this.me.info, incarnation: this.me.incarnation };
  }

  /**
   * Applies one rumour. `reason` (optional) becomes the member's `why` when
   * its status changes; rumours from others carry none, so by default the
   * reason names who asserted it.
   */
  apply(update: MembershipUpdate, reason?: string): ApplyResult {
    if (!isIncarnation(update.incarnation)) return UNCHANGED;
    switch (update.kind) {
      case 'alive':
        return this.applyAlive(update.member, update.incarnation, reason);
      case 'suspect':
        return this.applySuspect(update.id, update.incarnation, update.from, reason);
      case 'dead':
        // memberlist: a dead message from the node itself means it left.
        if (update.from === update.id) return this.applyLeft(update.id, update.incarnation, reason);
        return this.applyDead(update.id, update.incarnation, update.from, reason);
      case 'left':
        return this.applyLeft(update.id, update.incarnation, reason);
    }
  }

  /** memberlist `aliveNode`. */
  private applyAlive(member: MemberInfo, incarnation: number, reason: string | undefined): ApplyResult {
    const now = this.clock.now();
    if (member.id === this.selfId) {
      // Once we leave, an alive about us still in flight must not rejoin us (memberlist `hasLeft`).
      if (this.me.status === 'left') return UNCHANGED;
      if (incarnation < this.me.incarnation) return UNCHANGED;
      // Same incarnation and same facts: our own rumour come back. Anything
      // else at our incarnation or above is a previous life of ours (a
      // restart) or an impostor: outbid it.
      if (incarnation === this.me.incarnation && sameInfo(member, this.me.info)) return UNCHANGED;
      return this.outbid(incarnation);
    }

    const rec = this.records.get(member.id);
    if (!rec) {
      this.records.set(member.id, aliveRecord(member, incarnation, now, reason ?? 'joined'));
      return NEWS;
    }

    // Only a strictly newer incarnation wins: this is what makes dead sticky.
    if (incarnation <= rec.incarnation) return UNCHANGED;
    const was = rec.status;
    rec.info = member;
    rec.incarnation = incarnation;
    rec.suspicion = undefined;
    rec.suspectedBy = [];
    rec.nextReprobeAt = undefined;
    if (was !== 'alive') {
      rec.status = 'alive';
      rec.statusSince = now;
      const byDefault =
        was === 'suspect'
          ? `refuted suspicion at incarnation ${incarnation}`
          : `rejoined (was ${was}) at incarnation ${incarnation}`;
      rec.why = reason ?? byDefault;
    }
    return NEWS;
  }

  /** memberlist `suspectNode`. */
  private applySuspect(id: string, incarnation: number, from: string, reason: string | undefined): ApplyResult {
    const now = this.clock.now();
    const rec = this.rumoured(id, incarnation);
    if (!rec) return UNCHANGED;

    // Already suspect: this may be an independent confirmation, which
    // shortens the timeout and is worth passing on (Lifeguard dogpile).
    if (rec.suspicion) {
      if (!rec.suspicion.confirm(from, now)) return UNCHANGED;
      rec.suspectedBy = rec.suspicion.accusers();
      return NEWS;
    }
    if (rec.status !== 'alive') return UNCHANGED;

    if (rec === this.me) return this.outbid(incarnation);

    const members = this.aliveCount();
    const { minMs, maxMs } = suspicionTimeouts({
      members,
      probeIntervalMs: this.probeIntervalMs,
      suspicionMult: this.suspicionMult,
      maxTimeoutMult: this.suspicionMaxTimeoutMult,
    });
    const suspicion = new Suspicion({
      suspecter: from,
      confirmationsWanted: confirmationsWanted(this.suspicionMult, members),
      minMs,
      maxMs,
    });
    suspicion.start(now);
    rec.incarnation = incarnation;
    rec.status = 'suspect';
    rec.statusSince = now;
    rec.suspicion = suspicion;
    rec.suspectedBy = suspicion.accusers();
    rec.why = reason ?? `suspected by ${from}`;
    return NEWS;
  }

  /** memberlist `deadNode` (from someone other than the node itself). */
  private applyDead(id: string, incarnation: number, from: string, reason: string | undefined): ApplyResult {
    const now = this.clock.now();
    const rec = this.rumoured(id, incarnation);
    if (!rec) return UNCHANGED;
    if (isGone(rec.status)) return UNCHANGED;
    if (rec === this.me) return this.outbid(incarnation);

    const accusers = rec.suspicion ? rec.suspicion.accusers() : [];
    if (!accusers.includes(from)) accusers.push(from);
    rec.suspicion = undefined;
    rec.incarnation = incarnation;
    rec.status = 'dead';
    rec.statusSince = now;
    rec.suspectedBy = accusers;
    rec.why = reason ?? `declared dead by ${from}`;
    rec.nextReprobeAt = this.reprobeAfter(now);
    return NEWS;
  }

  /**
   * Graceful leave. Like `deadNode` for a node that announced its own
   * departure, except that a member we had declared dead may still be
   * upgraded to left at the same incarnation: only it can sign that, and it
   * spares everyone 24 h of re-probing a member that is not coming back.
   */
  private applyLeft(id: string, incarnation: number, reason: string | undefined): ApplyResult {
    const now = this.clock.now();
    const rec = this.rumoured(id, incarnation);
    if (!rec) return UNCHANGED;
    if (rec.status === 'left') return UNCHANGED;
    // A leave of ours we did not make (a replay from a previous life): refute.
    if (rec === this.me) return this.outbid(incarnation);

    rec.suspicion = undefined;
    rec.incarnation = incarnation;
    rec.status = 'left';
    rec.statusSince = now;
    rec.suspectedBy = [];
    rec.why = reason ?? 'left gracefully';
    rec.nextReprobeAt = undefined;
    return NEWS;
  }

  /** memberlist `refute`: beat the accusation's incarnation, and count it. */
  /** The record a rumour about `id` at `incarnation` may change: one we know, at no older incarnation than ours. */
  private rumoured(id: string, incarnation: number): MemberRecord | undefined {
    const rec = this.records.get(id);
    return rec && incarnation >= rec.incarnation ? rec : undefined;
  }

  /** A rumour about us that we answer by outbidding it. */
  private outbid(accusedIncarnation: number): ApplyResult {
    return { changed: true, rebroadcast: false, refute: this.refute(accusedIncarnation) };
  }

  private refute(accusedIncarnation: number): MembershipUpdate {
    let incarnation = this.me.incarnation + 1;
    if (accusedIncarnation >= incarnation) incarnation = accusedIncarnation + 1;
    this.me.incarnation = incarnation;
    this.refuted += 1;
    return { kind: 'alive', member: this.me.info, incarnation };
  }

  /** Marks us as leaving and returns the `left` rumour to broadcast. */
  leave(): MembershipUpdate {
    if (this.me.status !== 'left') {
      this.me.status = 'left';
      this.me.statusSince = this.clock.now();
      this.me.why = 'leaving gracefully';
    }
    return { kind: 'left', id: this.selfId, incarnation: this.me.incarnation };
  }

  /** A valid (verified) message from `id` itself reached us. */
  heard(id: string, now: number): void {
    const rec = this.records.get(id);
    if (!rec || rec === this.me) return;
    if (rec.lastHeard === undefined || now > rec.lastHeard) rec.lastHeard = now;
  }

  /** Clock time of the last valid message from `id` itself, if any. */
  lastHeardAt(id: string): number | undefined {
    return this.records.get(id)?.lastHeard;
  }

  /** Folds one probe round trip into the member's RTT EWMA. */
  recordRtt(id: string, rttMs: number): void {
    const rec = this.records.get(id);
    if (!rec || rec === this.me || !Number.isFinite(rttMs) || rttMs < 0) return;
    rec.rttMs = rec.rttMs === undefined ? rttMs : rec.rttMs + RTT_EWMA_WEIGHT * (rttMs - rec.rttMs);
  }

  /**
   * Records whether our direct probe of `id` got through. Independent of
   * status: a member can be alive (it refutes, others hear it) yet
   * unreachable from here, and a dead member can answer a re-probe before
   * its refutation arrives.
   */
  setReachable(id: string, reachable: boolean, why = ''): void {
    const rec = this.records.get(id);
    if (!rec || rec === this.me) return;
    rec.reachable = reachable;
    rec.unreachableWhy = reachable ? '' : why;
  }

  /** Why `id` has its present status, as /debug/members gives it. */
  reasonOf(id: string): string | undefined {
    return this.records.get(id)?.why;
  }

  /** The running suspicion of `id`, if it is suspect. */
  suspicionOf(id: string): SuspicionSnapshot | undefined {
    const s = this.records.get(id)?.suspicion;
    if (!s) return undefined;
    return {
      deadline: s.deadline(),
      confirmations: s.confirmations,
      k: s.k,
      minMs: s.minMs,
      maxMs: s.maxMs,
      accusers: s.accusers(),
      awaitingLastWord: s.awaitingLastWord,
    };
  }

  /**
   * Changes the running suspicion of `id` (Suspicion.hasten or .hold, from
   * evidence the table cannot see); `why`, when given, becomes its reason. False when it
   * is not suspect.
   */
  reviseSuspicion(id: string, why: string | undefined, revise: (suspicion: Suspicion) => void): boolean {
    const rec = this.records.get(id);
    if (!rec?.suspicion) return false;
    revise(rec.suspicion);
    if (why !== undefined) rec.why = why;
    return true;
  }

  /** Our own event loop stood still `ms`: every running suspicion waits that much longer (see Suspicion.delay). */
  delaySuspicions(ms: number): void {
    for (const rec of this.records.values()) rec.suspicion?.delay(ms);
  }

  /** Suspects whose suspicion has run out: due for their last word, or for the verdict (see Suspicion). */
  suspicionsDue(now: number, due: 'last-word' | 'verdict'): MemberState[] {
    const out: MemberState[] = [];
    for (const rec of this.records.values()) {
      const s = rec.suspicion;
      if (s && (due === 'verdict' ? s.verdictDue(now) : s.lastWordDue(now))) out.push(this.snapshot(rec));
    }
    return out;
  }

  /** Dead members (not left ones) due for a re-probe, within 24 h of their death. */
  reprobeCandidates(now: number): MemberState[] {
    const out: MemberState[] = [];
    for (const rec of this.records.values()) {
      if (rec.status !== 'dead' || rec.nextReprobeAt === undefined) continue;
      if (now - rec.statusSince > DEAD_RETENTION_MS) continue;
      if (rec.nextReprobeAt <= now) out.push(this.snapshot(rec));
    }
    return out;
  }

  /** A re-probe of `id` was sent at `now`: the next is due one interval (plus jitter) later. */
  noteReprobe(id: string, now: number): void {
    const rec = this.records.get(id);
    if (rec && rec.status === 'dead') rec.nextReprobeAt = this.reprobeAfter(now);
  }

  private reprobeAfter(now: number): number {
    return now + REPROBE_INTERVAL_MS + Math.floor(this.random() * REPROBE_INTERVAL_MS * REPROBE_JITTER_FRACTION);
  }

  /** Forgets dead and left members whose status is older than 24 h; returns their ids. */
  expire(now: number): string[] {
    const dropped: string[] = [];
    for (const [id, rec] of this.records) {
      if (rec === this.me || !isGone(rec.status)) continue;
      if (now - rec.statusSince > DEAD_RETENTION_MS) {
        this.records.delete(id);
        dropped.push(id);
      }
    }
    return dropped;
  }

  /** Every member we know, ourselves included, dead and left ones too. */
  members(): MemberState[] {
    return [...this.records.values()].map((rec) => this.snapshot(rec));
  }

  get(id: string): MemberState | undefined {
    const rec = this.records.get(id);
    return rec ? this.snapshot(rec) : undefined;
  }

  /**
   * Members not (yet) declared dead or gone, ourselves included: alive and
   * suspect, like memberlist's `NumMembers`. This is the N of the suspicion
   * and retransmit formulas.
   */
  aliveCount(): number {
    let n = 0;
    for (const rec of this.records.values()) if (rec.status === 'alive' || rec.status === 'suspect') n += 1;
    return n;
  }

  /** Rows for /debug/members, sorted by id. */
  views(now: number = this.clock.now()): MemberView[] {
    return [...this.records.values()]
      .map((rec): MemberView => ({
        id: rec.info.id,
        cluster: rec.info.cluster,
        trustDomain: rec.info.trustDomain,
        federationAddr: rec.info.federationAddr,
        status: rec.status,
        incarnation: rec.incarnation,
        lastHeardMs: rec.lastHeard === undefined ? null : Math.max(0, now - rec.lastHeard),
        rttMs: rec.rttMs === undefined ? null : Math.round(rec.rttMs * 10) / 10,
        reachable: rec.reachable,
        suspectedBy: [...rec.suspectedBy],
        why: rec.reachable || !rec.unreachableWhy ? rec.why : `${rec.why}; unreachable from here: ${rec.unreachableWhy}`,
        statusSinceMs: Math.max(0, now - rec.statusSince),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private snapshot(rec: MemberRecord): MemberState {
    return Object.freeze({ ...rec.info, incarnation: rec.incarnation, status: rec.status, statusSince: rec.statusSince });
  }
}

/**
 * The rumours that merging a peer's full state (push-pull) amounts to,
 * following memberlist `mergeState`: alive stays alive, left stays left,
 * and dead is only *suspected* here, by us, so that a member one peer
 * wrongly buried still gets its suspicion timeout and a chance to refute.
 */
export function updatesFromRemoteState(remote: readonly MemberState[], localId: string): MembershipUpdate[] {
  return remote.map((m): MembershipUpdate => {
    switch (m.status) {
      case 'alive':
        return { kind: 'alive', member: memberInfoOf(m), incarnation: m.incarnation };
      case 'left':
        return { kind: 'left', id: m.id, incarnation: m.incarnation };
      case 'dead':
      case 'suspect':
        return { kind: 'suspect', id: m.id, incarnation: m.incarnation, from: localId };
    }
  });
}
