import type { HostPort } from '../config/index.js';

/** Plain rotation over a service's endpoints; the failover part replaces this choice. */
export class EndpointRotation {
  private next = 0;

  constructor(private readonly endpoints: readonly HostPort[]) {}

  pick(): HostPort | undefined {
    if (this.endpoints.length === 0) return undefined;
    const endpoint = this.endpoints[this.next % this.endpoints.length];
    this.next = (this.next + 1) % this.endpoints.length;
    return endpoint;
  }
}
