/**
 * What a chaos test did to which component and when: every outage from the
 * moment it began (signal sent) to the moment the component was ready again,
 * and the questions a test asks of that record — was this component settled
 * (up, and up long enough for everyone to have noticed) throughout a span of
 * time, and which crashes happened while a request was in flight.
 */

/** How an outage began: SIGKILL / dropped sockets ('crash'), or SIGTERM with a drain ('drain'). */
export type OutageHow = 'crash' | 'drain';

export interface Outage {
  readonly component: string;
  readonly how: OutageHow;
  /** When the signal was sent (or the sockets dropped). */
  readonly downAt: number;
  /** When the process had exited (undefined while it is still shutting down). */
  exitedAt: number | undefined;
  /** When the restart began, after the planned downtime. */
  restartAt: number | undefined;
  /** When it was ready again (undefined while down). */
  upAt: number | undefined;
}

export interface TimelineEvent {
  readonly at: number;
  readonly what: string;
}

export class ChaosTimeline {
  private readonly outages: Outage[] = [];
  private readonly notes: TimelineEvent[] = [];

  /**
   * @param settleMs how long after coming back a component still counts as
   *   unsettled: the time its peers may take to notice (health checks,
   *   gossip) before relying on it is fair.
   */
  constructor(readonly settleMs: number) {}

  begin(component: string, how: OutageHow, at = Date.now()): Outage {
    const outage: Outage = { component, how, downAt: at, exitedAt: undefined, restartAt: undefined, upAt: undefined };
    this.outages.push(outage);
    return outage;
  }

  /** A free-form event for the report (a skipped fault, a restart that needed a second try). */
  note(what: string, at = Date.now()): void {
    this.notes.push({ at, what });
  }

  all(): readonly Outage[] {
    return this.outages;
  }

  isDown(component: string, now = Date.now()): boolean {
    return this.outages.some((o) => o.component === component && o.downAt <= now && (o.upAt === undefined || o.upAt > now));
  }

  /** Up, and up for at least settleMs, at `now`. */
  isSettled(component: string, now = Date.now()): boolean {
    return this.settledThroughout([component], now, now);
  }

  /** Whether none of `components` was down, or back for less than settleMs, at any moment of [from, to]. */
  settledThroughout(components: readonly string[], from: number, to: number): boolean {
    return !this.outages.some(
      (o) => components.includes(o.component) && o.downAt <= to && (o.upAt === undefined ? Infinity : o.upAt + this.settleMs) >= from,
    );
  }

  /** Crashes (not drains) of any of `components` that began within [from, to]. */
  crashesWithin(components: readonly string[], from: number, to: number): Outage[] {
    return this.outages.filter((o) => o.how === 'crash' && components.includes(o.component) && o.downAt >= from && o.downAt <= to);
  }

  /** Outages of any of `components` that overlap [from, to] (down or still settling). */
  outagesOverlapping(components: readonly string[], from: number, to: number): Outage[] {
    return this.outages.filter(
      (o) => components.includes(o.component) && o.downAt <= to && (o.upAt === undefined ? Infinity : o.upAt + this.settleMs) >= from,
    );
  }

  /** Every begin, exit, up and note, in time order. */
  events(): TimelineEvent[] {
    const out: TimelineEvent[] = [...this.notes];
    for (const o of this.outages) {
      out.push({ at: o.downAt, what: `${o.how} ${o.component}` });
      if (o.exitedAt !== undefined) out.push({ at: o.exitedAt, what: `${o.component} exited` });
      if (o.upAt !== undefined) {
        const took = o.restartAt === undefined ? '' : ` (restart took ${((o.upAt - o.restartAt) / 1000).toFixed(1)} s)`;
        out.push({ at: o.upAt, what: `${o.component} up again${took}` });
      }
    }
    return out.sort((x, y) => x.at - y.at);
  }

  /** Events within `ms` either side of `at`. */
  around(at: number, ms: number): TimelineEvent[] {
    return this.events().filter((e) => Math.abs(e.at - at) <= ms);
  }
}
