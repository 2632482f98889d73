import { fetchBundle } from './bundle-endpoint.js';
import type { TrustStore } from './trust-store.js';
import type { TrustBundle } from './types.js';

export const DEFAULT_REFRESH_HINT_MS = 5 * 60_000;
/** A hint below this is raised to it, so a hostile or broken endpoint cannot make us poll in a tight loop. */
export const MIN_REFRESH_MS = 1_000;
export const MAX_REFRESH_MS = 24 * 3_600_000;

export interface FederatedEndpoint {
  readonly trustDomain: string;
  readonly url: string;
  readonly endpointSpiffeId: string;
}

export interface RefresherEvents {
  refreshed(trustDomain: string, bundle: TrustBundle): void;
  failed(trustDomain: string, error: Error): void;
}

/**
 * Keeps the bundles of federated trust domains fresh from their bundle
 * endpoints: fetched at start, then at each bundle's refresh hint (5 min by
 * default). A failed fetch keeps the last good bundle and records the error;
 * retries back off from 1 s up to the refresh interval.
 */
export class BundleRefresher {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly endpoints: readonly FederatedEndpoint[],
    private readonly store: TrustStore,
    private readonly events: RefresherEvents,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Fetches every endpoint once (failures are reported, not thrown), then keeps refreshing. */
  async start(): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => this.refresh(endpoint)));
  }

  /** Fetches one trust domain's bundle now, e.g. when a peer's key is unknown. */
  async refresh(endpoint: FederatedEndpoint): Promise<void> {
    clearTimeout(this.timers.get(endpoint.trustDomain));
    let hintMs = this.hintOf(endpoint.trustDomain);
    try {
      const bundle = await fetchBundle({ ...endpoint, bundleFor: this.store.bundleFor, timeoutMs: this.timeoutMs });
      const changed = this.store.set(bundle, 'endpoint');
      hintMs = this.hintOf(endpoint.trustDomain);
      this.failures.delete(endpoint.trustDomain);
      if (changed) this.events.refreshed(endpoint.trustDomain, bundle);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.store.reportError(endpoint.trustDomain, error.message);
      this.events.failed(endpoint.trustDomain, error);
      // Retry sooner than the hint, backing off: a peer that starts after us
      // should not leave us on the bootstrap bundle for a whole interval.
      const failures = (this.failures.get(endpoint.trustDomain) ?? 0) + 1;
      this.failures.set(endpoint.trustDomain, failures);
      hintMs = Math.min(hintMs, MIN_REFRESH_MS * 2 ** Math.min(failures - 1, 16));
    }
    if (this.stopped) return;
    const timer = setTimeout(() => void this.refresh(endpoint), hintMs);
    timer.unref();
    this.timers.set(endpoint.trustDomain, timer);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  private hintOf(trustDomain: string): number {
    const hint = this.store.get(trustDomain)?.refreshHintSeconds;
    // The hint is the remote's to choose, within sane bounds (and Node's 32-bit timers).
    return hint === undefined ? DEFAULT_REFRESH_HINT_MS : Math.min(MAX_REFRESH_MS, Math.max(MIN_REFRESH_MS, hint * 1_000));
  }
}
