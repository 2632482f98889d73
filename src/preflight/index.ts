/**
 * `meshgate check`'s preflight: the config, then the path traffic takes
 * (NATS, the CA and the gateway's SVID, federated bundles and their
 * endpoints, local endpoints' health checks, one mTLS session per exporting
 * cluster), one line per check.
 */
export { CHECK_TIMEOUT_MS, runPreflight, type PreflightOptions } from './preflight.js';
export { exitCodeOf, formatResult, summarize, type CheckResult, type Severity } from './result.js';
