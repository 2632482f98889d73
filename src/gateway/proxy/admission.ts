import { GatewayError } from '../errors.js';

/**
 * Requests accepted and not yet answered, for the whole gateway (a drain
 * waits for it to reach zero) and per service (past a limit the service
 * sheds load with 503 `overloaded` instead of queueing without bound).
 */
export class Admission {
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly maxPerService: number) {}

  get inFlight(): number {
    return this.active;
  }

  /** A request arrived; every enter() needs one leave(). */
  enter(): void {
    this.active++;
  }

  leave(): void {
    this.active--;
    if (this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Takes a slot of the service's in-flight limit, or refuses the request; release with `release`. */
  admit(service: { readonly name: string; inFlight: number }): void {
    if (service.inFlight >= this.maxPerService) {
      throw new GatewayError('overloaded', `${service.name} has ${service.inFlight} requests in flight here`, { service: service.name });
    }
    service.inFlight++;
  }

  release(service: { inFlight: number }): void {
    service.inFlight--;
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
