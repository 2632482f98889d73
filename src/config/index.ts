/**
 * The config part's public face: other folders import only from here.
 */
export type {
  FailoverConfig,
  RetryCondition,
  FailoverTier,
  FederatedDomainConfig,
  GatewayConfig,
  HealthCheckConfig,
  HostPort,
  IdentityConfig,
  LimitsConfig,
  ListenersConfig,
  NatsConfig,
  ServiceConfig,
  ServiceProtocol,
  TimeoutsConfig,
  WorkloadApiConfig,
  WorkloadEntryConfig,
} from './types.js';
export { DEFAULTS, type Defaults } from './defaults.js';
export { BOUNDS, MAX_CONFIG_FILE_BYTES, MAX_LOCALITY_LENGTH, MAX_NAME_LENGTH, type Range } from './bounds.js';
export { checkDurationIn, formatDuration, MAX_DURATION_MS, parseDuration } from './duration.js';
export { formatHostPort, type HostPortOptions, isWildcardHost, parseHostPort } from './hostport.js';
export { CONFIG_ERROR_CODE, ConfigError, type ConfigIssue, isConfigError } from './errors.js';
export { loadConfig, parseConfig, type ParseOptions } from './load.js';
export { describeListenerFailure } from './listener-failure.js';
export { redactUrl, summarizeConfig } from './summary.js';
export { GATEWAY_NODE_OPTIONS } from './node-options.js';
