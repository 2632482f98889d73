/**
 * The shapes the identity part's modules exchange. Certificates cross module
 * boundaries as DER bytes (what the Workload API, TLS and bundles carry);
 * private keys as Node KeyObjects, which never leave the process except as
 * PKCS#8 written 0600 or sent to an attested workload.
 */
import type { KeyObject } from 'node:crypto';

/** A validated SPIFFE ID; compare with `equals` or by `toString()`, byte for byte. */
export interface SpiffeIdLike {
  readonly trustDomain: string;
  /** '' for a trust domain's own ID, else '/seg/seg'. */
  readonly path: string;
  toString(): string;
}

/** An X509-SVID with its key: `chain[0]` is the leaf, then intermediates up to (not including) the root. */
export interface X509Svid {
  readonly spiffeId: string;
  readonly chain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A JWT signing authority as published in a bundle. */
export interface JwtAuthority {
  readonly kid: string;
  readonly publicKey: KeyObject;
}

/**
 * What one trust domain's bundle says: its X.509 roots (DER) and its JWT
 * keys. An empty `x509Authorities` means every X509-SVID of the domain fails.
 */
export interface TrustBundle {
  readonly trustDomain: string;
  readonly x509Authorities: readonly Uint8Array[];
  readonly jwtAuthorities: readonly JwtAuthority[];
  readonly sequence?: bigint;
  readonly refreshHintSeconds?: number;
}

/** Looks up one trust domain's bundle; undefined when the domain is not trusted. */
export type BundleLookup = (trustDomain: string) => TrustBundle | undefined;
