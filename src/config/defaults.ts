/**
 * Every default of meshgate in one place: DESIGN.md "Defaults" and the config
 * shape. The config loader fills the config from here; the other parts take
 * their tunables from here too (passed in by the gateway, since membership,
 * failover and identity do not import config). Durations are milliseconds,
 * named `…Ms`; fractions are 0–1.
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

  /** Guards against slow or oversized clients (DESIGN "Failure modes"). */
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
    },
    /** Connect / per-try / whole-request budget. */
    timeouts: {
      connectMs: 1 * SECOND,
      perTryMs: 2 * SECOND,
      requestMs: 10 * SECOND,
    },
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

  /** SWIM failure detection and gossip (memberlist LAN, Lifeguard, Serf). */
  membership: {
    probeIntervalMs: 1 * SECOND,
    probeTimeoutMs: 500,
    /** Helpers for ping-req, picked in other clusters first. */
    indirectProbes: 3,
    /** Lifeguard: suspicion min = 4 × max(1, log10 N) × probe interval. */
    suspicionMinMultiplier: 4,
    /** Lifeguard: suspicion max = 6 × min, shrinking with confirmations. */
    suspicionMaxMultiplier: 6,
    /** Lifeguard local health awareness: score 0–7, probe interval × (score+1). */
    awarenessMaxScore: 7,
    gossipIntervalMs: 200,
    gossipFanout: 3,
    /** Retransmits per broadcast = 4 × ceil(log10(N+1)). */
    retransmitMultiplier: 4,
    /** Push-pull anti-entropy, also run on join. */
    pushPullIntervalMs: 30 * SECOND,
    /** Dead members are re-probed: "unreachable from here" is not "dead". */
    deadReprobeIntervalMs: 30 * SECOND,
    deadRetentionMs: 24 * HOUR,
    /** Larger gossip envelopes are dropped and counted. */
    maxMessageBytes: 64 * 1_024,
  },

  /** The NATS client default (2 min) hides a dead link for minutes. */
  nats: {
    pingIntervalMs: 5 * SECOND,
    maxPingsOutstanding: 2,
  },

  /** Decisions in failover/: balancing, ejection, retries, failback. */
  failover: {
    /**
     * Circuit breaking: past these, a target is passed over and a service
     * sheds load with 503 `overloaded` instead of queueing without bound.
     * Above the 1,000 streams one federation session may hold, so that one
     * flooding peer cannot take a target from everyone else.
     */
    maxInFlightPerTarget: 5_000,
    maxInFlightPerService: 20_000,
    /** linkerd2-proxy peak-EWMA. */
    peakEwma: {
      decayMs: 10 * SECOND,
      defaultRttMs: 30,
    },
    /** Envoy outlier detection, without its 10 % cap while another tier can serve. */
    outlierEjection: {
      consecutiveFailures: 5,
      /** Ejection time = base × times ejected, capped at max. */
      baseEjectionMs: 30 * SECOND,
      maxEjectionMs: 300 * SECOND,
    },
    /** Finagle / linkerd2-proxy retry budget. */
    retryBudget: {
      /** Retries may add this fraction of requests… */
      retryRatio: 0.2,
      /** …plus this floor, so that low traffic can still retry. */
      minRetriesPerSecond: 10,
      windowMs: 10 * SECOND,
      maxRetriesPerRequest: 2,
    },
    /** Anti-herd failback (cilium#46633). */
    failback: {
      /** The local tier must stay healthy this long before traffic returns… */
      holdMs: 10 * SECOND,
      /** …and then ramps back over this long, with jitter. */
      rampMs: 10 * SECOND,
      /** ± fraction of the hold applied as jitter, so clusters do not move in step. */
      jitter: 0.1,
    },
  },

  /** SPIRE-like certificate lifetimes. */
  identity: {
    svidTtlMs: 1 * HOUR,
    caTtlMs: 24 * HOUR,
    /** SVIDs renew at half their life… */
    svidRenewAtFraction: 0.5,
    /** …± this fraction of the life, so replicas do not renew together. */
    svidRenewJitter: 0.1,
    /** The next CA is prepared at 1/2 of the current one's life… */
    caPrepareAtFraction: 1 / 2,
    /** …and activated at 5/6. */
    caActivateAtFraction: 5 / 6,
    /** NotBefore is backdated for clock skew between clusters. */
    notBeforeBackdateMs: 10 * SECOND,
    bundleRefreshHintMs: 5 * MINUTE,
  },
} as const;

export type Defaults = typeof defaults;

/** Frozen all the way down: a part that mutates a default would change it for every other part. */
export const DEFAULTS: Defaults = deepFreeze(defaults);
