/**
 * Several clusters of one federation for tests: a NATS super-cluster (one
 * nats-server per cluster), shared-root trust, and one gateway per cluster
 * from the CLI. Plus the waits and reads most federation tests need.
 */
import { sharedRootTrust, type ClusterTrust } from './federation.js';
import { gatewayConfig, type GatewayProcess } from './gateway-process.js';
import { getJson } from './http-client.js';
import type { Harness } from './scope.js';
import { waitUntil } from './wait.js';

export const ALL_GATEWAYS = 'spiffe://*.test.example/meshgate/gateway/*/*';

export interface FederationOptions {
  /** What each cluster runs: its `services:` section. */
  readonly services: (cluster: string) => Record<string, unknown>;
  /** Extra keys for a cluster's `identity:` section. */
  readonly identity?: (cluster: string) => Record<string, unknown>;
  /** Extra top-level config keys for a cluster. */
  readonly config?: (cluster: string) => Record<string, unknown>;
  readonly clusters?: readonly string[];
}

export async function startFederation(h: Harness, opts: FederationOptions) {
  const clusters = opts.clusters ?? ['a', 'b', 'c'];
  const nats = await h.natsSuperCluster([...clusters]);
  const trust = await sharedRootTrust(await h.tempDir(), clusters);
  const gateways = new Map<string, GatewayProcess>();
  await Promise.all(
    clusters.map(async (cluster) => {
      const config = gatewayConfig(opts.services(cluster), {
        cluster,
        replica: 'r1',
        nats: { servers: [nats.server(cluster).url] },
        identity: (trust.get(cluster) as ClusterTrust).identity(opts.identity?.(cluster) ?? {}),
        ...opts.config?.(cluster),
      });
      gateways.set(cluster, await h.gateway(config));
    }),
  );
  const gw = (cluster: string) => gateways.get(cluster) as GatewayProcess;
  return { gw, trust, nats };
}

interface ServicesView {
  services: Record<string, Record<string, { healthy: number; total: number; stale: boolean }>>;
}

/** Waits until `viewer` sees `service` in `cluster`, fresh, with a healthy count `healthy` accepts. */
export async function waitForService(viewer: GatewayProcess, service: string, cluster: string, healthy: (n: number) => boolean = (n) => n > 0) {
  await waitUntil(
    async () => {
      const view = await getJson<ServicesView>(`${viewer.adminUrl}/debug/services`);
      const entry = view.services[service]?.[cluster];
      return entry !== undefined && !entry.stale && healthy(entry.healthy);
    },
    { timeoutMs: 30_000, what: `${service} in ${cluster} as seen by the viewer` },
  );
}

/** One series of a counter on a gateway's /metrics; 0 when absent. */
export async function metricValue(gw: GatewayProcess, name: string, label: string): Promise<number> {
  const text = (await (await fetch(`${gw.adminUrl}/metrics`)).text()).split('\n');
  const line = text.find((l) => l.startsWith(`${name}{`) && l.includes(`="${label}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** One series of a counter with several labels (every given label must match); 0 when absent. */
export async function metricWith(gw: GatewayProcess, name: string, labels: Readonly<Record<string, string>>): Promise<number> {
  const text = (await (await fetch(`${gw.adminUrl}/metrics`)).text()).split('\n');
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').pop()) : 0;
}
