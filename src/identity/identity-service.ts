import { randomBytes, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { loadBundleFile, serializeSpiffeBundle } from './bundle.js';
import { BundleRefresher, type FederatedEndpoint } from './bundle-refresher.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { IdentityError } from './errors.js';
import { signJwtSvid, validateJwtSvid } from './jwt-svid.js';
import { nextRotationCheckAt, nextRotationStep, svidRenewAt } from './rotation.js';
import { SpiffeId } from './spiffe-id.js';
import { TrustStore, type BundleStatus } from './trust-store.js';
import type { JwtAuthority, TrustBundle, X509Svid } from './types.js';

export interface FederatedDomain {
  readonly trustDomain: string;
  /** A static or bootstrap bundle file (SPIFFE JSON or PEM). */
  readonly bundleFile?: string;
  readonly endpoint?: { readonly url: string; readonly endpointSpiffeId: string };
}

export interface IdentityServiceOptions {
  readonly trustDomain: string;
  /** The CA from the config's `identity.ca` folder: a root, or an intermediate under a shared root. */
  readonly upstream: CertificateAuthority;
  readonly federation: readonly FederatedDomain[];
  readonly svidTtlMs: number;
  /** Life of each in-process signing CA, rotated at 1/2 and 5/6 of it. */
  readonly caTtlMs: number;
  readonly jwtTtlSeconds?: number;
  readonly refreshHintSeconds?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** One signing authority: an intermediate under the upstream CA plus a JWT key, rotated together. */
interface SigningAuthority {
  readonly ca: CertificateAuthority;
  readonly jwt: { readonly kid: string; readonly privateKey: KeyObject; readonly publicKey: KeyObject };
  /** Latest NotAfter of anything it signed: it stays published until then. */
  lastExpiry: number;
}

interface CachedSvid {
  readonly svid: X509Svid;
  readonly renewAt: number;
}

export type IdentityEvent =
  | { kind: 'ca-prepared' | 'ca-activated' | 'ca-retired'; serial: string; notAfter: string }
  | { kind: 'svid-renewed'; spiffeId: string; notAfter: string }
  | { kind: 'bundle-refreshed'; trustDomain: string }
  | { kind: 'bundle-refresh-failed'; trustDomain: string; error: string }
  | { kind: 'rotation-failed'; error: string };

const JWT_TTL_SECONDS = 300;
const REFRESH_HINT_SECONDS = 300;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * This trust domain's identity provider, in process: it mints short-lived
 * signing CAs under the upstream CA (SPIRE's upstream-authority model, so
 * peers keep trusting one stable root while signing keys rotate), issues and
 * renews SVIDs, publishes our bundle and keeps federated bundles fresh.
 */
export class IdentityService {
  readonly trustStore: TrustStore;
  private readonly events = new EventEmitter();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly svids = new Map<string, CachedSvid>();
  private active!: SigningAuthority;
  private prepared: SigningAuthority | undefined;
  private retired: SigningAuthority[] = [];
  private sequence = 0n;
  private timer: NodeJS.Timeout | undefined;
  private refresher: BundleRefresher | undefined;
  private stopped = false;
  private rotationFailures = 0;

  constructor(private readonly options: IdentityServiceOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.trustStore = new TrustStore(this.now);
    if (options.upstream.trustDomain !== options.trustDomain) {
      throw new IdentityError('ca', `the CA is for ${options.upstream.trustDomain}, not ${options.trustDomain}`);
    }
  }

  async start(): Promise<void> {
    // Sequences start from the clock so a restarted replica's bundle still
    // outranks what it published before: peers refuse lower sequences.
    this.sequence = BigInt(Math.floor(this.now()));
    this.active = await this.mintAuthority();
    this.publishOwnBundle();
    for (const domain of this.options.federation) {
      if (domain.bundleFile) {
        this.trustStore.set(await loadBundleFile(domain.bundleFile, domain.trustDomain), 'file');
      } else if (!domain.endpoint) {
        // The shared-root model: that domain chains to our root; its
        // intermediate's trust-domain SAN keeps it from minting our IDs.
        this.trustStore.set(
          { trustDomain: domain.trustDomain, x509Authorities: [this.options.upstream.rootDer], jwtAuthorities: [] },
          'shared-root',
        );
      }
    }
    const endpoints: FederatedEndpoint[] = this.options.federation.flatMap((d) =>
      d.endpoint ? [{ trustDomain: d.trustDomain, ...d.endpoint }] : [],
    );
    if (endpoints.length > 0) {
      this.refresher = new BundleRefresher(endpoints, this.trustStore, {
        refreshed: (trustDomain) => this.emit({ kind: 'bundle-refreshed', trustDomain }),
        failed: (trustDomain, error) => this.emit({ kind: 'bundle-refresh-failed', trustDomain, error: error.message }),
      });
      await this.refresher.start();
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.refresher?.stop();
  }

  get trustDomain(): string {
    return this.options.trustDomain;
  }

  /** The current SVID for this ID, issued or renewed as needed. */
  async svid(spiffeId: string): Promise<X509Svid> {
    const id = SpiffeId.parse(spiffeId);
    if (id.trustDomain !== this.options.trustDomain) {
      throw new IdentityError('x509-svid', `${spiffeId} is not in our trust domain ${this.options.trustDomain}`);
    }
    const cached = this.svids.get(spiffeId);
    if (cached && this.now() < cached.renewAt) return cached.svid;
    return this.issue(spiffeId);
  }

  /**
   * Our own bundle: the upstream chain's root, and every published signing
   * authority (prepared, active, retired-but-still-needed) with its JWT key.
   * Peers that anchor on the root never notice a rotation; the signing CAs
   * are listed too so that the bundle says exactly which keys are live.
   */
  ownBundle(): TrustBundle {
    return {
      trustDomain: this.options.trustDomain,
      x509Authorities: [this.options.upstream.rootDer, ...this.published().map((a) => a.ca.certificate)],
      jwtAuthorities: this.published().map(
        (a): JwtAuthority => ({ kid: a.jwt.kid, publicKey: a.jwt.publicKey }),
      ),
      sequence: this.sequence,
      refreshHintSeconds: this.options.refreshHintSeconds ?? REFRESH_HINT_SECONDS,
    };
  }

  async jwtSvid(spiffeId: string, audience: string[]): Promise<string> {
    if (SpiffeId.parse(spiffeId).trustDomain !== this.options.trustDomain) {
      throw new IdentityError('jwt-svid', `${spiffeId} is not in our trust domain ${this.options.trustDomain}`);
    }
    const ttlSeconds = this.options.jwtTtlSeconds ?? JWT_TTL_SECONDS;
    this.active.lastExpiry = Math.max(this.active.lastExpiry, this.now() + ttlSeconds * 1_000);
    return signJwtSvid({ spiffeId, audience, ttlSeconds, key: this.active.jwt.privateKey, kid: this.active.jwt.kid, now: this.now });
  }

  async validateJwtSvid(token: string, audience: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }> {
    return validateJwtSvid(token, { audience, bundles: this.trustStore.bundleFor, now: this.now });
  }

  // The Workload API's view (WorkloadIdentitySource).

  async x509Svids(spiffeIds: readonly string[]): Promise<{ spiffeId: string; chain: Uint8Array[]; keyPkcs8: Uint8Array }[]> {
    const svids = await Promise.all(spiffeIds.map((id) => this.svid(id)));
    return svids.map((svid) => ({
      spiffeId: svid.spiffeId,
      chain: [...svid.chain],
      keyPkcs8: svid.privateKey.export({ type: 'pkcs8', format: 'der' }),
    }));
  }

  x509Bundles(): Map<string, Uint8Array[]> {
    return new Map(this.trustStore.trustDomains().map((td) => [td, [...(this.trustStore.get(td)?.x509Authorities ?? [])]]));
  }

  jwtBundles(): Map<string, string> {
    return new Map(
      this.trustStore.trustDomains().flatMap((td) => {
        const bundle = this.trustStore.get(td);
        return bundle ? [[td, serializeSpiffeBundle(bundle)] as const] : [];
      }),
    );
  }

  /** Signing-authority and bundle state for /debug/identity. */
  status() {
    const describe = (a: SigningAuthority, state: string) => ({
      state,
      serial: a.ca.serialHex,
      notBefore: new Date(a.ca.notBefore.getTime()).toISOString(),
      notAfter: new Date(a.ca.notAfter.getTime()).toISOString(),
      jwtKid: a.jwt.kid,
    });
    return {
      trustDomain: this.options.trustDomain,
      authorities: [
        describe(this.active, 'active'),
        ...(this.prepared ? [describe(this.prepared, 'prepared')] : []),
        ...this.retired.map((a) => describe(a, 'retired')),
      ],
      svids: [...this.svids.entries()].map(([spiffeId, c]) => ({
        spiffeId,
        notAfter: c.svid.notAfter.toISOString(),
        renewAt: new Date(c.renewAt).toISOString(),
      })),
      bundles: this.trustStore.trustDomains().map((td): BundleStatus => this.trustStore.status(td)),
    };
  }

  /** Called on every SVID renewal, CA step and bundle change: the Workload API pushes then. */
  onChange(listener: (event: IdentityEvent) => void): () => void {
    this.events.on('change', listener);
    const offStore = this.trustStore.onChange(() => listener({ kind: 'bundle-refreshed', trustDomain: '*' }));
    return () => {
      this.events.off('change', listener);
      offStore();
    };
  }

  /** Runs due rotations now; the timer calls it, and tests with a fake clock call it directly. */
  async rotate(): Promise<void> {
    const now = this.now();
    const step = nextRotationStep(validity(this.active.ca), this.prepared !== undefined, now);
    if (step === 'prepare') {
      this.prepared = await this.mintAuthority();
      this.publishOwnBundle();
      this.emit({ kind: 'ca-prepared', serial: this.prepared.ca.serialHex, notAfter: this.prepared.ca.notAfter.toISOString() });
    } else if (step === 'activate' && this.prepared) {
      this.retired.push(this.active);
      this.active = this.prepared;
      this.prepared = undefined;
      this.emit({ kind: 'ca-activated', serial: this.active.ca.serialHex, notAfter: this.active.ca.notAfter.toISOString() });
      // Every SVID moves to the new authority now, not at its own renewal.
      for (const spiffeId of [...this.svids.keys()]) await this.issue(spiffeId);
    }
    const stillNeeded = this.retired.filter((a) => a.lastExpiry > now);
    for (const gone of this.retired.filter((a) => !stillNeeded.includes(a))) {
      this.emit({ kind: 'ca-retired', serial: gone.ca.serialHex, notAfter: gone.ca.notAfter.toISOString() });
    }
    if (stillNeeded.length !== this.retired.length) {
      this.retired = stillNeeded;
      this.publishOwnBundle();
    }
    for (const [spiffeId, cached] of this.svids) {
      if (now >= cached.renewAt) await this.issue(spiffeId);
    }
  }

  private async issue(spiffeId: string): Promise<X509Svid> {
    const now = this.now();
    const svid = await this.active.ca.issueX509Svid({ spiffeId, ttlMs: this.options.svidTtlMs, now: new Date(now) });
    this.active.lastExpiry = Math.max(this.active.lastExpiry, svid.notAfter.getTime());
    // Half of the life from when it was issued: NotBefore is backdated for clock skew, and counting from it
    // would put the renewal of a short-lived SVID in the past, renewing it again and again.
    const renewAt = svidRenewAt({ notBefore: Math.max(now, svid.notBefore.getTime()), notAfter: svid.notAfter.getTime() }, this.random);
    const had = this.svids.has(spiffeId);
    this.svids.set(spiffeId, { svid, renewAt });
    if (had) this.emit({ kind: 'svid-renewed', spiffeId, notAfter: svid.notAfter.toISOString() });
    else this.schedule();
    return svid;
  }

  private async mintAuthority(): Promise<SigningAuthority> {
    const ca = await this.options.upstream.createIntermediate({
      trustDomain: this.options.trustDomain,
      ttlMs: this.options.caTtlMs,
      now: new Date(this.now()),
    });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { ca, jwt: { kid: randomBytes(16).toString('base64url'), privateKey, publicKey }, lastExpiry: 0 };
  }

  private published(): SigningAuthority[] {
    return [this.active, ...(this.prepared ? [this.prepared] : []), ...this.retired];
  }

  private publishOwnBundle(): void {
    this.sequence += 1n;
    this.trustStore.set(this.ownBundle(), 'own');
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const now = this.now();
    const due = [
      nextRotationCheckAt(validity(this.active.ca), this.prepared !== undefined, now),
      ...[...this.svids.values()].map((c) => c.renewAt),
      ...this.retired.map((a) => a.lastExpiry),
    ];
    // After a failed rotation (say, the upstream CA expired) retry with
    // backoff instead of spinning on a due time that stays in the past.
    const backoff = this.rotationFailures === 0 ? 0 : Math.min(60_000, 1_000 * 2 ** (this.rotationFailures - 1));
    const delay = Math.min(MAX_TIMER_MS, Math.max(backoff, Math.min(...due) - now));
    this.timer = setTimeout(() => {
      this.rotate().then(
        () => {
          this.rotationFailures = 0;
          this.schedule();
        },
        (err: unknown) => {
          this.rotationFailures++;
          this.events.emit('change', { kind: 'rotation-failed', error: err instanceof Error ? err.message : String(err) } satisfies IdentityEvent);
          this.schedule();
        },
      );
    }, delay);
    this.timer.unref();
  }

  private emit(event: IdentityEvent): void {
    this.events.emit('change', event);
    this.schedule();
  }
}

const validity = (ca: CertificateAuthority) => ({ notBefore: ca.notBefore.getTime(), notAfter: ca.notAfter.getTime() });
