/**
 * The SPIFFE IDs meshgate gives itself (SPIFFE-ID §2 paths under `/meshgate`):
 *
 *   spiffe://<td>/meshgate/gateway/<cluster>/<replica>   a gateway: the only identity that may gossip or federate
 *   spiffe://<td>/meshgate/identity                      the bundle endpoint
 *
 * Cluster and replica are also NATS subject tokens (the member id
 * `<cluster>.<replica>` is two of them), so both directions hold them to the
 * token rule: an ID with a "." in a name could otherwise stand for another
 * member's subject.
 */
import { SpiffeIdError } from './errors.js';
import { SpiffeId } from './spiffe-id.js';

/** A gateway, as its SPIFFE ID names it. */
export interface GatewayIdentity {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly cluster: string;
  readonly replica: string;
}

/** Letters, digits, "_" and "-": config's rule for federation, cluster and replica names. */
const GATEWAY_NAME = /^[A-Za-z0-9_-]+$/;

export function isGatewayName(value: unknown): value is string {
  return typeof value === 'string' && GATEWAY_NAME.test(value);
}

/** `spiffe://<td>/meshgate/gateway/<cluster>/<replica>`; throws a SpiffeIdError for a name that breaks the token rule. */
export function gatewaySpiffeId(trustDomain: string, cluster: string, replica: string): string {
  for (const name of [cluster, replica]) {
    if (!isGatewayName(name)) {
      throw new SpiffeIdError('path-char', name, 'a cluster or replica name may hold only letters, digits, "_" and "-"', 'path segment');
    }
  }
  return SpiffeId.fromSegments(trustDomain, 'meshgate', 'gateway', cluster, replica).toString();
}

/** The gateway a SPIFFE ID names, or undefined when it is not a gateway's (hostile input never throws). */
export function parseGatewaySpiffeId(spiffeId: string): GatewayIdentity | undefined {
  const id = SpiffeId.tryParse(spiffeId);
  if (!id) return undefined;
  const [a, b, cluster, replica, ...rest] = id.segments;
  if (a !== 'meshgate' || b !== 'gateway' || rest.length > 0) return undefined;
  if (!isGatewayName(cluster) || !isGatewayName(replica)) return undefined;
  return { spiffeId: id.toString(), trustDomain: id.trustDomain, cluster, replica };
}

/** `spiffe://<td>/meshgate/identity`: the bundle endpoint's own SVID. */
export function bundleEndpointSpiffeId(trustDomain: string): string {
  return SpiffeId.fromSegments(trustDomain, 'meshgate', 'identity').toString();
}
