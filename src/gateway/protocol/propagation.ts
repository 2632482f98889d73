import type { HeaderMap } from './headers.js';

/**
 * The headers gateways exchange (docs/architecture.md, Between gateways), and the rules for
 * the remaining deadline. Apps must not be able to forge the first three, so
 * the local listener drops them; `meshgate-deadline` is an app's to set.
 */
export const SERVICE_HEADER = 'meshgate-service';
/** The cluster a request came from; its presence means "already crossed a cluster". */
export const HOP_HEADER = 'meshgate-hop';
export const SOURCE_HEADER = 'meshgate-source';
/** Remaining budget in milliseconds, relative so that clock skew between clusters does not matter. */
export const DEADLINE_HEADER = 'meshgate-deadline';
/** An app's request to send this one request to the named cluster only, where the service allows it (drills, debugging). */
export const PIN_HEADER = 'meshgate-cluster';
const GRPC_TIMEOUT_HEADER = 'grpc-timeout';

const GATEWAY_ONLY = [SERVICE_HEADER, HOP_HEADER, SOURCE_HEADER] as const;

/** Removes what only a gateway may assert from a request an app sent. */
export function dropGatewayHeaders(headers: HeaderMap): void {
  for (const name of GATEWAY_ONLY) delete headers[name];
}

export const headerValue = (headers: HeaderMap, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const GRPC_UNITS_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * The budget a request arrives with, in ms, from `grpc-timeout` (gRPC's
 * "1-8 digits and a unit") or `meshgate-deadline`; the smaller wins. A
 * malformed value is ignored, as gRPC servers do, rather than failing the call.
 */
export function incomingBudgetMs(headers: HeaderMap): number | undefined {
  let budget: number | undefined;
  const grpc = headerValue(headers, GRPC_TIMEOUT_HEADER);
  const match = grpc === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(grpc);
  if (match) budget = Number(match[1]) * (GRPC_UNITS_MS[match[2] as string] as number);
  const own = headerValue(headers, DEADLINE_HEADER);
  if (own !== undefined && /^\d{1,10}$/.test(own)) budget = Math.min(budget ?? Infinity, Number(own));
  return budget;
}

/** Writes the remaining budget for the next hop: `grpc-timeout` for gRPC, `meshgate-deadline` otherwise. */
export function setBudget(headers: HeaderMap, remainingMs: number, grpc: boolean): void {
  const ms = Math.max(0, Math.floor(remainingMs));
  // Overwrite the one we send and delete the other only when present: a
  // delete turns the per-request header object into a slower dictionary.
  if (grpc) {
    if (headers[DEADLINE_HEADER] !== undefined) delete headers[DEADLINE_HEADER];
    headers[GRPC_TIMEOUT_HEADER] = `${Math.min(ms, 99_999_999)}m`;
  } else {
    if (headers[GRPC_TIMEOUT_HEADER] !== undefined) delete headers[GRPC_TIMEOUT_HEADER];
    headers[DEADLINE_HEADER] = String(ms);
  }
}

export const isGrpc = (headers: HeaderMap): boolean => (headerValue(headers, 'content-type') ?? '').startsWith('application/grpc');

/** `cluster=us-east; spiffe-id=spiffe://…`: who called, for the endpoint's logs and policy. */
export function sourceValue(cluster: string, spiffeId: string | undefined): string {
  return spiffeId ? `cluster=${cluster}; spiffe-id=${spiffeId}` : `cluster=${cluster}`;
}
