/**
 * Several nats-servers linked the two ways meshgate clusters link their NATS:
 *  - a super-cluster: one single-node NATS cluster per name, joined by
 *    `gateway {}` blocks (each lists all the others);
 *  - a hub with leaf nodes: the hub listens for leaf nodes, each leaf dials it.
 *
 * With `proxiedLinks`, every link goes through a fault proxy so a test can cut
 * one link (A↔C, so that only B can bridge them) while the others stay up.
 *
 * Gateway links need care: servers gossip each other's gateway URLs, so a
 * server may dial any URL it has heard of for a peer. One proxy per server is
 * therefore the only address anyone learns for it (its `advertise`), and that
 * proxy tells links apart by the gateway name in the CONNECT line the dialing
 * server sends first. Leaf nodes need no such trick: the hub is told not to
 * advertise, so each leaf only ever dials its own proxy.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CleanupStack } from './cleanup.js';
import { combineFaultControls, startFaultProxy, type FaultControl, type FaultProxy } from './fault-proxy.js';
import { freePort } from './ports.js';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats.js';
import { waitUntil } from './wait.js';

/** Options applied to every server of a topology. */
export type TopologyServerOptions = Omit<NatsServerOptions, 'name' | 'clientPort' | 'monitorPort' | 'dir' | 'extraConfig'>;

export interface TopologyOptions {
  /** Route every link through a fault proxy (see link()). */
  proxiedLinks?: boolean;
  server?: TopologyServerOptions;
  /** How long to wait for the topology to form. Default 20 s. */
  timeoutMs?: number;
}

export interface NatsSuperCluster {
  readonly names: readonly string[];
  readonly servers: readonly NatsServer[];
  server(name: string): NatsServer;
  /** Both directions of the gateway link between clusters a and b (needs proxiedLinks). */
  link(a: string, b: string): FaultControl;
  /** The proxy in front of a server's gateway port (needs proxiedLinks). */
  gatewayProxy(name: string): FaultProxy;
  /** Waits until every server has outbound and inbound gateway connections to all others. */
  waitConnected(timeoutMs?: number): Promise<void>;
  /** The /gatewayz document of one server. */
  gatewayz(name: string): Promise<Gatewayz>;
  close(): Promise<void>;
}

export interface NatsHubWithLeaves {
  readonly hub: NatsServer;
  readonly leaves: readonly NatsServer[];
  leaf(name: string): NatsServer;
  /** The proxy between a leaf and the hub (needs proxiedLinks). */
  link(leafName: string): FaultProxy;
  /** Waits until the hub lists every leaf and every leaf its hub connection. */
  waitConnected(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The parts of /gatewayz we read. */
export interface Gatewayz {
  name: string;
  outbound_gateways?: Record<string, { connection?: { name?: string } }>;
  inbound_gateways?: Record<string, Array<{ connection?: { name?: string } }>>;
}

/** The parts of /leafz we read. */
export interface Leafz {
  leafnodes: number;
  leafs?: Array<{ name?: string; account?: string }>;
}

const DEFAULT_TOPOLOGY_TIMEOUT_MS = 20_000;

function validateNames(names: readonly string[], what: string): void {
  if (names.length === 0) throw new Error(`${what}: give at least one name`);
  const seen = new Set<string>();
  for (const name of names) {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`${what}: name ${JSON.stringify(name)} must be letters, digits, '-' or '_'`);
    if (seen.has(name)) throw new Error(`${what}: name ${JSON.stringify(name)} appears twice`);
    seen.add(name);
  }
}

/** The gateway name in a NATS `CONNECT {...}` line, if it is one. */
export function gatewayNameOfConnectLine(line: string): string | undefined {
  const m = /^CONNECT\s+(\{.*\})\s*$/i.exec(line.trim());
  if (!m) return undefined;
  try {
    const parsed = JSON.parse(m[1]!) as { gateway?: unknown };
    return typeof parsed.gateway === 'string' ? parsed.gateway : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `build`; on failure tears down whatever it had started, then rethrows. */
async function buildOrUndo<T>(stack: CleanupStack, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (err) {
    const cleanupErrors = await stack.run();
    if (cleanupErrors.length > 0) {
      throw new AggregateError([err, ...cleanupErrors], `${String(err)}\n(and cleanup after it failed: ${cleanupErrors.map((e) => e.message).join('; ')})`);
    }
    throw err;
  }
}

async function topologyDir(stack: CleanupStack, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  stack.add(() => rm(dir, { recursive: true, force: true }), `remove ${dir}`);
  return dir;
}

export async function startNatsSuperCluster(names: readonly string[], opts: TopologyOptions = {}): Promise<NatsSuperCluster> {
  validateNames(names, 'natsSuperCluster');
  const stack = new CleanupStack();
  return buildOrUndo(stack, async () => {
    const dir = await topologyDir(stack, 'meshgate-nats-super-');
    const gatewayPorts = new Map<string, number>();
    for (const name of names) gatewayPorts.set(name, await freePort());

    // With proxies, the address everyone dials for a server is its proxy's.
    const proxies = new Map<string, FaultProxy>();
    if (opts.proxiedLinks) {
      for (const name of names) {
        const proxy = await startFaultProxy(
          { host: '127.0.0.1', port: gatewayPorts.get(name)! },
          { classify: gatewayNameOfConnectLine },
        );
        stack.add(() => proxy.close(), `gateway proxy for ${name}`);
        proxies.set(name, proxy);
      }
    }
    const dialAddress = (name: string): string =>
      proxies.get(name)?.address ?? `127.0.0.1:${gatewayPorts.get(name)!}`;

    const servers = await Promise.all(
      names.map(async (name) => {
        const others = names.filter((n) => n !== name);
        const extraConfig = [
          'gateway {',
          `  name: ${JSON.stringify(name)}`,
          `  listen: "127.0.0.1:${gatewayPorts.get(name)!}"`,
          ...(opts.proxiedLinks ? [`  advertise: "${dialAddress(name)}"`] : []),
          // Only the clusters we list: nothing discovered from elsewhere joins a test.
          '  reject_unknown_cluster: true',
          '  gateways: [',
          ...others.map((o) => `    { name: ${JSON.stringify(o)}, urls: ["nats://${dialAddress(o)}"] }`),
          '  ]',
          '}',
        ].join('\n');
        const server = await startNatsServer({ ...opts.server, name, dir, extraConfig });
        stack.add(() => server.close(), `nats-server ${name}`);
        return server;
      }),
    );

    const cluster = new SuperCluster(names, servers, proxies, stack, opts.timeoutMs ?? DEFAULT_TOPOLOGY_TIMEOUT_MS);
    await cluster.waitConnected();
    return cluster;
  });
}

class SuperCluster implements NatsSuperCluster {
  constructor(
    readonly names: readonly string[],
    readonly servers: readonly NatsServer[],
    private readonly proxies: ReadonlyMap<string, FaultProxy>,
    private readonly stack: CleanupStack,
    private readonly timeoutMs: number,
  ) {}

  server(name: string): NatsServer {
    const server = this.servers.find((s) => s.name === name);
    if (!server) throw new Error(`no server ${JSON.stringify(name)} in this super-cluster (have ${this.names.join(', ')})`);
    return server;
  }

  gatewayProxy(name: string): FaultProxy {
    this.server(name);
    const proxy = this.proxies.get(name);
    if (!proxy) throw new Error('gateway links are not proxied: start with natsSuperCluster(names, { proxiedLinks: true })');
    return proxy;
  }

  link(a: string, b: string): FaultControl {
    if (a === b) throw new Error(`link(${a}, ${b}): a cluster has no gateway link to itself`);
    // a's connections into b's proxy, and b's into a's.
    return combineFaultControls([this.gatewayProxy(b).forClass(a), this.gatewayProxy(a).forClass(b)]);
  }

  gatewayz(name: string): Promise<Gatewayz> {
    return this.server(name).monitor<Gatewayz>('/gatewayz');
  }

  async waitConnected(timeoutMs = this.timeoutMs): Promise<void> {
    let missing: string[] = [];
    await waitUntil(
      async () => {
        missing = [];
        for (const name of this.names) {
          const gz = await this.gatewayz(name);
          for (const other of this.names) {
            if (other === name) continue;
            if (!gz.outbound_gateways?.[other]?.connection) missing.push(`${name}→${other} outbound`);
            if (!(gz.inbound_gateways?.[other]?.length ?? 0)) missing.push(`${name}←${other} inbound`);
          }
        }
        return missing.length === 0;
      },
      {
        what: `NATS gateways between ${this.names.join(', ')} to connect`,
        timeoutMs,
        intervalMs: 100,
        abortIf: () => exitedServer(this.servers),
        detail: () => `still missing: ${missing.join(', ')}\n` + this.servers.map((s) => s.process.tail(15)).join('\n'),
      },
    );
  }

  close(): Promise<void> {
    return this.stack.runOrThrow('closing the NATS super-cluster');
  }
}

export async function startNatsHubWithLeaves(leafNames: readonly string[], opts: TopologyOptions & { hubName?: string } = {}): Promise<NatsHubWithLeaves> {
  const hubName = opts.hubName ?? 'hub';
  validateNames([hubName, ...leafNames], 'natsHubWithLeaves');
  const stack = new CleanupStack();
  return buildOrUndo(stack, async () => {
    const dir = await topologyDir(stack, 'meshgate-nats-leaf-');
    const leafPort = await freePort();
    const hub = await startNatsServer({
      ...opts.server,
      name: hubName,
      dir,
      // no_advertise: leaves must only ever dial the address we give them (their proxy).
      extraConfig: ['leafnodes {', `  listen: "127.0.0.1:${leafPort}"`, '  no_advertise: true', '}'].join('\n'),
    });
    stack.add(() => hub.close(), `nats-server ${hubName}`);

    const proxies = new Map<string, FaultProxy>();
    if (opts.proxiedLinks) {
      for (const name of leafNames) {
        const proxy = await startFaultProxy({ host: '127.0.0.1', port: leafPort });
        stack.add(() => proxy.close(), `leaf proxy for ${name}`);
        proxies.set(name, proxy);
      }
    }

    const leaves = await Promise.all(
      leafNames.map(async (name) => {
        const dial = proxies.get(name)?.address ?? `127.0.0.1:${leafPort}`;
        const leaf = await startNatsServer({
          ...opts.server,
          name,
          dir,
          extraConfig: ['leafnodes {', '  remotes: [', `    { url: "nats-leaf://${dial}" }`, '  ]', '}'].join('\n'),
        });
        stack.add(() => leaf.close(), `nats-server ${name}`);
        return leaf;
      }),
    );

    const topology = new HubWithLeaves(hub, leaves, proxies, stack, opts.timeoutMs ?? DEFAULT_TOPOLOGY_TIMEOUT_MS);
    await topology.waitConnected();
    return topology;
  });
}

class HubWithLeaves implements NatsHubWithLeaves {
  constructor(
    readonly hub: NatsServer,
    readonly leaves: readonly NatsServer[],
    private readonly proxies: ReadonlyMap<string, FaultProxy>,
    private readonly stack: CleanupStack,
    private readonly timeoutMs: number,
  ) {}

  leaf(name: string): NatsServer {
    const leaf = this.leaves.find((s) => s.name === name);
    if (!leaf) throw new Error(`no leaf ${JSON.stringify(name)} (have ${this.leaves.map((l) => l.name).join(', ')})`);
    return leaf;
  }

  link(leafName: string): FaultProxy {
    this.leaf(leafName);
    const proxy = this.proxies.get(leafName);
    if (!proxy) throw new Error('leaf links are not proxied: start with natsHubWithLeaves(names, { proxiedLinks: true })');
    return proxy;
  }

  async waitConnected(timeoutMs = this.timeoutMs): Promise<void> {
    const all = [this.hub, ...this.leaves];
    let missing: string[] = [];
    await waitUntil(
      async () => {
        missing = [];
        const hubz = await this.hub.monitor<Leafz>('/leafz');
        const names = new Set((hubz.leafs ?? []).map((l) => l.name));
        // Older servers may not name leaves in /leafz: fall back to the count.
        const named = names.size > 0 && !names.has(undefined);
        for (const leaf of this.leaves) {
          if (named && !names.has(leaf.name)) missing.push(`${this.hub.name}←${leaf.name}`);
          const leafz = await leaf.monitor<Leafz>('/leafz');
          if (leafz.leafnodes < 1) missing.push(`${leaf.name}→${this.hub.name}`);
        }
        if (hubz.leafnodes < this.leaves.length) missing.push(`hub has ${hubz.leafnodes} of ${this.leaves.length} leaves`);
        return missing.length === 0;
      },
      {
        what: `leaf nodes ${this.leaves.map((l) => l.name).join(', ')} to connect to ${this.hub.name}`,
        timeoutMs,
        intervalMs: 100,
        abortIf: () => exitedServer(all),
        detail: () => `still missing: ${missing.join(', ')}\n` + all.map((s) => s.process.tail(15)).join('\n'),
      },
    );
  }

  close(): Promise<void> {
    return this.stack.runOrThrow('closing the NATS hub and leaves');
  }
}

/** A reason to stop waiting: a server that should be up has exited (and was not restarted). */
function exitedServer(servers: readonly NatsServer[]): string | undefined {
  const dead = servers.find((s) => s.process.exitStatus !== undefined);
  return dead ? `nats-server ${dead.name} exited` : undefined;
}
