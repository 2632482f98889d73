/**
 * Where a request for a service may go, in order of preference: this
 * cluster's endpoints while any is healthy, then the other clusters that
 * export the service and report healthy endpoints through live gateway
 * replicas. The caller tries the next target only when the previous one could
 * not be reached at all (nothing was sent), so the order is also the fallback.
 *
 * A deliberately simple first policy: the same region before others, then by
 * name so that every gateway agrees. Spill-over by health, peak-EWMA and
 * budgets replace the ordering inside this module without changing its shape.
 */

export interface LocalServiceState {
  readonly healthy: number;
  readonly total: number;
}

export interface RemoteServiceState {
  readonly cluster: string;
  readonly region?: string;
  readonly exported: boolean;
  readonly healthy: number;
  readonly total: number;
  /** Gateway replicas of that cluster we can send to now. */
  readonly liveReplicas: number;
  /** True when no live replica vouches for the numbers any more. */
  readonly stale: boolean;
}

export interface RouteQuestion {
  /** Undefined when this cluster does not run the service. */
  readonly local: LocalServiceState | undefined;
  readonly remotes: readonly RemoteServiceState[];
  readonly region: string | undefined;
  /** The request already crossed a cluster: it may only be served here. */
  readonly crossedCluster: boolean;
}

export type RouteTarget = { readonly kind: 'local' } | { readonly kind: 'remote'; readonly cluster: string };

export type RoutePlan =
  | { readonly kind: 'targets'; readonly targets: readonly RouteTarget[]; readonly reason: string }
  | { readonly kind: 'unknown-service'; readonly reason: string }
  | { readonly kind: 'no-healthy-endpoints'; readonly reason: string };

export function planRoute(q: RouteQuestion): RoutePlan {
  const localHealthy = q.local !== undefined && q.local.healthy > 0;
  if (q.crossedCluster) {
    if (!q.local) return { kind: 'unknown-service', reason: 'not run in this cluster (and a federated request is never forwarded again)' };
    if (!localHealthy) return { kind: 'no-healthy-endpoints', reason: `0 of ${q.local.total} local endpoints healthy (a federated request is never forwarded again)` };
    return { kind: 'targets', targets: [{ kind: 'local' }], reason: 'federated request: served locally only' };
  }

  const exporters = q.remotes.filter((r) => r.exported);
  const usable = exporters
    .filter((r) => !r.stale && r.healthy > 0 && r.liveReplicas > 0)
    .sort((a, b) => regionRank(a, q.region) - regionRank(b, q.region) || (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  const remoteTargets: RouteTarget[] = usable.map((r) => ({ kind: 'remote', cluster: r.cluster }));

  if (localHealthy) {
    return { kind: 'targets', targets: [{ kind: 'local' }, ...remoteTargets], reason: `${q.local?.healthy} of ${q.local?.total} local endpoints healthy` };
  }
  if (remoteTargets.length > 0) {
    const why = q.local ? `0 of ${q.local.total} local endpoints healthy` : 'not run in this cluster';
    return { kind: 'targets', targets: remoteTargets, reason: `${why}; exported by ${usable.map((r) => r.cluster).join(', ')}` };
  }
  if (!q.local && exporters.length === 0) return { kind: 'unknown-service', reason: 'no cluster runs and exports it' };
  const where = [q.local ? `local 0/${q.local.total}` : undefined, ...exporters.map(describeRemote)].filter(Boolean).join(', ');
  return { kind: 'no-healthy-endpoints', reason: `nothing healthy: ${where}` };
}

const regionRank = (r: RemoteServiceState, region: string | undefined): number => (region !== undefined && r.region === region ? 0 : 1);

function describeRemote(r: RemoteServiceState): string {
  if (r.stale) return `${r.cluster} stale`;
  if (r.liveReplicas === 0) return `${r.cluster} no live gateway`;
  return `${r.cluster} ${r.healthy}/${r.total}`;
}
