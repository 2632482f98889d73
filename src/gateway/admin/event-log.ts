import type { BalancerEvent } from '../../failover/index.js';

/** The last failover, failback, ejection and budget events, newest last, for /debug/events. */
export class EventLog {
  private readonly events: BalancerEvent[] = [];

  constructor(private readonly capacity = 1_000) {}

  add(event: BalancerEvent): void {
    this.events.push(event);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
  }

  list(service?: string | null): { time: string; kind: string; service: string; target?: string; reason: string }[] {
    return this.events
      .filter((e) => !service || e.service === service)
      .map(({ at, ...rest }) => ({ time: new Date(at).toISOString(), ...rest }));
  }
}
