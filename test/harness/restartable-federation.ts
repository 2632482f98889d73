/**
 * Like startFederation (clusters.ts), but each cluster's gateway can be
 * stopped — crashed with SIGKILL or drained with SIGTERM — and started again
 * from the same config, as an operator's supervisor would: same cluster and
 * replica name (so the same SPIFFE ID and member id), fresh process, fresh
 * ports (listeners bind port 0; membership announces the new address).
 */
import type { FederationOptions } from './clusters.js';
import { sharedRootTrust, type ClusterTrust } from './federation.js';
import { gatewayConfig, startGateway, writeConfig, type GatewayProcess } from './gateway-process.js';
import type { NatsSuperCluster } from './nats-topologies.js';
import type { ExitStatus } from './processes.js';
import type { Harness } from './scope.js';

/** How long a drained gateway may take to exit: its drain timeout (15 s by default) plus slack for a busy machine. */
const DRAIN_EXIT_TIMEOUT_MS = 30_000;
const CRASH_EXIT_TIMEOUT_MS = 10_000;
/**
 * Each step of a gateway's start. Generous: a restart lands while the machine
 * is busiest (the rest of the federation under load), and Node alone may then
 * take many seconds to load the CLI.
 */
const START_TIMEOUT_MS = 60_000;

export interface RestartableFederation {
  readonly clusters: readonly string[];
  readonly nats: NatsSuperCluster;
  readonly trust: ReadonlyMap<string, ClusterTrust>;
  /** The cluster's current gateway process (the latest one started). */
  gw(cluster: string): GatewayProcess;
  /** Every gateway process the cluster has had, oldest first (their logs outlive them). */
  history(cluster: string): readonly GatewayProcess[];
  /** SIGKILL ('crash') or SIGTERM ('drain') the cluster's gateway, and wait for it to exit. */
  stopGateway(cluster: string, how: 'crash' | 'drain'): Promise<ExitStatus>;
  /** Starts the cluster's gateway again from the same config; resolves once it is ready. */
  startGateway(cluster: string): Promise<GatewayProcess>;
}

export async function startRestartableFederation(h: Harness, opts: FederationOptions): Promise<RestartableFederation> {
  const clusters = opts.clusters ?? ['a', 'b', 'c'];
  const nats = await h.natsSuperCluster([...clusters]);
  const trust = await sharedRootTrust(await h.tempDir(), clusters);
  const configs = new Map<string, Record<string, unknown>>();
  for (const cluster of clusters) {
    configs.set(
      cluster,
      gatewayConfig(opts.services(cluster), {
        cluster,
        replica: 'r1',
        nats: { servers: [nats.server(cluster).url] },
        identity: (trust.get(cluster) as ClusterTrust).identity(opts.identity?.(cluster) ?? {}),
        ...opts.config?.(cluster),
      }),
    );
  }
  const gateways = new Map<string, GatewayProcess>();
  const history = new Map<string, GatewayProcess[]>(clusters.map((c) => [c, []]));
  const configOf = (cluster: string): Record<string, unknown> => {
    const config = configs.get(cluster);
    if (!config) throw new Error(`no cluster ${JSON.stringify(cluster)} in this federation (have ${clusters.join(', ')})`);
    return config;
  };
  const current = (cluster: string): GatewayProcess => {
    const gw = gateways.get(cluster);
    if (!gw) throw new Error(`the gateway of cluster ${cluster} was never started`);
    return gw;
  };
  const start = async (cluster: string): Promise<GatewayProcess> => {
    const old = gateways.get(cluster);
    if (old && old.process.exitStatus === undefined) throw new Error(`the gateway of cluster ${cluster} (pid ${old.process.pid}) is still running: stop it first`);
    const file = await writeConfig(await h.tempDir('meshgate-gw-'), configOf(cluster));
    const gw = await startGateway(file, (cmd, args, opts) => h.spawn(cmd, args, opts), START_TIMEOUT_MS);
    gateways.set(cluster, gw);
    history.get(cluster)?.push(gw);
    return gw;
  };
  await Promise.all(clusters.map(start));
  return {
    clusters,
    nats,
    trust,
    gw: current,
    history: (cluster) => history.get(cluster) ?? [],
    async stopGateway(cluster, how) {
      const proc = current(cluster).process;
      proc.kill(how === 'crash' ? 'SIGKILL' : 'SIGTERM');
      return proc.waitForExit(how === 'crash' ? CRASH_EXIT_TIMEOUT_MS : DRAIN_EXIT_TIMEOUT_MS);
    },
    startGateway: start,
  };
}
