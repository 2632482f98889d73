import { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';
import { parseHostPort, type HostPort } from '../../config/index.js';
import type { Pick, Target } from '../../failover/index.js';
import type { Logger } from '../../telemetry/index.js';
import type { Counters } from '../admin/counters.js';
import { asGatewayError, GatewayError } from '../errors.js';
import type { RemoteGateway, RemoteGatewayPool } from '../outbound/remote-gateways.js';
import type { FederationPeer } from '../protocol/federation-peer.js';
import { HOP_HEADER, SERVICE_HEADER } from '../protocol/propagation.js';
import { serviceFromAuthority } from '../proxy/authority.js';
import type { RetrySettings, RouteTable, ServiceRoute } from '../proxy/index.js';
import { abort, splice, type ByteStream, type SpliceEnd } from './splice.js';

/**
 * How long a gateway waits for a remote replica's answer to a tunnel beyond
 * the connect timeouts the replica itself may spend: the replica should be
 * the one to say its endpoints did not answer.
 */
const REMOTE_GRACE_MS = 250;

/** Another cluster's replicas, and the sessions that reach them: there once the federation runs. */
export interface RemoteReach {
  readonly pool: RemoteGatewayPool;
  readonly gateway: (memberId: string) => RemoteGateway | undefined;
}

export interface TcpProxyOptions {
  readonly cluster: string;
  readonly routes: RouteTable;
  readonly retry: RetrySettings;
  readonly remote: () => RemoteReach | undefined;
  readonly counters: Counters;
  readonly log: Logger;
  readonly now: () => number;
}

/** An upstream connection made for one downstream connection, and the cluster that took it. */
interface Connected {
  readonly upstream: ByteStream;
  readonly cluster: string;
}

/**
 * Plain TCP services. An app's connection to a service's port is given a
 * target as an HTTP request would be (the balancer's tiers, health, latency
 * and ejections): a local endpoint, or another cluster, reached by one
 * HTTP/2 CONNECT stream over the mTLS federation session, where that
 * cluster's gateway authorises the caller by the service's `allow` and
 * connects to an endpoint of its own. A connect that fails tries the next
 * target; a connection once made stays where it is until it ends.
 */
export class TcpProxy {
  /** The downstream side of every connection in progress, for drain. */
  private readonly open = new Set<ByteStream>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: TcpProxyOptions) {}

  get connections(): number {
    return this.open.size;
  }

  /** An app connected to the port of `service`. */
  async acceptApp(service: string, socket: Socket): Promise<void> {
    const { counters, log } = this.opts;
    this.track(socket);
    const route = this.opts.routes.route(service, this.opts.now());
    let connected: Connected;
    try {
      if (!route?.config?.tcp) throw new GatewayError('unknown-service', `${service} is no longer a TCP service here`, { service });
      connected = await this.connect(route, undefined, socket);
    } catch (err) {
      const error = asGatewayError(err);
      counters.add('meshgate_tcp_connections_total', [service, '', error.code]);
      log.warn({ service, error: { code: error.code, message: error.message }, ...error.context }, 'tcp connection failed');
      socket.destroy();
      return;
    }
    counters.add('meshgate_tcp_connections_total', [service, connected.cluster, 'connected']);
    const end = await splice(socket, connected.upstream, route.config.tcp.idleMs);
    counters.add('meshgate_tcp_bytes_total', [service, connected.cluster, 'sent'], end.sent);
    counters.add('meshgate_tcp_bytes_total', [service, connected.cluster, 'received'], end.received);
    this.logEnd(service, connected.cluster, end);
  }

  /**
   * Another cluster's gateway asks, by a CONNECT stream, for a connection to
   * one of our endpoints of a TCP service. Answers 200 once connected, or
   * the status and `meshgate-error` of why not.
   */
  async acceptTunnel(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, peer: FederationPeer): Promise<void> {
    const { counters, log } = this.opts;
    this.track(stream);
    const asked = headerString(headers[SERVICE_HEADER]) ?? serviceFromAuthority(headers[':authority']);
    const route = asked === undefined ? undefined : this.opts.routes.route(asked, this.opts.now());
    // Named in metrics only when it is a service of ours: a caller cannot mint label values.
    const service = route?.config?.tcp ? route.name : '(unknown)';
    let connected: Connected;
    try {
      if (!route?.config?.tcp || !route.policy) throw new GatewayError('unknown-service', `no TCP service named "${String(asked).slice(0, 100)}" in this cluster`);
      const verdict = route.policy.authorize(peer.spiffeId);
      if (!verdict.allowed) {
        counters.add('meshgate_federation_denied_total', peer.spiffeId);
        throw new GatewayError('forbidden', verdict.reason, { service, caller: peer.spiffeId });
      }
      connected = await this.connect(route, this.opts.cluster, stream);
    } catch (err) {
      const error = asGatewayError(err);
      counters.add('meshgate_federation_tcp_tunnels_total', [service, error.code]);
      log.warn({ service, caller: peer.spiffeId, error: { code: error.code, message: error.message } }, 'tcp tunnel refused');
      if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': error.status, 'meshgate-error': error.code }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200 });
    counters.add('meshgate_federation_tcp_tunnels_total', [service, 'connected']);
    const end = await splice(stream, connected.upstream, route.config.tcp.idleMs);
    this.logEnd(service, peer.cluster, end);
  }

  /** Resolves once no connection is open. */
  idle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Breaks off every open connection (the end of a drain that ran out of time). */
  destroyAll(): void {
    for (const side of this.open) abort(side);
  }

  private track(side: ByteStream): void {
    this.open.add(side);
    side.once('close', () => {
      this.open.delete(side);
      if (this.open.size > 0) return;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    });
  }

  /**
   * Picks targets until one connects. A remote replica that cannot be
   * reached at all hands over to the next one for free; any other failed
   * connect counts against its target and is tried elsewhere within the
   * service's retries and the retry budget. A refusal (403, 404) is final.
   * `only`: the one cluster allowed (a tunnel from another gateway is never
   * sent on again).
   */
  private async connect(route: ServiceRoute, only: string | undefined, downstream: ByteStream): Promise<Connected> {
    const { balancer } = route;
    const { now } = this.opts;
    balancer.recordRequest(now());
    let tried: Set<Target> | undefined;
    let lastError: GatewayError | undefined;
    let retries = 0;
    for (;;) {
      const pick = balancer.pick(now(), tried, only);
      if (!pick) {
        if (lastError) throw lastError;
        const where = only ? 'here' : 'here or in any exporting cluster';
        throw new GatewayError(balancer.saturated() ? 'overloaded' : 'no-healthy-endpoints', `${route.name}: no healthy endpoint ${where}`, { service: route.name });
      }
      const started = now();
      try {
        const upstream = await this.connectTo(route, pick);
        pick.done(now(), { rttMs: now() - started, failed: false, overloaded: false });
        if (downstream.destroyed) {
          upstream.destroy();
          throw new GatewayError('client-gone', 'the client went away while its connection was being made', { service: route.name });
        }
        return { upstream, cluster: pick.target.kind === 'local' ? this.opts.cluster : pick.target.cluster };
      } catch (err) {
        const error = asGatewayError(err);
        if (error.code === 'client-gone') throw error;
        const counts = error.status >= 500;
        pick.done(now(), { rttMs: now() - started, failed: counts, overloaded: error.status === 503 }, counts ? error.code : undefined);
        (tried ??= new Set()).add(pick.target);
        lastError = error;
        if (!counts || downstream.destroyed) throw error;
        if (pick.target.kind === 'remote' && error.unprocessed) continue;
        const mayRetry = retries < this.opts.retry.maxRetriesPerRequest && route.retryOn.includes('connect-failure') && balancer.tryRetry(now());
        if (!mayRetry) throw error;
        retries++;
      }
    }
  }

  /** One connect: to a local endpoint, or a tunnel through the remote replica the pick names. */
  private connectTo(route: ServiceRoute, pick: Pick): Promise<ByteStream> {
    const { target } = pick;
    const { connectMs } = route.timeouts;
    if (target.kind === 'local') return dial(parseHostPort(target.endpoint), connectMs, route.name);
    const reach = this.opts.remote();
    const gateway = reach?.gateway(target.replica);
    if (!reach || !gateway) {
      return Promise.reject(new GatewayError('upstream-connect', `gateway ${target.replica} is no longer a live member`, { gateway: target.replica }, { unprocessed: true }));
    }
    const headers: OutgoingHttpHeaders = {
      ':method': 'CONNECT',
      // RFC 9113 §8.5 wants host:port; the service is what selects, the port means nothing.
      ':authority': `${route.name}:0`,
      [SERVICE_HEADER]: route.name,
      [HOP_HEADER]: this.opts.cluster,
    };
    // The replica may spend a connect timeout on each endpoint it tries.
    const waitMs = connectMs * (1 + this.opts.retry.maxRetriesPerRequest) + REMOTE_GRACE_MS;
    return reach.pool.tunnel(gateway, headers, connectMs, waitMs);
  }

  private logEnd(service: string, cluster: string, end: SpliceEnd): void {
    const fields = { service, cluster, sent: end.sent, received: end.received, how: end.how };
    if (end.how === 'closed' || end.how === 'idle') this.opts.log.debug(fields, 'tcp connection ended');
    else this.opts.log.info(fields, 'tcp connection broken off');
  }
}

/** A TCP connection to an endpoint, or `upstream-connect` within `connectMs`. */
function dial(address: HostPort, connectMs: number, service: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
    const endpoint = `${address.host}:${address.port}`;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new GatewayError('upstream-connect', `${endpoint}: no connection in ${connectMs} ms`, { service, endpoint }));
    }, connectMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      resolve(socket);
    });
    const failed = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new GatewayError('upstream-connect', `${endpoint}: ${err.code ?? err.message}`, { service, endpoint }, { cause: err }));
    };
    socket.once('error', failed);
  });
}

function headerString(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value.toLowerCase() : undefined;
}
