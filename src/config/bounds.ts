/**
 * The range of every number, duration and name in the config. A value the
 * schema accepts must be one the runtime accepts: these are handed to Node
 * (HTTP parsers, HTTP/2 SETTINGS, timers), to NATS (subjects) and to SPIFFE
 * IDs, each with limits of its own, and outside them a gateway that passed
 * `check` crashes, refuses every peer or flaps. Where the runtime would take
 * more, the bound is what an operator of Envoy or nginx would still call sane.
 * docs/configuration.md lists them; configuration-doc.test.ts keeps the two in step.
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export interface Range {
  readonly min: number;
  readonly max: number;
}

/**
 * Names that become NATS subject tokens (`meshgate.<federation>.member.<cluster>.<replica>`)
 * and SPIFFE ID path segments (`spiffe://<td>/meshgate/gateway/<cluster>/<replica>`):
 * 63 like a DNS label, so that subjects stay far below nats-server's default
 * max_control_line (4096 bytes) and IDs far below SPIFFE's 2048.
 */
export const MAX_NAME_LENGTH = 63;

/** region and zone: free text, gossiped with every member; 63 like a Kubernetes label value. */
export const MAX_LOCALITY_LENGTH = 63;

/** A config file larger than this is refused before it is parsed. */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

export const BOUNDS = {
  limits: {
    /**
     * Envoy's max_request_headers_kb tops out at 8192 KiB; the federation
     * listener's HTTP/2 limit is 4 × this, within Node's 2^32-1. 1 KiB is
     * nginx's client_header_buffer_size, and still fits what gateways add.
     */
    maxHeaderBytes: { min: 1_024, max: 8 * 1_024 * 1_024 },
    /** Also the TLS handshake timeout of federation connections, which cross regions: not below 500 ms. */
    headersTimeoutMs: { min: 500, max: 10 * MINUTE },
    /** 0 closes in-flight requests at once; an hour outlasts any orchestrator's grace period. */
    drainTimeoutMs: { min: 0, max: HOUR },
    /** A day is far past any idle connection worth keeping, and far below what a timer can wait. */
    idleTimeoutMs: { min: 1 * SECOND, max: 24 * HOUR },
    /** HTTP/2 SETTINGS values are 32-bit; Envoy's bound for max_concurrent_streams. */
    maxConcurrentStreams: { min: 1, max: 2_147_483_647 },
    /** Counts of requests held in memory: beyond a million, the limit protects nothing. */
    maxInFlight: { min: 1, max: 1_000_000 },
  },
  identity: {
    /**
     * caTtl ≥ 6 × svidTtl as well (SPIRE's rule), so 96 h × 6 = the caTtl
     * maximum. SVIDs are backdated 10 s for clock skew and renew at half
     * their validity ± 10 %: below about 16 s that moment is already past
     * when an SVID is issued, and the gateway renews in a loop. 30 s leaves
     * at least 5 s between renewals.
     */
    svidTtlMs: { min: 30 * SECOND, max: 96 * HOUR },
    /** 6 × the shortest svidTtl; 24 days is below the 2^31-1 ms (about 24.8 days) a Node.js timer can wait. */
    caTtlMs: { min: 3 * MINUTE, max: 576 * HOUR },
    /** What federated gateways' bundle refreshers accept (1 s to 24 h). */
    bundleRefreshHintMs: { min: 1 * SECOND, max: 24 * HOUR },
  },
  timeouts: {
    connectMs: { min: 1, max: 5 * MINUTE },
    perTryMs: { min: 1, max: 24 * HOUR },
    /** Long enough for streaming calls; Envoy's route timeout can be disabled, ours cannot. */
    requestMs: { min: 1, max: 24 * HOUR },
    /** A TCP connection's idle limit; a day stays far below the 2^31-1 ms a Node.js timer can wait. */
    idleMs: { min: 1, max: 24 * HOUR },
  },
  healthCheck: {
    /** Checks are jittered by ±10 %: an hour stays far below the timer limit; 100 ms spares endpoints. */
    intervalMs: { min: 100, max: HOUR },
    timeoutMs: { min: 1, max: 5 * MINUTE },
    healthyThreshold: { min: 1, max: 100 },
    unhealthyThreshold: { min: 1, max: 100 },
  },
  failover: {
    /** 100 spills only below 1 % healthy; Envoy's default is 1.4. */
    overprovisioning: { min: 1, max: 100 },
    /** A cluster's share of its tier in parts of the weights' sum: percentages fit, and finer (a cluster left out gets none). */
    weights: { min: 1, max: 10_000 },
  },
  telemetry: {
    /** A ratio of traces: none to all. */
    traceSampling: { min: 0, max: 1 },
  },
} as const satisfies Record<string, Record<string, Range>>;
