/**
 * What `meshgate status` says about a gateway, built from its admin pages
 * without any I/O. This object is also the `--json` output: its field names
 * are a contract, change them only additively.
 */
import { isConfigured, type AdminDocuments, type LatencyDocument, type MembersDocument, type ServicesDocument } from './admin-documents.js';

/** How many of the latest events the report keeps by default: an incident's recent story, not the whole log. */
const DEFAULT_EVENT_LIMIT = 10;

export interface StatusReport {
  /** The admin URL asked. */
  readonly admin: string;
  /** When the pages were read (this machine's clock), ISO 8601. */
  readonly at: string;
  readonly gateway: GatewayStatus;
  /** Null on a gateway without membership (no `nats:`): it knows no other member. */
  readonly members: readonly MemberStatus[] | null;
  /** Null on a gateway without membership: it knows no other cluster's services. */
  readonly services: readonly ServiceStatus[] | null;
  /** How far back each service's `recent` looks (a minute, less while the gateway is younger). */
  readonly recentSeconds: number;
  /** Services this gateway has routed requests for, by name. */
  readonly routes: readonly RouteStatus[];
  readonly events: EventsStatus;
}

export interface GatewayStatus {
  /** `<cluster>.<replica>`; null without membership. */
  readonly memberId: string | null;
  readonly cluster: string | null;
  readonly ready: boolean;
  readonly notReadyReasons: readonly string[];
}

export interface MemberStatus {
  readonly id: string;
  readonly cluster: string;
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
  /** The gateway asked. */
  readonly self: boolean;
  /** How long it has been in this state. */
  readonly stateForMs: number;
  /** Since a valid message from it arrived; null if never (and for the gateway itself, which does not hear itself). */
  readonly lastHeardMs: number | null;
  readonly rttMs: number | null;
  readonly reachable: boolean;
  readonly why: string;
}

export interface ServiceStatus {
  readonly cluster: string;
  readonly service: string;
  readonly healthy: number;
  readonly total: number;
  readonly inFlight: number;
  /** The cluster's peak-EWMA estimate of its endpoints' latency; null before any request. Not a percentile. */
  readonly latencyEwmaMs: number | null;
  /**
   * This gateway's apps' requests answered by it in the last `recentSeconds`,
   * with percentiles estimated from the duration histogram's buckets; null
   * when there were none.
   */
  readonly recent: { readonly requests: number; readonly p50Ms: number; readonly p99Ms: number } | null;
  readonly liveReplicas: number;
  readonly replicas: number;
  /** Age of the health record behind the numbers. */
  readonly ageMs: number;
  readonly exported: boolean;
  readonly drained: boolean;
  readonly stale: boolean;
  readonly staleReason: string | null;
}

export interface RouteStatus {
  readonly service: string;
  /** Nothing anywhere is healthy: every endpoint of the first tier is tried. */
  readonly panic: boolean;
  readonly tiers: readonly TierStatus[];
  readonly failback: { readonly phase: string; readonly allowedShare: number; readonly reason: string };
  /** Whole retries the budget would grant now. */
  readonly retriesAvailable: number;
}

export interface TierStatus {
  readonly name: string;
  /** Share of the service's requests this tier gets now, 0..1. */
  readonly share: number;
  /** In a weighted tier, each cluster's configured weight and its share of all requests now; null otherwise. */
  readonly clusterShares: readonly { readonly cluster: string; readonly weight: number; readonly share: number }[] | null;
  readonly targets: readonly TargetStatus[];
}

export interface TargetStatus {
  /** As /debug/routes and events name it: `local:<host:port>` or `cluster:<name>`. */
  readonly key: string;
  readonly usable: boolean;
  /** Healthy endpoints behind it, counted as the balancer weighs them (a drain ramp scales it). */
  readonly healthy: number;
  readonly total: number;
  /** This gateway's peak-EWMA latency estimate for it. Not a percentile. */
  readonly latencyEwmaMs: number;
  readonly inFlight: number;
  /** `ejected` or `probing` while outlier ejection holds it; null while active. */
  readonly ejection: string | null;
  readonly reason: string;
}

export interface EventsStatus {
  /** Events the gateway holds (it keeps the last 1,000). */
  readonly total: number;
  /** The latest, newest first. */
  readonly latest: readonly EventStatus[];
}

export interface EventStatus {
  readonly time: string;
  /** Before `at`; null when the gateway's time does not parse. */
  readonly agoMs: number | null;
  readonly service: string;
  readonly kind: string;
  readonly target: string | null;
  readonly reason: string;
}

export interface ReportOptions {
  readonly admin: string;
  /** When the pages were read, epoch ms. */
  readonly now: number;
  readonly eventLimit?: number;
}

export function buildStatusReport(docs: AdminDocuments, { admin, now, eventLimit = DEFAULT_EVENT_LIMIT }: ReportOptions): StatusReport {
  const members = isConfigured(docs.members) ? docs.members : undefined;
  const self = members?.members.find((m) => m.id === members.self);
  return {
    admin,
    at: new Date(now).toISOString(),
    gateway: {
      memberId: members?.self ?? null,
      cluster: self?.cluster ?? null,
      ready: docs.ready.ready,
      notReadyReasons: [...docs.ready.reasons],
    },
    members: members ? memberRows(members.members, members.self) : null,
    services: isConfigured(docs.services) ? serviceRows(docs.services, docs.latency) : null,
    recentSeconds: docs.latency.windowSeconds,
    routes: routeRows(docs.routes),
    events: eventRows(docs.events, now, eventLimit),
  };
}

function memberRows(members: MembersDocument['members'], self: string): MemberStatus[] {
  return [...members]
    .sort((a, b) => compare(a.id, b.id))
    .map((m) => ({
      id: m.id,
      cluster: m.cluster,
      state: m.status,
      self: m.id === self,
      stateForMs: m.statusSinceMs,
      lastHeardMs: m.lastHeardMs,
      rttMs: m.rttMs,
      reachable: m.reachable,
      why: m.why,
    }));
}

function serviceRows(doc: ServicesDocument, latency: LatencyDocument): ServiceStatus[] {
  const rows: ServiceStatus[] = [];
  for (const [service, clusters] of Object.entries(doc.services)) {
    for (const [cluster, h] of Object.entries(clusters)) {
      rows.push({
        cluster,
        service,
        healthy: h.healthy,
        total: h.total,
        inFlight: h.inFlight,
        latencyEwmaMs: h.latencyMs ?? null,
        recent: latency.services[service]?.[cluster] ?? null,
        liveReplicas: h.liveReplicas,
        replicas: h.replicas,
        ageMs: h.ageMs,
        exported: h.exported,
        drained: h.drained,
        stale: h.stale,
        staleReason: h.staleReason ?? null,
      });
    }
  }
  return rows.sort((a, b) => compare(a.cluster, b.cluster) || compare(a.service, b.service));
}

function routeRows(doc: AdminDocuments['routes']): RouteStatus[] {
  return Object.values(doc)
    .sort((a, b) => compare(a.service, b.service))
    .map((route) => ({
      service: route.service,
      panic: route.panic,
      tiers: route.tiers.map((tier) => ({
        name: tier.name,
        share: tier.share,
        clusterShares: tier.weights ? tier.weights.map((w) => ({ cluster: w.cluster, weight: w.configured, share: w.share })) : null,
        targets: tier.targets.map((t) => ({
          key: t.key,
          usable: t.usable,
          healthy: t.healthy,
          total: t.total,
          latencyEwmaMs: tenths(t.load.rttMs),
          inFlight: t.load.inFlight,
          ejection: t.ejection && t.ejection.state !== 'active' ? t.ejection.state : null,
          reason: t.reason,
        })),
      })),
      failback: { phase: route.failback.phase, allowedShare: route.failback.allowedShare, reason: route.failback.reason },
      retriesAvailable: route.retryBudget.available,
    }));
}

function eventRows(doc: AdminDocuments['events'], now: number, limit: number): EventsStatus {
  const latest = doc.events
    .slice(-limit)
    .reverse()
    .map((e) => {
      const at = Date.parse(e.time);
      return {
        time: e.time,
        // Clamped: the gateway's clock may run a little ahead of this machine's.
        agoMs: Number.isNaN(at) ? null : Math.max(0, now - at),
        service: e.service,
        kind: e.kind,
        target: e.target ?? null,
        reason: e.reason,
      };
    });
  return { total: doc.events.length, latest };
}

/** The balancer keeps full precision; a tenth of a millisecond is all a reader can use. */
const tenths = (ms: number): number => Math.round(ms * 10) / 10;
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
