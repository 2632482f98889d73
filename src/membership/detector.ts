/**
 * SWIM + Lifeguard failure detection as decisions only: the orchestrator
 * asks whom to probe and how long to wait, does the I/O, and reports what
 * happened; this returns the rumours to gossip. It follows memberlist's
 * `probe`/`probeNode` (state.go) step by step:
 *
 *  1. every (awareness-scaled) probe interval, ping the next member of the
 *     randomized round-robin;
 *  2. no ack within the probe timeout → ping-req through k helpers (third
 *     clusters first, see pickIndirectHelpers);
 *  3. still no ack by the end of the interval → suspect it, and let the
 *     Lifeguard suspicion timer (dogpile) decide when it is dead;
 *  4. local health: good probes heal, missed nacks and refutations hurt.
 */
import { AWARENESS_DELTA, Awareness, failedProbeDelta } from './awareness.js';
import type { ApplyResult, MemberTable } from './member-table.js';
import { ProbeOrder, pickIndirectHelpers } from './probe-order.js';
import { DEFAULT_PROBE_INTERVAL_MS } from './suspicion.js';
import type { Clock, MemberState, MembershipUpdate, Random } from './types.js';

/** memberlist LAN ProbeTimeout: set it to about the p99 round trip. */
export const DEFAULT_PROBE_TIMEOUT_MS = 500;
/** memberlist LAN IndirectChecks. */
export const DEFAULT_INDIRECT_CHECKS = 3;
/**
 * NATS may answer "no responders" for a member that subscribed a moment ago,
 * while its interest is still propagating across gateways; the server itself
 * covers that race for 2 s (defaultGatewayRecentSubExpiration). Within that
 * long of a sign of life from the member, no-responders is not evidence.
 */
export const NO_RESPONDERS_GRACE_MS = 2000;

export interface DetectorConfig {
  readonly probeIntervalMs?: number;
  readonly probeTimeoutMs?: number;
  readonly indirectChecks?: number;
}

/**
 * What NATS said about a target that did not answer, gathered when our own
 * ping got "no responders". Each no-responders is one server's view of the
 * subscriptions it knows; a cut gateway link or a restarting server produces
 * it for live members too, so it counts only when (a) servers of at least two
 * NATS clusters gave it, one of them through a helper, and (b) the server the
 * target was last attached to answers us (every server we know of, when we
 * never learnt which), so that server is up and linked and simply holds no
 * subscription for the target: its process is gone (or cut off from NATS,
 * which for gossip is the same).
 */
export interface NatsAbsence {
  /** Distinct NATS clusters whose servers answered "no responders" (ours included); none when our ping timed out instead. */
  readonly natsClusters: readonly string[];
  /**
   * The target's last known NATS server when it answered our survey just now
   * (or, when we never learnt where the target was, a phrase saying that
   * every server we know of answered).
   */
  readonly serverAnswered?: string;
  /** The target's last known NATS server when it did NOT answer the survey (or, when we never learnt it, the known servers that did not). */
  readonly serverSilent?: string;
}

/** What the last ping of a suspect before its verdict found (see FailureDetector.onLastWord). */
export type LastWord = 'answered' | 'no-responders' | 'timed-out' | 'failed';

const LAST_WORDS: Record<LastWord, string> = {
  answered: 'it answered',
  'no-responders': 'NATS: no responders on its subject',
  'timed-out': 'no answer, but NATS still delivers to its subject (its connection stands)',
  failed: 'could not be sent',
};

/** Enough NATS evidence to shorten a suspicion (never to conclude one): see NatsAbsence. */
export function absenceConfirmed(absence: NatsAbsence | undefined): absence is NatsAbsence & { serverAnswered: string } {
  return absence !== undefined && new Set(absence.natsClusters).size >= 2 && absence.serverAnswered !== undefined;
}

export interface DetectorOptions {
  readonly table: MemberTable;
  readonly awareness: Awareness;
  readonly clock: Clock;
  readonly random: Random;
  /** Defaults to a fresh randomized round-robin over the table. */
  readonly order?: ProbeOrder;
  readonly config?: DetectorConfig;
}

/** What to do this probe period. */
export interface ProbePlan {
  readonly target: MemberState;
  /**
   * How long to wait for the direct ack before asking helpers: the probe
   * timeout, NOT scaled by awareness. memberlist keeps it fixed ("we don't
   * really expect waiting longer to help get UDP through") and lets the
   * stretched interval give the indirect phase more time instead.
   */
  readonly timeoutMs: number;
  /**
   * The probe interval × (awareness score + 1): the whole probe, indirect
   * acks included, ends after this long, and the next probe starts then.
   */
  readonly interval: number;
  /** Lifeguard buddy system: send with the ping so a suspect can refute at once. */
  readonly piggyback?: MembershipUpdate;
}

/** What the orchestrator observed for one probe. */
export interface ProbeResult {
  /** The target answered the direct ping. */
  readonly acked: boolean;
  /** Acks relayed by helpers (ping-req). */
  readonly indirectAcks: number;
  /** Helpers that answered "I could not reach it either". */
  readonly nacks: number;
  /** Helpers asked to nack (the ping-reqs sent). */
  readonly expectedNacks: number;
  /** Round trip of the direct ack. */
  readonly rttMs?: number;
  /** What NATS said, when the direct ping got "no responders". */
  readonly absence?: NatsAbsence;
  /**
   * Why the failure may be ours rather than the target's: our event loop
   * stood still while the probe waited (a missing ack may have been sitting
   * in our socket), or our NATS connection came back only just now (our
   * server's links to other clusters may not be back yet).
   */
  readonly ownFault?: string;
}

export interface ProbeOutcome {
  /** Rumours to gossip; already applied to the table. */
  readonly updates: readonly MembershipUpdate[];
  /** The awareness delta this result called for (the score is clamped, so it may have moved less). */
  readonly awarenessDelta: number;
  /**
   * A dead member answered a re-probe: sync state with it (push-pull) so it
   * learns it was declared dead and refutes, which is what revives it.
   */
  readonly syncWith?: string;
}

export class FailureDetector {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly indirectChecks: number;
  private readonly table: MemberTable;
  private readonly awareness: Awareness;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly order: ProbeOrder;

  constructor(options: DetectorOptions) {
    this.table = options.table;
    this.awareness = options.awareness;
    this.clock = options.clock;
    this.random = options.random;
    this.order = options.order ?? new ProbeOrder(options.table.selfId, options.random);
    this.probeIntervalMs = options.config?.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.probeTimeoutMs = options.config?.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.indirectChecks = options.config?.indirectChecks ?? DEFAULT_INDIRECT_CHECKS;
  }

  /** The current probe interval, stretched by local health (memberlist `ScaleTimeout`). */
  intervalMs(): number {
    return this.awareness.scaleTimeout(this.probeIntervalMs);
  }

  /** The next probe, or undefined when there is no one to probe (wait `intervalMs()`). */
  nextProbe(_now: number = this.clock.now()): ProbePlan | undefined {
    const target = this.order.next(this.table.members());
    if (!target) return undefined;
    const piggyback = this.piggybackFor(target.id);
    return {
      target,
      timeoutMs: this.probeTimeoutMs,
      interval: this.intervalMs(),
      ...(piggyback ? { piggyback } : {}),
    };
  }

  /** Helpers for the ping-req phase of a probe of `targetId` (IndirectChecks of them). */
  helpersFor(targetId: string): MemberState[] {
    const target = this.table.get(targetId);
    const self = this.table.get(this.table.selfId);
    if (!target || !self) return [];
    return pickIndirectHelpers(target, this.indirectChecks, this.table.members(), this.random, self);
  }

  /**
   * Lifeguard's buddy system: a ping to a member we suspect carries our
   * suspicion, so it learns of it now and refutes at once rather than when
   * gossip happens to reach it (memberlist `probeNode` sends a compound
   * ping + suspect when the node is not alive). A re-probe of a dead member
   * likewise carries its death notice, which it refutes just the same.
   */
  piggybackFor(targetId: string): MembershipUpdate | undefined {
    const target = this.table.get(targetId);
    if (!target) return undefined;
    if (target.status === 'suspect') {
      return { kind: 'suspect', id: target.id, incarnation: target.incarnation, from: this.table.selfId };
    }
    if (target.status === 'dead') {
      return { kind: 'dead', id: target.id, incarnation: target.incarnation, from: this.table.selfId };
    }
    return undefined;
  }

  /**
   * Applies a rumour from the network, charging awareness for each
   * refutation it forces (memberlist `refute`: "Decrease our health because
   * we are being asked to refute a problem").
   */
  applyUpdate(update: MembershipUpdate, reason?: string): ApplyResult {
    const result = this.table.apply(update, reason);
    if (result.refute) this.awareness.apply(AWARENESS_DELTA.refutation);
    return result;
  }

  /** Records the outcome of one probe (or re-probe) of `targetId`. */
  onProbeResult(targetId: string, result: ProbeResult, now: number = this.clock.now()): ProbeOutcome {
    const target = this.table.get(targetId);
    if (!target || targetId === this.table.selfId || target.status === 'left') return { updates: [], awarenessDelta: 0 };

    if (target.status === 'dead') return this.onReprobeResult(target, result, now);

    if (result.acked) {
      // A suspect that acks stays suspect: only its own refutation (a higher
      // incarnation, prompted by the piggybacked suspicion) clears it, so
      // every member converges on the same rumour rather than on our view.
      this.table.heard(targetId, now);
      this.table.setReachable(targetId, true);
      if (result.rttMs !== undefined) this.table.recordRtt(targetId, result.rttMs);
      return { updates: [], awarenessDelta: this.applyAwareness(AWARENESS_DELTA.successfulProbe) };
    }

    if (result.indirectAcks > 0) {
      // Alive, but our own path to it is broken: exactly the broken-gateway
      // case the third-cluster helpers are for. memberlist counts any ack
      // as a good probe for our health.
      this.table.setReachable(
        targetId,
        false,
        `no direct ack; reached through ${result.indirectAcks} of ${result.expectedNacks} helper(s)`,
      );
      return { updates: [], awarenessDelta: this.applyAwareness(AWARENESS_DELTA.successfulProbe) };
    }

    if (result.ownFault !== undefined) {
      // Lifeguard: a member that sees itself slow, or cut off, must not accuse others for it.
      this.table.setReachable(targetId, false, `no ack, but ${result.ownFault}: not held against it`);
      return { updates: [], awarenessDelta: this.applyAwareness(AWARENESS_DELTA.eventLoopLag) };
    }

    const why = failureReason(result);
    this.table.setReachable(targetId, false, why);
    const awarenessDelta = this.applyAwareness(failedProbeDelta(result.expectedNacks, result.nacks));
    const suspect: MembershipUpdate = {
      kind: 'suspect',
      id: targetId,
      incarnation: target.incarnation,
      from: this.table.selfId,
    };
    const applied = this.table.apply(suspect, why);
    // Only a member that just joined or refuted may still have its interest crossing gateways:
    // any other one was subscribed long before, and its server, which answers, no longer has it.
    const justAlive = target.status === 'alive' && now - target.statusSince < NO_RESPONDERS_GRACE_MS;
    const silent = result.absence?.serverSilent;
    if (silent !== undefined) {
      const held = `${why}; its NATS server ${silent} does not answer us either: held for the longest suspicion`;
      this.table.reviseSuspicion(targetId, held, (s) => s.hold(now + s.maxMs));
    } else if (absenceConfirmed(result.absence) && !justAlive) {
      const { natsClusters, serverAnswered } = result.absence;
      const hastened = `${why}; NATS: no responders in ${natsClusters.length} NATS clusters (${natsClusters.join(', ')}) while its server ${serverAnswered} answers`;
      // One probe interval to refute: NATS's word is strong, never a verdict by itself.
      this.table.reviseSuspicion(targetId, hastened, (s) => s.hasten(now + this.probeIntervalMs));
    }
    return { updates: applied.rebroadcast ? [suspect] : [], awarenessDelta };
  }

  /** Our own event loop stood still `ms`: running suspicions wait that much longer (see Suspicion.delay). */
  onOwnStall(ms: number): void {
    this.table.delaySuspicions(ms);
  }

  /**
   * A dead member's re-probe. Neither outcome touches awareness: silence is
   * expected from the dead, and an answer says nothing about our speed.
   * An answer does not revive it either: dead stays dead until the member
   * itself refutes with a higher incarnation.
   */
  private onReprobeResult(target: MemberState, result: ProbeResult, now: number): ProbeOutcome {
    this.table.noteReprobe(target.id, now);
    if (result.acked || result.indirectAcks > 0) {
      if (result.acked) {
        this.table.heard(target.id, now);
        if (result.rttMs !== undefined) this.table.recordRtt(target.id, result.rttMs);
      }
      this.table.setReachable(target.id, result.acked, result.acked ? '' : 'answered a re-probe only through helpers');
      return { updates: [], awarenessDelta: 0, syncWith: target.id };
    }
    this.table.setReachable(target.id, false, 'no answer to re-probe');
    return { updates: [], awarenessDelta: 0 };
  }

  /** Dead members due for a re-probe now; probe each with `piggybackFor` and report through `onProbeResult`. */
  reprobesDue(now: number = this.clock.now()): MemberState[] {
    return this.table.reprobeCandidates(now);
  }

  /**
   * Suspects whose suspicion ran out and who get one last direct ping before
   * the verdict (see Suspicion.lastWordDue); each is marked asked, so the
   * caller pings it once and reports through `onLastWord`.
   */
  lastWordsDue(now: number = this.clock.now()): MemberState[] {
    const due = this.table.suspicionsDue(now, 'last-word');
    for (const suspect of due) this.table.reviseSuspicion(suspect.id, undefined, (s) => s.askLastWord());
    return due;
  }

  /**
   * What the last ping of a suspect found. "No responders" (NATS holds no
   * subscription for it) lets the verdict come now; anything else holds the
   * suspicion to its longest (see Suspicion.hearLastWord). Returns the dead
   * rumours now due.
   */
  onLastWord(targetId: string, word: LastWord, now: number = this.clock.now()): MembershipUpdate[] {
    // A refutation and a new suspicion may have come meanwhile: this word was not asked of that one.
    if (!this.table.suspicionOf(targetId)?.awaitingLastWord) return [];
    const stillThere = word !== 'no-responders';
    const why = `${this.table.reasonOf(targetId) ?? 'suspected'}; its last ping: ${LAST_WORDS[word]}`;
    this.table.reviseSuspicion(targetId, stillThere ? `${why}: held for the longest suspicion` : why, (s) => s.hearLastWord(stillThere));
    return this.onSuspicionExpired(now);
  }

  /**
   * Declares dead every suspect whose suspicion ran out with nothing left to
   * ask (memberlist's suspicion timeout callback → `deadNode` with ourselves
   * as the sender) and returns the dead rumours to gossip.
   */
  onSuspicionExpired(now: number = this.clock.now()): MembershipUpdate[] {
    const updates: MembershipUpdate[] = [];
    for (const suspect of this.table.suspicionsDue(now, 'verdict')) {
      const s = this.table.suspicionOf(suspect.id);
      const elapsed = now - suspect.statusSince;
      const timedOut = s
        ? `suspicion timed out after ${elapsed} ms with ${s.confirmations} of ${s.k} independent confirmation(s)`
        : 'suspicion timed out';
      // The suspicion's own reason says what shortened or held it (NATS's word, a silent server).
      const suspected = this.table.reasonOf(suspect.id);
      const why = suspected ? `${timedOut}; suspected for: ${suspected}` : timedOut;
      const dead: MembershipUpdate = { kind: 'dead', id: suspect.id, incarnation: suspect.incarnation, from: this.table.selfId };
      if (this.table.apply(dead, why).rebroadcast) updates.push(dead);
    }
    return updates;
  }

  /**
   * NATS said nobody subscribes to the member's subject ("no responders"):
   * early evidence that may START a suspicion at once, never conclude one.
   * It does not confirm an existing suspicion (it is our own word, and
   * confirmations must be independent), never declares death, and leaves
   * our health alone. Ignored within NO_RESPONDERS_GRACE_MS of a sign of
   * life, when it is more likely interest still propagating.
   */
  onNoResponders(targetId: string, now: number = this.clock.now()): MembershipUpdate[] {
    const target = this.table.get(targetId);
    if (!target || targetId === this.table.selfId || target.status !== 'alive') return [];
    const lastHeard = this.table.lastHeardAt(targetId);
    const recentlyHeard = lastHeard !== undefined && now - lastHeard < NO_RESPONDERS_GRACE_MS;
    const recentlyAlive = now - target.statusSince < NO_RESPONDERS_GRACE_MS;
    if (recentlyHeard || recentlyAlive) return [];

    const why = 'NATS: no responders on its member subject';
    this.table.setReachable(targetId, false, why);
    const suspect: MembershipUpdate = { kind: 'suspect', id: targetId, incarnation: target.incarnation, from: this.table.selfId };
    return this.table.apply(suspect, why).rebroadcast ? [suspect] : [];
  }

  /** Feeds an event-loop lag sample to local health (see Awareness.eventLoopLag). */
  onEventLoopLag(lagMs: number): number {
    return this.awareness.eventLoopLag(lagMs);
  }

  private applyAwareness(delta: number): number {
    this.awareness.apply(delta);
    return delta;
  }
}

function failureReason(result: ProbeResult): string {
  if (result.expectedNacks === 0) return 'no ack to ping, no helpers to ask';
  const base = `no ack to ping or ${result.expectedNacks} indirect ping${result.expectedNacks === 1 ? '' : 's'}`;
  if (result.nacks === 0) return base;
  return `${base} (${result.nacks} helper${result.nacks === 1 ? '' : 's'} could not reach it either)`;
}
