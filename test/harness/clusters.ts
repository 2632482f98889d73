/**
 * Several clusters of one federation for tests: a NATS super-cluster (one
 * nats-server per cluster), shared-root trust, and one gateway per cluster
 * from the CLI. Plus the waits and reads most federation tests need.
 */
import { sharedRootTrust, type ClusterTrust } from './federation.js';
import { gatewayConfig, type GatewayProcess } from './gateway-process.js';
import { getJson } from './http-client.js';
import { scrape, sumOf } from './prometheus.js';
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
  /** Extra environment variables for a cluster's gateway process. */
  readonly env?: (cluster: string) => Readonly<Record<string, string>>;
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
      gateways.set(cluster, await h.gateway(config, opts.env?.(cluster)));
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

/** A counter on a gateway's /metrics, summed over the series that have `label` as the value of any label; 0 when none. */
export async function metricValue(gw: GatewayProcess, name: string, label: string): Promise<number> {
  return (await scrape(gw.adminUrl)).filter((s) => s.name === name && Object.values(s.labels).includes(label)).reduce((sum, s) => sum + s.value, 0);
}

/** A counter summed over the series whose labels include all of `labels`; 0 when none. */
export async function metricWith(gw: GatewayProcess, name: string, labels: Readonly<Record<string, string>>): Promise<number> {
  return sumOf(await scrape(gw.adminUrl), name, labels);
}
