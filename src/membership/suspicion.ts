/**
 * Lifeguard's "dogpile" suspicion timer, as pure math plus a small state
 * object. A suspicion starts at its maximum timeout and falls
 * logarithmically towards the minimum as other members independently
 * confirm it, so a member suspected by many is declared dead quickly while
 * a lone (possibly slow or partitioned) accuser has to wait longest.
 *
 * The formulas are copied from hashicorp/memberlist: `suspicionTimeout` in
 * util.go, `remainingSuspicionTime` and `newSuspicion`/`Confirm` in
 * suspicion.go, and the choice of k in `suspectNode` (state.go). No timers
 * here: the caller compares `deadline()` with its clock.
 */

/** memberlist LAN ProbeInterval: the unit every suspicion timeout is measured in. */
export const DEFAULT_PROBE_INTERVAL_MS = 1000;
/** memberlist LAN SuspicionMult. */
export const DEFAULT_SUSPICION_MULT = 4;
/** memberlist SuspicionMaxTimeoutMult: the timeout starts at this multiple of the minimum. */
export const DEFAULT_SUSPICION_MAX_TIMEOUT_MULT = 6;

export interface SuspicionTimeoutsInput {
  /** Members in the federation, ourselves included (memberlist's estNumNodes). */
  readonly members: number;
  readonly probeIntervalMs: number;
  readonly suspicionMult?: number;
  readonly maxTimeoutMult?: number;
}

export interface SuspicionTimeouts {
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * min = suspicionMult · max(1, log10 N) · probeInterval, max = maxTimeoutMult · min.
 *
 * Copied from memberlist util.go `suspicionTimeout`: the node scale is
 * truncated to thousandths (`time.Duration(nodeScale*1000)`) before it is
 * multiplied, so N=50 gives 1.698, not 1.69897; memberlist's
 * TestSuspicionTimeout pins those values and so do our tests.
 */
export function suspicionTimeouts(input: SuspicionTimeoutsInput): SuspicionTimeouts {
  const mult = input.suspicionMult ?? DEFAULT_SUSPICION_MULT;
  const maxMult = input.maxTimeoutMult ?? DEFAULT_SUSPICION_MAX_TIMEOUT_MULT;
  const nodeScale = Math.max(1, Math.log10(Math.max(1, input.members)));
  const minMs = (mult * Math.trunc(nodeScale * 1000) * input.probeIntervalMs) / 1000;
  return { minMs, maxMs: maxMult * minMs };
}

/**
 * k, the independent confirmations that drive the timeout to its minimum:
 * suspicionMult − 2, so the nominal timeout is reached two probe intervals
 * early (we have no phase relation with our peers' probes); 0 when the
 * federation is too small to supply them (N − 2 < k: N counts ourselves and
 * the suspect, who cannot confirm). memberlist state.go `suspectNode`.
 */
export function confirmationsWanted(suspicionMult: number, members: number): number {
  const k = suspicionMult - 2;
  return members - 2 < k ? 0 : k;
}

export interface RemainingSuspicionInput {
  readonly elapsedMs: number;
  /** n: independent confirmations seen so far. */
  readonly confirmations: number;
  /** k: confirmations wanted (see confirmationsWanted). */
  readonly k: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * The whole timeout for n confirmations out of k, from the start of the
 * suspicion: max − log(n+1)/log(k+1)·(max−min), floored to whole
 * milliseconds and never below min. With k = 0 it is min from the start
 * (memberlist `newSuspicion`: "If there aren't any confirmations to be made
 * then take the min time from the start").
 */
export function suspicionTimeoutMs(input: Omit<RemainingSuspicionInput, 'elapsedMs'>): number {
  const { confirmations: n, k, minMs, maxMs } = input;
  if (k < 1) return minMs;
  // Computed in seconds and floored to milliseconds, as memberlist does, so
  // that rounding matches its tables to the millisecond.
  const frac = Math.log(n + 1) / Math.log(k + 1);
  const rawSeconds = maxMs / 1000 - frac * (maxMs / 1000 - minMs / 1000);
  const timeoutMs = Math.floor(1000 * rawSeconds);
  return timeoutMs < minMs ? minMs : timeoutMs;
}

/**
 * memberlist suspicion.go `remainingSuspicionTime`, except that it never goes
 * negative: memberlist fires at once on a negative value, which a caller
 * comparing with 0 gets the same way.
 */
export function remainingSuspicionMs(input: RemainingSuspicionInput): number {
  return Math.max(0, suspicionTimeoutMs(input) - input.elapsedMs);
}

/** Thrown when a suspicion's deadline is asked for before it was started. */
export class SuspicionNotStartedError extends Error {
  override readonly name = 'SuspicionNotStartedError';
  constructor() {
    super('suspicion has not been started');
  }
}

export interface SuspicionOptions {
  /** Who raised the suspicion; its own word, gossiped back to us, is no confirmation. */
  readonly suspecter: string;
  /** k, see confirmationsWanted. */
  readonly confirmationsWanted: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * One member's suspicion: when it started and who independently confirmed
 * it. The deadline is absolute (start + timeout for n confirmations), which
 * is what memberlist's timer reset to `remaining` amounts to.
 */
export class Suspicion {
  readonly suspecter: string;
  readonly k: number;
  readonly minMs: number;
  readonly maxMs: number;
  private startedAt: number | undefined;
  /** Everyone whose word we already have, the suspecter included (memberlist seeds its map with `from`). */
  private readonly seen = new Set<string>();
  private n = 0;
  /** Time added to the deadline while our own event loop was stalled (see delay). */
  private delayedMs = 0;
  /** An earlier deadline set by evidence stronger than confirmations (see hasten). */
  private hastenedTo: number | undefined;
  /** A deadline confirmations may not bring forward (see hold). */
  private heldTo: number | undefined;
  /** The suspect's last word (see lastWordDue): asked once, when the suspicion first runs out. */
  private lastWord: 'unasked' | 'asked' | 'heard' = 'unasked';

  constructor(options: SuspicionOptions) {
    this.suspecter = options.suspecter;
    this.k = options.confirmationsWanted;
    this.minMs = options.minMs;
    this.maxMs = options.maxMs;
    this.seen.add(options.suspecter);
  }

  start(now: number): void {
    this.startedAt = now;
  }

  get started(): boolean {
    return this.startedAt !== undefined;
  }

  /** Independent confirmations counted so far (the suspecter is not one). */
  get confirmations(): number {
    return this.n;
  }

  /**
   * Counts `fromId` once, and only until k confirmations are in (memberlist
   * `Confirm` stops accepting there: more cannot lower the timeout). Returns
   * true when this was new information, worth re-gossiping. A confirmation
   * after the deadline has passed is not counted: the verdict is already due.
   */
  confirm(fromId: string, now: number): boolean {
    if (this.n >= this.k) return false;
    if (this.seen.has(fromId)) return false;
    if (this.startedAt !== undefined && now >= this.deadline()) return false;
    this.seen.add(fromId);
    this.n += 1;
    return true;
  }

  /** Absolute clock time at which the suspect is to be declared dead. */
  deadline(): number {
    if (this.startedAt === undefined) throw new SuspicionNotStartedError();
    const byConfirmations = this.startedAt + suspicionTimeoutMs({ confirmations: this.n, k: this.k, minMs: this.minMs, maxMs: this.maxMs });
    const hastened = this.hastenedTo === undefined ? byConfirmations : Math.min(byConfirmations, this.hastenedTo);
    const deadline = this.heldTo === undefined ? hastened : Math.max(hastened, this.heldTo);
    return deadline + this.delayedMs;
  }

  remainingMs(now: number): number {
    return Math.max(0, this.deadline() - now);
  }

  /**
   * Brings the deadline forward to `at` (never back): NATS itself says the
   * member holds no subscription while its server answers us, which is
   * stronger than any number of peers failing to reach it. The member still
   * has until `at` to refute.
   */
  hasten(at: number): void {
    if (this.hastenedTo === undefined || at < this.hastenedTo) this.hastenedTo = at;
  }

  /**
   * Keeps the deadline at `at` or later, whatever the confirmations: the
   * suspect's own NATS server does not answer (a restart, a cut link), so
   * every accuser is as cut off from it as we are and their confirmations
   * are not independent. The member still dies at `at` if it stays silent:
   * a whole cluster lost with its NATS must be found dead too.
   */
  hold(at: number): void {
    if (this.heldTo === undefined || at > this.heldTo) this.heldTo = at;
  }

  /**
   * Moves the deadline back by `ms`: our own event loop stood still that
   * long, during which we could neither hear a refutation nor take part, so
   * that time is no evidence against the suspect (Lifeguard: a member that
   * sees itself slow slows its verdicts).
   */
  delay(ms: number): void {
    if (ms > 0) this.delayedMs += ms;
  }

  /**
   * Ran out, and the suspect gets one last direct ping before the verdict:
   * unless NATS already shortened this suspicion (its word is in), or it has
   * run its longest (a last word could not hold it any longer).
   */
  lastWordDue(now: number): boolean {
    return this.lastWord === 'unasked' && this.hastenedTo === undefined && now >= this.deadline() && now - this.#started() < this.maxMs;
  }

  /** Ran out and nothing is left to ask: the suspect is to be declared dead. */
  verdictDue(now: number): boolean {
    return this.lastWord !== 'asked' && now >= this.deadline() && !this.lastWordDue(now);
  }

  askLastWord(): void {
    this.lastWord = 'asked';
  }

  get awaitingLastWord(): boolean {
    return this.lastWord === 'asked';
  }

  /**
   * The last word came back. `stillThere`: the suspect answered, or NATS
   * still delivered to its subject (a timeout, not "no responders"), so its
   * process still holds its NATS connection: a member standing still (a long
   * pause, an overloaded host) rather than a crashed one, whose refutation
   * may yet come. It gets the longest suspicion; a host lost without closing
   * its connection is then found dead at the longest timeout, unless NATS's
   * own pings drop the connection sooner.
   */
  hearLastWord(stillThere: boolean): void {
    this.lastWord = 'heard';
    if (stillThere) this.hold(this.#started() + this.maxMs);
  }

  #started(): number {
    if (this.startedAt === undefined) throw new SuspicionNotStartedError();
    return this.startedAt;
  }

  /** The suspecter first, then the confirmers in arrival order. */
  accusers(): string[] {
    return [...this.seen];
  }
}
