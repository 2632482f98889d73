/**
 * The demo federation's shape and each gateway's config, as data: three
 * clusters, two of them in region `us` (so that for us-east, us-west is the
 * `region` tier and eu-west the `any` tier), one shared root of trust.
 */
export interface DemoCluster {
  readonly name: string;
  readonly region: string;
  /**
   * How much later its services answer, always. On loopback every cluster is
   * a millisecond away; eu-west stands across an ocean, which also gives the
   * latency-routed `echo` a clear order (us-east, us-west, then eu-west) for
   * the story's slow-down to change. Well under the slow-down's 50 ms: with a
   * request in flight a target's cost doubles, and eu-west must stay cheaper
   * than a slow us-west even then.
   */
  readonly distanceMs: number;
}

export const FEDERATION = 'demo';
export const CLUSTERS: readonly DemoCluster[] = [
  { name: 'us-east', region: 'us', distanceMs: 0 },
  { name: 'us-west', region: 'us', distanceMs: 0 },
  { name: 'eu-west', region: 'eu', distanceMs: 10 },
];
/** Where the app runs: its gateway is never killed by the story. */
export const APP_CLUSTER = 'us-east';
export const ROOT_TRUST_DOMAIN = 'demo.example';
export const trustDomainOf = (cluster: string): string => `${cluster}.${ROOT_TRUST_DOMAIN}`;
/** Every gateway of the demo federation may call every exported service. */
export const ALL_DEMO_GATEWAYS = `spiffe://*.${ROOT_TRUST_DOMAIN}/meshgate/gateway/*/*`;
export const REPLICA = 'gw1';
export const memberId = (cluster: string): string => `${cluster}.${REPLICA}`;

export interface ServicePorts {
  readonly hello: readonly number[];
  readonly echo: number;
}

// Checked often so that the story moves in seconds (the defaults, 5 s and 3 failures, are for production);
// the default 1 s timeout stays, so that a busy machine does not make endpoints flap.
const HEALTH_CHECK = { interval: '500ms', healthyThreshold: 2, unhealthyThreshold: 2 } as const;

/** The config of `cluster`'s gateway (a YAML-able object): loopback, port 0 everywhere, read back from its log. */
export function gatewayConfig(cluster: DemoCluster, natsUrl: string, caDir: string, ports: ServicePorts): Record<string, unknown> {
  return {
    federation: FEDERATION,
    cluster: cluster.name,
    replica: REPLICA,
    region: cluster.region,
    nats: { servers: [natsUrl] },
    // Shared root: the other trust domains need no bundle.
    identity: { trustDomain: trustDomainOf(cluster.name), ca: caDir, federation: CLUSTERS.filter((c) => c.name !== cluster.name).map((c) => ({ trustDomain: trustDomainOf(c.name) })) },
    listeners: { local: '127.0.0.1:0', federation: '127.0.0.1:0', admin: '127.0.0.1:0' },
    limits: { drainTimeout: '1s' },
    services: {
      // Default tiers: local, then region (us-west for us-east), then any.
      hello: { protocol: 'http', endpoints: ports.hello.map((p) => `127.0.0.1:${p}`), export: true, allow: [ALL_DEMO_GATEWAYS], healthCheck: { path: '/healthz', ...HEALTH_CHECK } },
      // One tier holding every cluster: peak-EWMA latency alone decides.
      echo: { protocol: 'grpc', endpoints: [`127.0.0.1:${ports.echo}`], export: true, allow: [ALL_DEMO_GATEWAYS], healthCheck: HEALTH_CHECK, failover: { order: ['any'] } },
    },
  };
}

/** nats-server config of one cluster's server: a super-cluster, each server a gateway to the other two. */
export function natsConfig(name: string, gatewayPorts: ReadonlyMap<string, number>): string {
  const others = [...gatewayPorts].filter(([n]) => n !== name);
  return [
    `server_name: ${JSON.stringify(`nats-${name}`)}`,
    'listen: "127.0.0.1:-1"',
    // A dead link is noticed in seconds, not the default minutes.
    'ping_interval: "1s"',
    'ping_max: 3',
    'gateway {',
    `  name: ${JSON.stringify(name)}`,
    `  listen: "127.0.0.1:${gatewayPorts.get(name)}"`,
    '  reject_unknown_cluster: true',
    '  gateways: [',
    ...others.map(([n, port]) => `    { name: ${JSON.stringify(n)}, urls: ["nats://127.0.0.1:${port}"] }`),
    '  ]',
    '}',
    '',
  ].join('\n');
}
