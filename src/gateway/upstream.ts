import type { HostPort, TimeoutsConfig } from '../config/index.js';
import type { InboundRequest, UpstreamResponse } from './exchange.js';

/**
 * Sends one request to one endpoint and resolves with the response head, or
 * rejects with a GatewayError saying why no response came
 * (upstream-connect, upstream-reset, upstream-timeout).
 */
export interface Upstream {
  forward(endpoint: HostPort, request: InboundRequest, timeouts: TimeoutsConfig): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export const endpointKey = (endpoint: HostPort): string =>
  endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
