/**
 * The defaults of every config key, in one place: the config loader fills
 * the config from here. Tunables that are not config keys live with the part
 * they tune (membership's DEFAULT_MEMBERSHIP_CONFIG, failover's
 * DEFAULT_FAILOVER_SETTINGS, identity's rotation constants), and the gateway
 * passes the resolved config to them. Durations are milliseconds, named `…Ms`.
 *
 * Where a number comes from another system, the comment names it, because
 * these numbers are not arbitrary and should not drift by accident.
 */

import { deepFreeze } from './freeze.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const defaults = {
  /** Listener addresses. Local and admin stay on loopback unless asked. */
  listeners: {
    /** Apps: plain HTTP/1.1 and h2c, routed by Host / :authority. */
    local: { host: '127.0.0.1', port: 4140 },
    /** Other gateways: mTLS HTTP/2. Open to the network by design. */
    federation: { host: '0.0.0.0', port: 4143 },
    /** /live, /ready, /metrics, /debug/*: never exposed by default. */
    admin: { host: '127.0.0.1', port: 9901 },
  },

  /** Guards against slow or oversized clients (docs/operations.md). */
  limits: {
    /** Node's own default; bigger header blocks get 431. */
    maxHeaderBytes: 16_384,
    /** Whole request head within this time: the slowloris guard. */
    headersTimeoutMs: 10 * SECOND,
    /** SIGTERM waits this long for in-flight requests, then closes them. */
    drainTimeoutMs: 15 * SECOND,
    /** A connection with no request in flight is closed after this: nginx's keepalive_timeout. */
    idleTimeoutMs: 75 * SECOND,
    /** Streams one h2c client may have open at once: nginx's http2_max_concurrent_streams. */
    maxConcurrentStreams: 128,
    /**
     * Circuit breaking: past these, a service sheds load with 503
     * `overloaded` and a target is passed over, instead of queueing without
     * bound. Above the 1,000 streams one federation session may hold, so
     * that one flooding peer cannot take a target from everyone else.
     */
    maxInFlightPerService: 20_000,
    maxInFlightPerTarget: 5_000,
  },

  /** Traces and logs. */
  telemetry: {
    /** One trace in a hundred that start here: cheap enough to leave on (OpenTelemetry's default samples all). */
    traceSampling: 0.01,
    logLevel: 'info',
  },

  /** Per service, when the config does not say. */
  service: {
    protocol: 'http',
    /** Nothing is callable from other clusters unless exported on purpose. */
    export: false,
    /** No remote caller is allowed unless listed. */
    allow: [],
    failover: {
      /**
       * Envoy priority levels: a tier keeps all its traffic while
       * healthy fraction × 1.4 ≥ 1, i.e. ≥ 71.4 % healthy, and spills the rest.
       */
      overprovisioning: 1.4,
      order: ['local', 'region', 'any'],
      /** A non-idempotent request that reached an upstream is never retried, whatever this says. */
      retryOn: ['connect-failure', 'reset', '503'],
      /** A drill's tool, not an app's: off unless the service's config turns it on. */
      allowPinning: false,
    },
    /** Connect / per-try / whole-request budget. */
    timeouts: {
      connectMs: 1 * SECOND,
      perTryMs: 2 * SECOND,
      requestMs: 10 * SECOND,
    },
    /** A TCP connection that carries nothing this long is closed: Envoy tcp_proxy's idle_timeout default. */
    tcpIdleMs: 1 * HOUR,
    /** Used for any key a service's healthCheck leaves out. */
    healthCheck: {
      path: '/healthz',
      intervalMs: 5 * SECOND,
      timeoutMs: 1 * SECOND,
      /** Consecutive passes before an endpoint counts as healthy again. */
      healthyThreshold: 2,
      /** Consecutive failures before an endpoint counts as unhealthy. */
      unhealthyThreshold: 3,
    },
  },

  /** SPIRE-like certificate lifetimes (renewal and CA rotation fractions live in the identity part). */
  identity: {
    svidTtlMs: 1 * HOUR,
    caTtlMs: 24 * HOUR,
    bundleRefreshHintMs: 5 * MINUTE,
  },
} as const;

export type Defaults = typeof defaults;

/** Frozen all the way down: a part that mutates a default would change it for every other part. */
export const DEFAULTS: Defaults = deepFreeze(defaults);
