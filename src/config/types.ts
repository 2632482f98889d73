/**
 * The resolved configuration of one gateway replica: what the rest of the
 * program sees after parsing, validation and defaults. Durations are
 * milliseconds, addresses are split into host and port, and relative paths
 * are resolved against the config file's folder.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface GatewayConfig {
  /** Same in every cluster; namespaces NATS subjects (a NATS token). */
  readonly federation: string;
  /** This cluster's name, unique in the federation (a NATS token). */
  readonly cluster: string;
  /** This replica's name within the cluster (default: the host name); part of its SPIFFE ID. */
  readonly replica: string;
  readonly region?: string;
  readonly zone?: string;
  /** Every service of this cluster drained unless its own `drain` says otherwise (see ServiceConfig.drain). */
  readonly drain: boolean;
  /** Absent: the gateway runs alone, without membership. */
  readonly nats?: NatsConfig;
  /** Absent: no federation listener, no Workload API. */
  readonly identity?: IdentityConfig;
  readonly listeners: ListenersConfig;
  readonly limits: LimitsConfig;
  readonly telemetry: TelemetryConfig;
  /** Keyed by service name, in the order the file gives them. */
  readonly services: Readonly<Record<string, ServiceConfig>>;
}

export interface NatsConfig {
  /** nats:// or tls:// URLs. */
  readonly servers: readonly string[];
}

export interface IdentityConfig {
  readonly trustDomain: string;
  /** Folder of this cluster's CA, resolved to an absolute path. */
  readonly ca: string;
  readonly federation: readonly FederatedDomainConfig[];
  readonly workloadApi?: WorkloadApiConfig;
  /** Where we serve our own trust bundle (SPIFFE bundle endpoint, https_spiffe); absent: not served. */
  readonly bundleEndpoint?: HostPort;
  readonly svidTtlMs: number;
  readonly caTtlMs: number;
  /** The refresh hint we publish in our bundle: how often federated domains re-fetch it. */
  readonly bundleRefreshHintMs: number;
}

export interface FederatedDomainConfig {
  readonly trustDomain: string;
  /** Absolute path of a SPIFFE JSON or PEM bundle. */
  readonly bundle?: string;
  /** https URL of the domain's SPIFFE bundle endpoint. */
  readonly bundleEndpoint?: string;
  /** Required when bundleEndpoint is set. */
  readonly endpointSpiffeId?: string;
}

export interface WorkloadApiConfig {
  /** Absolute path of the Unix socket. */
  readonly socket: string;
  readonly entries: readonly WorkloadEntryConfig[];
}

export interface WorkloadEntryConfig {
  readonly spiffeId: string;
  /** `unix:uid:N`, `unix:gid:N` or `unix:path:/abs/path`. */
  readonly selectors: readonly string[];
}

export interface ListenersConfig {
  /** Apps: HTTP/1.1 and h2c on one port. Port 0 picks a free port. */
  readonly local: HostPort;
  /** Other gateways: mTLS HTTP/2. */
  readonly federation: HostPort;
  readonly admin: HostPort;
}

export interface TelemetryConfig {
  /** OTLP/HTTP collector base URL for traces and metrics; absent: the OTEL_EXPORTER_OTLP_* variables decide. */
  readonly otlpEndpoint?: string;
  /** Share of requests entering at the local listener without a trace context that start a sampled trace (see HeadSampler). */
  readonly traceSampling: number;
  /** MESHGATE_LOG_LEVEL, when set, wins. */
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface LimitsConfig {
  /** Largest request header block accepted from a client, in bytes. */
  readonly maxHeaderBytes: number;
  /** A client must send its whole request head within this time (slowloris guard). */
  readonly headersTimeoutMs: number;
  /** How long SIGTERM/SIGINT waits for in-flight requests before closing them. */
  readonly drainTimeoutMs: number;
  /** A client connection or session with nothing in flight is closed after this long. */
  readonly idleTimeoutMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS on the local listener. */
  readonly maxConcurrentStreams: number;
  /** Requests in flight here for one service before it answers 503 `overloaded`. */
  readonly maxInFlightPerService: number;
  /** Requests in flight to one target (endpoint or remote cluster) before it is passed over. */
  readonly maxInFlightPerTarget: number;
}

export type ServiceProtocol = 'http' | 'grpc' | 'tcp';

export type FailoverTier = 'local' | 'region' | 'any';

export interface ServiceConfig {
  readonly name: string;
  readonly protocol: ServiceProtocol;
  readonly endpoints: readonly HostPort[];
  readonly healthCheck?: HealthCheckConfig;
  /** Other clusters may call it through us. */
  readonly export: boolean;
  /** SPIFFE ID patterns of callers allowed from other clusters. */
  readonly allow: readonly string[];
  readonly failover: FailoverConfig;
  readonly timeouts: TimeoutsConfig;
  /** Taken out of service for maintenance (its own `drain`, else the file's): other clusters take its traffic over the failback ramp. */
  readonly drain: boolean;
  /** Present exactly when `protocol` is `tcp`: where apps connect, and how long a connection may carry nothing. */
  readonly tcp?: TcpConfig;
}

export interface TcpConfig {
  /** The local port apps connect to for this service (port 0 picks a free one). */
  readonly listen: HostPort;
  /** A connection with no byte either way for this long is closed (Envoy tcp_proxy's idle_timeout). */
  readonly idleMs: number;
}

export interface HealthCheckConfig {
  /** HTTP path; gRPC services use `grpc.health.v1` and TCP services a connect, without a path. */
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export type RetryCondition = 'connect-failure' | 'reset' | '503';

export interface FailoverConfig {
  readonly overprovisioning: number;
  /** Tiers in order of preference: tier keywords or cluster names. */
  readonly order: readonly string[];
  /** Failed tries that may be retried (within the budget and the idempotency rules). */
  readonly retryOn: readonly RetryCondition[];
  /** Whether an app may send a request to one named cluster only (the `meshgate-cluster` header). */
  readonly allowPinning: boolean;
  /** Each cluster's weight within its tier while all are healthy (Envoy's locality weights); undefined: by latency alone. */
  readonly weights?: Readonly<Record<string, number>>;
}

export interface TimeoutsConfig {
  readonly connectMs: number;
  readonly perTryMs: number;
  readonly requestMs: number;
}
