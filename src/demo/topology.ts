/**
 * The demo federation as local processes: a shared root and one intermediate
 * CA per cluster (`meshgate ca init`), a NATS super-cluster of three servers,
 * each cluster's demo services and gateway, and the app in us-east. Also
 * what the story and the keys do to it: kill and restore a cluster's
 * endpoints, slow them down, kill and restart a gateway.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { GATEWAY_NODE_OPTIONS } from '../config/index.js';
import { freePort } from './free-port.js';
import { APP_CLUSTER, CLUSTERS, gatewayConfig, natsConfig, ROOT_TRUST_DOMAIN, trustDomainOf, type DemoCluster, type ServicePorts } from './gateway-config.js';
import { jsonLine, lineCount, StartError, waitForLine } from './log-lines.js';
import { Supervisor, type Supervised } from './supervisor.js';
import { findNatsServer } from './tools.js';
import type { Outcome, TrafficPlan } from './traffic.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const SERVICES_MODULE = fileURLToPath(new URL('./services-process.js', import.meta.url));
const APP_MODULE = fileURLToPath(new URL('./app-process.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const NATS_ATTEMPTS = 3;

export interface GatewayAddresses {
  readonly local: string;
  readonly admin: string;
}

interface ClusterState {
  readonly cluster: DemoCluster;
  natsUrl: string;
  ports: ServicePorts;
  services: Supervised | undefined;
  gateway: Supervised | undefined;
  addresses: GatewayAddresses | undefined;
  configFile: string;
  delayMs: number;
}

export class DemoFederation {
  private readonly clusters = new Map<string, ClusterState>();
  private app: Supervised | undefined;

  constructor(
    readonly dir: string,
    private readonly supervisor: Supervisor,
    private readonly progress: (line: string) => void,
  ) {}

  get keysDir(): string {
    return path.join(this.dir, 'ca');
  }

  /** Starts everything but the app; resolves once every gateway is ready. */
  async start(): Promise<void> {
    const natsBin = findNatsServer();
    await mkdir(path.join(this.dir, 'logs'), { recursive: true });
    this.progress(`making a shared root (${ROOT_TRUST_DOMAIN}) and one intermediate CA per cluster (meshgate ca init)…`);
    await this.makeCas();
    this.progress('starting a NATS super-cluster: one nats-server per cluster, linked as NATS gateways…');
    const natsUrls = await this.startNats(natsBin);
    this.progress('starting the demo services (hello over HTTP, echo over gRPC) in each cluster…');
    const started = await Promise.all(CLUSTERS.map((c) => this.startServices(c)));
    CLUSTERS.forEach((cluster, i) => {
      const { proc, ports } = started[i] as { proc: Supervised; ports: ServicePorts };
      this.clusters.set(cluster.name, {
        cluster,
        natsUrl: natsUrls[i] as string,
        ports,
        services: proc,
        gateway: undefined,
        addresses: undefined,
        configFile: path.join(this.dir, `gateway-${cluster.name}.yaml`),
        delayMs: 0,
      });
    });
    this.progress('starting one gateway per cluster (meshgate run)…');
    await Promise.all(
      CLUSTERS.map(async (c) => {
        const s = this.state(c.name);
        await writeFile(s.configFile, stringify(gatewayConfig(c, s.natsUrl, path.join(this.keysDir, c.name), s.ports)));
        await this.startGateway(c.name);
      }),
    );
  }

  /** The admin address of a cluster's gateway, while it runs. */
  admin(cluster: string): string | undefined {
    const s = this.state(cluster);
    return s.gateway && !s.gateway.exit ? s.addresses?.admin : undefined;
  }

  gatewayAddresses(cluster: string): GatewayAddresses | undefined {
    return this.state(cluster).addresses;
  }

  endpointsUp(cluster: string): boolean {
    const s = this.state(cluster).services;
    return s !== undefined && !s.exit;
  }

  gatewayUp(cluster: string): boolean {
    const g = this.state(cluster).gateway;
    return g !== undefined && !g.exit;
  }

  delayOf(cluster: string): number {
    return this.state(cluster).delayMs;
  }

  /** Starts the app in us-east; its outcomes go to `onOutcomes`. */
  startApp(plan: Omit<TrafficPlan, 'gateway'>, onOutcomes: (batch: Outcome[]) => void): void {
    const gateway = this.state(APP_CLUSTER).addresses?.local;
    if (!gateway) throw new Error(`${APP_CLUSTER}'s gateway is not running`);
    this.app = this.supervisor.fork('app', APP_MODULE, [gateway, String(plan.helloPerSecond), String(plan.echoPerSecond)], { logFile: this.logFile('app') });
    this.app.child.on('message', (m: { outcomes?: Outcome[] }) => {
      if (Array.isArray(m?.outcomes)) onOutcomes(m.outcomes);
    });
  }

  /** SIGKILL of the process that holds every endpoint of the cluster. */
  async killEndpoints(cluster: string): Promise<void> {
    const s = this.state(cluster);
    if (s.services && !s.services.exit) await this.supervisor.kill(s.services);
  }

  /** The cluster's endpoints again, on the same ports (and as slow as they were). */
  async restoreEndpoints(cluster: string): Promise<void> {
    const s = this.state(cluster);
    if (s.services && !s.services.exit) return;
    s.services = (await this.startServices(s.cluster, s.ports, s.delayMs)).proc;
  }

  /** Every answer of the cluster's endpoints (checks included) `delayMs` later than its distance makes them. */
  slow(cluster: string, delayMs: number): void {
    const s = this.state(cluster);
    s.delayMs = delayMs;
    if (s.services && !s.services.exit) s.services.child.send({ delayMs: s.cluster.distanceMs + delayMs });
  }

  /** SIGKILL of the cluster's gateway: it never says goodbye, membership has to find out. */
  async killGateway(cluster: string): Promise<void> {
    const g = this.state(cluster).gateway;
    if (g && !g.exit) await this.supervisor.kill(g);
  }

  async restartGateway(cluster: string): Promise<void> {
    if (this.gatewayUp(cluster)) return;
    await this.startGateway(cluster);
  }

  /** Stops the app first (no requests into a half-stopped federation), then everything else at once. */
  async stop(): Promise<void> {
    if (this.app) await this.supervisor.stop(this.app, 1_000);
    await this.supervisor.stopAll(3_000);
  }

  private state(cluster: string): ClusterState {
    const s = this.clusters.get(cluster);
    if (!s) throw new Error(`no cluster ${cluster} in the demo`);
    return s;
  }

  private logFile(name: string): string {
    return path.join(this.dir, 'logs', `${name}.log`);
  }

  private async makeCas(): Promise<void> {
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 60_000 });
    const root = path.join(this.keysDir, 'root');
    await cli('ca', 'init', '--trust-domain', ROOT_TRUST_DOMAIN, '--out', root);
    await Promise.all(CLUSTERS.map((c) => cli('ca', 'init', '--trust-domain', trustDomainOf(c.name), '--parent', root, '--out', path.join(this.keysDir, c.name))));
  }

  /**
   * The gateway ports are picked before the servers bind them, so another
   * program may take one in between: then the servers are stopped and the
   * super-cluster started again on new ports (a few times at most).
   */
  private async startNats(bin: string): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      const gatewayPorts = new Map<string, number>();
      for (const c of CLUSTERS) gatewayPorts.set(c.name, await freePort());
      const procs: Supervised[] = [];
      try {
        return await Promise.all(
          CLUSTERS.map(async (c) => {
            const conf = path.join(this.dir, `nats-${c.name}.conf`);
            await writeFile(conf, natsConfig(c.name, gatewayPorts));
            const logFile = this.logFile(`nats-${c.name}`);
            const from = lineCount(logFile);
            const proc = this.supervisor.start(`nats-server ${c.name}`, bin, ['-c', conf], { logFile });
            procs.push(proc);
            const line = await waitForLine(proc, (l) => l.includes('Listening for client connections on'), 'its client port', START_TIMEOUT_MS, from);
            await waitForLine(proc, (l) => l.includes('Server is ready'), '"Server is ready"', START_TIMEOUT_MS, from);
            return `nats://${line.split(' on ').pop()?.trim()}`;
          }),
        );
      } catch (err) {
        await Promise.all(procs.map((p) => this.supervisor.stop(p, 1_000)));
        if (attempt >= NATS_ATTEMPTS || !/address already in use/i.test(String(err))) throw err;
        this.progress(`a NATS gateway port was taken meanwhile; starting the super-cluster again on other ports (attempt ${attempt + 1} of ${NATS_ATTEMPTS})…`);
      }
    }
  }

  private async startServices(cluster: DemoCluster, ports: ServicePorts = { hello: [0, 0], echo: 0 }, extraDelayMs = 0): Promise<{ proc: Supervised; ports: ServicePorts }> {
    const logFile = this.logFile(`services-${cluster.name}`);
    const from = lineCount(logFile); // a restart must not be taken as listening by the last run's line
    const args = [cluster.name, String(cluster.distanceMs + extraDelayMs), ...ports.hello.map(String), String(ports.echo)];
    const proc = this.supervisor.fork(`${cluster.name}'s demo services`, SERVICES_MODULE, args, { logFile });
    const line = jsonLine(await waitForLine(proc, (l) => l.includes('demo services listening'), 'listening', START_TIMEOUT_MS, from));
    return { proc, ports: { hello: line['hello'] as number[], echo: line['echo'] as number } };
  }

  private async startGateway(cluster: string): Promise<void> {
    const s = this.state(cluster);
    const logFile = this.logFile(`gateway-${cluster}`);
    const from = lineCount(logFile);
    const proc = this.supervisor.start(`${cluster}'s gateway`, process.execPath, [...GATEWAY_NODE_OPTIONS, CLI, 'run', '--config', s.configFile], { logFile });
    s.gateway = proc;
    const listening = (listener: string) => (l: string) => l.includes('"msg":"listening"') && l.includes(`"listener":"${listener}"`);
    const local = jsonLine(await waitForLine(proc, listening('local'), 'its local listener', START_TIMEOUT_MS, from))['address'];
    const admin = jsonLine(await waitForLine(proc, listening('admin'), 'its admin listener', START_TIMEOUT_MS, from))['address'];
    if (typeof local !== 'string' || typeof admin !== 'string') throw new StartError(`${cluster}'s gateway logged no address for its listeners (see ${logFile})`);
    s.addresses = { local, admin };
    await waitForLine(proc, (l) => l.includes('"msg":"ready"'), 'ready', START_TIMEOUT_MS, from);
  }
}
