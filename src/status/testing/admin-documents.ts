/**
 * Admin pages of gateway a.r1 in a two-cluster federation, as the gateway
 * writes them, right after its only endpoint of `hello` died and traffic
 * failed over to cluster b. Unit tests change what they need.
 */
import type { RouteExplanation } from '../../failover/index.js';
import type { ClusterServiceHealth, MemberView } from '../../membership/index.js';
import type { AdminDocuments, AdminEvent } from '../admin-documents.js';

/** When the pages were read: 2026-01-02T10:00:00.000Z. */
export const READ_AT = Date.UTC(2026, 0, 2, 10, 0, 0);

export function member(id: string, fields: Partial<MemberView> = {}): MemberView {
  return {
    id,
    cluster: id.split('.')[0] ?? id,
    trustDomain: `${id.split('.')[0] ?? id}.test.example`,
    federationAddr: '127.0.0.1:4143',
    status: 'alive',
    incarnation: 1,
    lastHeardMs: 140,
    rttMs: 0.8,
    reachable: true,
    suspectedBy: [],
    why: 'joined',
    statusSinceMs: 54_200,
    ...fields,
  };
}

export function clusterHealth(service: string, cluster: string, fields: Partial<ClusterServiceHealth> = {}): ClusterServiceHealth {
  return {
    service,
    cluster,
    healthy: 1,
    total: 1,
    inFlight: 0,
    latencyMs: 3.1,
    exported: true,
    drained: false,
    liveReplicas: 1,
    replicas: 1,
    ageMs: 400,
    stale: false,
    source: `${cluster}.r1`,
    reports: [],
    ...fields,
  };
}

export function event(secondsBeforeRead: number, fields: Partial<AdminEvent> = {}): AdminEvent {
  return { time: new Date(READ_AT - secondsBeforeRead * 1_000).toISOString(), kind: 'ejection', service: 'hello', target: 'local:127.0.0.1:4001', reason: '5 consecutive failures (last: upstream-connect)', ...fields };
}

export const helloRoute: RouteExplanation = {
  service: 'hello',
  panic: false,
  tiers: [
    {
      name: 'local',
      share: 0,
      healthyFraction: 0,
      targets: [
        {
          key: 'local:127.0.0.1:4001',
          usable: false,
          healthy: 0,
          total: 1,
          reason: 'active check: connect ECONNREFUSED',
          ageMs: 2_000,
          load: { rttMs: 248.41184, inFlight: 0, cost: 248 },
          ejection: { state: 'ejected', consecutiveFailures: 5, timesEjected: 1, ejectedUntil: READ_AT + 30_000, since: READ_AT - 2_000, reason: '5 consecutive failures' },
        },
      ],
    },
    {
      name: 'any',
      share: 1,
      healthyFraction: 1,
      targets: [
        {
          key: 'cluster:b',
          usable: true,
          healthy: 1,
          total: 1,
          reason: '1/1 endpoints healthy, 1/1 replicas usable',
          load: { rttMs: 26.39089, inFlight: 2, cost: 79 },
          replicas: [{ id: 'b.r1', usable: true }],
        },
      ],
    },
  ],
  failback: { phase: 'failed-over', since: READ_AT - 2_000, allowedShare: 0, reason: 'preferred tier unhealthy' },
  retryBudget: { requests: 40, retries: 1, available: 9 },
};

export function documents(fields: Partial<AdminDocuments> = {}): AdminDocuments {
  return {
    ready: { ready: true, reasons: [] },
    members: {
      self: 'a.r1',
      members: [member('b.r1'), member('a.r1', { lastHeardMs: null, rttMs: null, why: 'this process', statusSinceMs: 55_100 })],
      dropped: {},
      unsent: {},
      initialSync: { outcome: 'synced', peer: 'b.r1', complete: true, afterMs: 120 },
    },
    services: {
      services: {
        hello: { a: clusterHealth('hello', 'a', { healthy: 0, latencyMs: 221.8 }), b: clusterHealth('hello', 'b') },
        echo: { b: clusterHealth('echo', 'b', { latencyMs: undefined, exported: false }) },
      },
    },
    routes: { hello: helloRoute },
    events: {
      events: [event(3, { kind: 'failover', target: 'local', reason: 'traffic now local 0%, any 100%' }), event(2)],
    },
    latency: {
      windowSeconds: 60,
      services: { hello: { a: { requests: 3, p50Ms: 0.8, p99Ms: 2.45 }, b: { requests: 1204, p50Ms: 21.3, p99Ms: 48.7 } } },
    },
    ...fields,
  };
}
