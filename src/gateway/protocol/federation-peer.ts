import type { TLSSocket } from 'node:tls';
import { isIdentityError, parseGatewaySpiffeId, peerChain, verifyX509Svid, type BundleLookup, type GatewayIdentity } from '../../identity/index.js';

/** Another gateway, as its verified X509-SVID proves it. */
export type FederationPeer = GatewayIdentity;

/** Why a connection on the federation port was refused; each is a stable metric label. */
export type PeerRefusalReason =
  | 'not-h2'
  | 'no-client-cert'
  | 'unknown-trust-domain'
  | 'foreign-claim'
  | 'expired-cert'
  | 'untrusted-chain'
  | 'not-a-gateway'
  | 'wrong-gateway';

export class PeerRefusedError extends Error {
  override readonly name = 'PeerRefusedError';

  constructor(
    readonly reason: PeerRefusalReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Checks the far side of a TLS connection between gateways: its chain must
 * anchor in the bundle of its own trust domain (identity's rules) and its
 * SPIFFE ID must be a gateway's. Node's own verification is off on these
 * sockets because SVIDs are not Web PKI certificates.
 */
export async function verifyGatewayPeer(socket: TLSSocket, bundleFor: BundleLookup, now: Date): Promise<FederationPeer> {
  const chain = peerChain(socket);
  if (chain.length === 0) throw new PeerRefusedError('no-client-cert', 'the peer presented no certificate');
  let spiffeId: string;
  try {
    spiffeId = (await verifyX509Svid(chain, bundleFor, now)).spiffeId;
  } catch (err) {
    throw new PeerRefusedError(refusalOf(err), `the peer's X509-SVID is not accepted: ${(err as Error).message}`, { cause: err });
  }
  const peer = parseGatewaySpiffeId(spiffeId);
  if (!peer) throw new PeerRefusedError('not-a-gateway', `${spiffeId} is not a gateway's SPIFFE ID`);
  return peer;
}

function refusalOf(err: unknown): PeerRefusalReason {
  const rule = isIdentityError(err) ? err.context['rule'] : undefined;
  switch (rule) {
    case 'no-bundle':
      return 'unknown-trust-domain';
    case 'name-constraints':
    case 'signer-trust-domain':
      return 'foreign-claim';
    case 'expired':
    case 'not-yet-valid':
      return 'expired-cert';
    default:
      return 'untrusted-chain';
  }
}
