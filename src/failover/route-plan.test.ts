import { describe, expect, it } from 'vitest';
import { planRoute, type RemoteServiceState, type RouteQuestion } from './route-plan.js';

const remote = (cluster: string, over: Partial<RemoteServiceState> = {}): RemoteServiceState => ({
  cluster,
  exported: true,
  healthy: 2,
  total: 2,
  liveReplicas: 1,
  stale: false,
  ...over,
});
const ask = (over: Partial<RouteQuestion>): RouteQuestion => ({ local: undefined, remotes: [], region: undefined, crossedCluster: false, ...over });
const targets = (q: RouteQuestion) => {
  const plan = planRoute(q);
  return plan.kind === 'targets' ? plan.targets.map((t) => (t.kind === 'local' ? 'local' : t.cluster)) : plan.kind;
};

describe('planRoute', () => {
  it('keeps traffic local while any local endpoint is healthy, remotes only as fallback', () => {
    expect(targets(ask({ local: { healthy: 1, total: 3 }, remotes: [remote('b')] }))).toEqual(['local', 'b']);
  });

  it('goes remote when no local endpoint is healthy or the service is not run here', () => {
    expect(targets(ask({ local: { healthy: 0, total: 2 }, remotes: [remote('b')] }))).toEqual(['b']);
    expect(targets(ask({ remotes: [remote('b')] }))).toEqual(['b']);
  });

  it('orders remotes by region, then by name', () => {
    const remotes = [remote('d', { region: 'eu' }), remote('c', { region: 'us' }), remote('b', { region: 'eu' })];
    expect(targets(ask({ region: 'us', remotes }))).toEqual(['c', 'b', 'd']);
    expect(targets(ask({ remotes }))).toEqual(['b', 'c', 'd']);
  });

  it('skips clusters that do not export, are stale, have nothing healthy or no live gateway', () => {
    const remotes = [
      remote('b', { exported: false }),
      remote('c', { stale: true }),
      remote('d', { healthy: 0 }),
      remote('e', { liveReplicas: 0 }),
      remote('f'),
    ];
    expect(targets(ask({ remotes }))).toEqual(['f']);
  });

  it('answers unknown-service when nobody runs and exports it', () => {
    expect(planRoute(ask({ remotes: [remote('b', { exported: false })] })).kind).toBe('unknown-service');
    expect(planRoute(ask({})).kind).toBe('unknown-service');
  });

  it('answers no-healthy-endpoints when it is exported or run here but nothing is healthy, and says why', () => {
    const plan = planRoute(ask({ local: { healthy: 0, total: 2 }, remotes: [remote('b', { healthy: 0 }), remote('c', { stale: true })] }));
    expect(plan).toEqual({ kind: 'no-healthy-endpoints', reason: 'nothing healthy: local 0/2, b 0/2, c stale' });
    expect(planRoute(ask({ remotes: [remote('b', { liveReplicas: 0 })] })).kind).toBe('no-healthy-endpoints');
  });

  it('never forwards a request that already crossed a cluster', () => {
    expect(targets(ask({ crossedCluster: true, local: { healthy: 1, total: 1 }, remotes: [remote('b')] }))).toEqual(['local']);
    expect(targets(ask({ crossedCluster: true, local: { healthy: 0, total: 1 }, remotes: [remote('b')] }))).toBe('no-healthy-endpoints');
    expect(targets(ask({ crossedCluster: true, remotes: [remote('b')] }))).toBe('unknown-service');
  });
});
