export { Gateway, type BoundAddresses, type ReloadReport } from './gateway.js';
export { GatewayError, type GatewayErrorCode } from './errors.js';
export { checkAllowPatterns } from './proxy/authorization.js';
export { boundHeapGrowth } from './heap.js';
export { probeEndpointOnce, type OneShotOutcome, type OneShotProbe } from './control/endpoint-probe.js';
export { openGatewaySession, type RemoteGateway } from './outbound/remote-gateways.js';
