import type { HostPort } from '../config/index.js';

/** Plain rotation over a service's endpoints; the failover part replaces this choice. */
export class EndpointRotation {
  private next = 0;

  constructor(private readonly endpoints: readonly HostPort[]) {}

  /** Every endpoint, starting with the next one in turn; the turn moves on by one. */
  order(): HostPort[] {
    const n = this.endpoints.length;
    const start = this.next;
    this.next = n === 0 ? 0 : (this.next + 1) % n;
    return this.endpoints.map((_, i) => this.endpoints[(start + i) % n] as HostPort);
  }
}
