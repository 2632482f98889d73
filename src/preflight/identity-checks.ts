import type { FederatedDomainConfig, GatewayConfig, IdentityConfig } from '../config/index.js';
import {
  CertificateAuthority,
  fetchBundle,
  gatewaySpiffeId,
  IdentityService,
  loadBundleFile,
  loadCaDir,
  verifyX509Svid,
  type BundleLookup,
  type TrustBundle,
  type X509Svid,
} from '../identity/index.js';
import { describeValidity, earliestNotAfter, expiresSoon, latestNotAfter } from './expiry.js';
import { failed, passed, warned, type CheckResult } from './result.js';

export const CA_CHECK = 'CA';
export const SVID_CHECK = 'gateway SVID';
export const bundleCheckName = (trustDomain: string) => `bundle of ${trustDomain}`;
export const bundleEndpointCheckName = (trustDomain: string) => `bundle endpoint of ${trustDomain}`;

const newCaFix = (identity: IdentityConfig) =>
  `make a new CA with \`meshgate ca init --trust-domain ${identity.trustDomain} --out DIR --parent ROOT-CA-DIR\` (without --parent for a root of its own, then hand its bundle to the other clusters), point identity.ca at DIR and restart the gateway`;

/**
 * Loads the CA folder as the gateway does at start (every file, the chain,
 * the key, expiry) and warns when any certificate of the chain ends soon:
 * the gateway's signing CAs and SVIDs are cut to fit inside it.
 */
export async function checkCa(identity: IdentityConfig, now: Date): Promise<{ result: CheckResult; ca?: CertificateAuthority }> {
  let ca: CertificateAuthority;
  try {
    ca = await loadCaDir(identity.ca, { now });
  } catch (err) {
    return { result: failed(CA_CHECK, (err as Error).message, newCaFix(identity)) };
  }
  if (ca.trustDomain !== identity.trustDomain) {
    return {
      result: failed(CA_CHECK, `${identity.ca} holds a CA of ${ca.trustDomain}, not of identity.trustDomain ${identity.trustDomain}`, `point identity.ca at the CA of ${identity.trustDomain}, or ${newCaFix(identity)}`),
    };
  }
  const ends = earliestNotAfter(ca.chain) ?? ca.notAfter;
  const what = `${ca.isRoot ? 'root' : 'intermediate'} CA of ${ca.trustDomain} in ${identity.ca}, ${describeValidity(ends, now)}`;
  if (expiresSoon(ends, now)) return { result: warned(CA_CHECK, what, newCaFix(identity)), ca };
  return { result: passed(CA_CHECK, what), ca };
}

/**
 * Issues the gateway's own SVID as the gateway does at start (a signing CA
 * minted under the folder's CA, then the SVID) and verifies it against our
 * own bundle. The identity service returned is what the remote-gateway
 * checks present and trust with; the caller stops it.
 */
export async function checkSvid(
  config: GatewayConfig,
  identity: IdentityConfig,
  ca: CertificateAuthority,
  now: Date,
): Promise<{ result: CheckResult; service?: IdentityService; svid?: X509Svid }> {
  const spiffeId = gatewaySpiffeId(identity.trustDomain, config.cluster, config.replica);
  const service = new IdentityService({
    trustDomain: identity.trustDomain,
    upstream: ca,
    svidTtlMs: identity.svidTtlMs,
    caTtlMs: identity.caTtlMs,
    // Federated bundles are the bundle checks' business; they add what they load.
    federation: [],
  });
  try {
    await service.start();
    const svid = await service.svid(spiffeId);
    await verifyX509Svid(svid.chain, service.trustStore.bundleFor, now);
    return { result: passed(SVID_CHECK, `${spiffeId} issued, ${describeValidity(svid.notAfter, now)}`), service, svid };
  } catch (err) {
    service.stop();
    return { result: failed(SVID_CHECK, `cannot issue ${spiffeId}: ${(err as Error).message}`, newCaFix(identity)) };
  }
}

/** A federated domain's bundle file, as the gateway loads it; warns when its authorities end soon and fails when all have ended. */
export async function checkBundleFile(domain: FederatedDomainConfig & { bundle: string }, now: Date): Promise<{ result: CheckResult; bundle?: TrustBundle }> {
  const name = bundleCheckName(domain.trustDomain);
  let bundle: TrustBundle;
  try {
    bundle = await loadBundleFile(domain.bundle, domain.trustDomain);
  } catch (err) {
    return { result: failed(name, (err as Error).message, `write ${domain.trustDomain}'s bundle there (\`meshgate ca bundle --ca ITS-CA-DIR\` on its side) or correct the bundle path`) };
  }
  const refresh = domain.bundleEndpoint ? ' (its bundle endpoint keeps it current once fetched)' : '';
  const last = latestNotAfter(bundle.x509Authorities);
  if (!last || last <= now) {
    return {
      result: failed(name, `${domain.bundle} holds no X.509 authority valid now: no gateway of ${domain.trustDomain} can be verified${refresh}`, `replace it with ${domain.trustDomain}'s current bundle`),
      bundle,
    };
  }
  const first = earliestNotAfter(bundle.x509Authorities) as Date;
  const what = `${bundle.x509Authorities.length} X.509 ${bundle.x509Authorities.length === 1 ? 'authority' : 'authorities'} from ${domain.bundle}, the first ${describeValidity(first, now)}`;
  if (expiresSoon(first, now)) return { result: warned(name, what + refresh, `ask ${domain.trustDomain} for its next bundle`), bundle };
  return { result: passed(name, what), bundle };
}

/** A domain that shares our root needs no file: our CA's root is its anchor too. */
export function sharedRootBundle(trustDomain: string, ca: CertificateAuthority): { result: CheckResult; bundle: TrustBundle } {
  return {
    result: passed(bundleCheckName(trustDomain), `shares our root (its gateways chain to the root of ${ca.trustDomain}'s CA)`),
    bundle: { trustDomain, x509Authorities: [ca.rootDer], jwtAuthorities: [] },
  };
}

/**
 * Fetches a federated domain's bundle from its SPIFFE bundle endpoint as the
 * gateway does (https_spiffe, the server proving `endpointSpiffeId` against
 * the bootstrap bundle).
 */
export async function checkBundleEndpoint(
  domain: FederatedDomainConfig & { bundleEndpoint: string; endpointSpiffeId: string },
  bootstrap: BundleLookup,
  timeoutMs: number,
): Promise<{ result: CheckResult; bundle?: TrustBundle }> {
  const name = bundleEndpointCheckName(domain.trustDomain);
  try {
    const bundle = await fetchBundle({
      url: domain.bundleEndpoint,
      trustDomain: domain.trustDomain,
      endpointSpiffeId: domain.endpointSpiffeId,
      bundleFor: bootstrap,
      timeoutMs,
    });
    const n = bundle.x509Authorities.length;
    return { result: passed(name, `${domain.bundleEndpoint} served ${n} X.509 ${n === 1 ? 'authority' : 'authorities'} as ${domain.endpointSpiffeId}`), bundle };
  } catch (err) {
    return {
      result: failed(
        name,
        `cannot fetch ${domain.bundleEndpoint}: ${causeOf(err)}`,
        `check that ${domain.trustDomain}'s gateway serves identity.bundleEndpoint at that address and that this host reaches it; until then its rotated keys are not trusted here`,
      ),
    };
  }
}

/** The innermost message: an IdentityError wrapping a socket error says the URL twice otherwise. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
}
