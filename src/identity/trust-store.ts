import type { BundleLookup, TrustBundle } from './types.js';

/** Where a bundle came from; later sources (gossip over NATS) add their own name. */
export type BundleSource = 'own' | 'file' | 'endpoint' | (string & {});

export interface StoredBundle {
  readonly bundle: TrustBundle;
  readonly source: BundleSource;
  /** Clock reading when this bundle was accepted. */
  readonly updatedAt: number;
}

export interface BundleStatus {
  readonly trustDomain: string;
  readonly source: BundleSource | undefined;
  readonly sequence: string | undefined;
  readonly x509Authorities: number;
  readonly jwtAuthorities: number;
  /** Milliseconds since the bundle was accepted; undefined while we have none. */
  readonly ageMs: number | undefined;
  /** The last failed attempt to refresh it, kept until a refresh succeeds. */
  readonly lastError: string | undefined;
}

/**
 * The bundles this process trusts, one per trust domain and never merged
 * across domains: a peer's chain is checked only against the bundle of its own
 * domain. Sources push bundles in; a failed refresh keeps the last good one.
 */
export class TrustStore {
  private readonly bundles = new Map<string, StoredBundle>();
  private readonly errors = new Map<string, string>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Accepts a bundle unless it is older than the one held: a bundle carrying
   * a lower spiffe_sequence than the current one is a replay or a stale copy.
   */
  set(bundle: TrustBundle, source: BundleSource): boolean {
    const current = this.bundles.get(bundle.trustDomain);
    // Our own domain's bundle comes only from ourselves.
    if (current?.source === 'own' && source !== 'own') return false;
    if (current?.bundle.sequence !== undefined) {
      if (bundle.sequence === undefined || bundle.sequence < current.bundle.sequence) return false;
      if (bundle.sequence === current.bundle.sequence) {
        // The same bundle again: fresh as of now, but nothing changed.
        this.bundles.set(bundle.trustDomain, { ...current, updatedAt: this.now() });
        this.errors.delete(bundle.trustDomain);
        return false;
      }
    }
    this.bundles.set(bundle.trustDomain, { bundle, source, updatedAt: this.now() });
    this.errors.delete(bundle.trustDomain);
    this.emit();
    return true;
  }

  /** Records a failed refresh; the last good bundle stays in force. */
  reportError(trustDomain: string, message: string): void {
    this.errors.set(trustDomain, message);
  }

  get(trustDomain: string): TrustBundle | undefined {
    return this.bundles.get(trustDomain)?.bundle;
  }

  /** For verifiers: the bundle of exactly this trust domain, or nothing. */
  readonly bundleFor: BundleLookup = (trustDomain) => this.get(trustDomain);

  trustDomains(): string[] {
    return [...this.bundles.keys()];
  }

  status(trustDomain: string): BundleStatus {
    const stored = this.bundles.get(trustDomain);
    return {
      trustDomain,
      source: stored?.source,
      sequence: stored?.bundle.sequence?.toString(),
      x509Authorities: stored?.bundle.x509Authorities.length ?? 0,
      jwtAuthorities: stored?.bundle.jwtAuthorities.length ?? 0,
      ageMs: stored ? this.now() - stored.updatedAt : undefined,
      lastError: this.errors.get(trustDomain),
    };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}
