import net, { type Socket } from 'node:net';
import { formatHostPort, type HostPort, type ServiceConfig } from '../../config/index.js';
import { listen } from '../inbound/local-listener.js';

interface Bound {
  readonly server: net.Server;
  /** What the config asked for (port 0 stays 0 here), to tell whether a reload moved it. */
  readonly configured: string;
  readonly address: HostPort;
}

/**
 * One listening port per TCP service, where its apps connect. A reload
 * binds the ports it adds or moves before it closes any: a port that cannot
 * be bound refuses the reload and leaves the running ports as they were.
 * Closing a port stops new connections only; open ones carry on.
 */
export class TcpListeners {
  private readonly bound = new Map<string, Bound>();

  constructor(private readonly onConnection: (service: string, socket: Socket) => void) {}

  /** Makes the listening ports match the TCP services of `services`; resolves with the ports it bound. */
  async apply(services: readonly ServiceConfig[]): Promise<Map<string, HostPort>> {
    const wanted = new Map(services.flatMap((s) => (s.tcp ? [[s.name, s.tcp.listen] as const] : [])));
    const added = new Map<string, Bound>();
    try {
      for (const [name, address] of wanted) {
        if (this.bound.get(name)?.configured === formatHostPort(address)) continue;
        added.set(name, await this.bind(name, address));
      }
    } catch (err) {
      for (const b of added.values()) b.server.close();
      throw err;
    }
    for (const [name, b] of this.bound) {
      if (wanted.has(name) && !added.has(name)) continue;
      b.server.close();
      this.bound.delete(name);
    }
    for (const [name, b] of added) this.bound.set(name, b);
    return new Map([...added].map(([name, b]) => [name, b.address]));
  }

  /** Stops accepting on every port; open connections are the proxy's to drain. */
  close(): void {
    for (const b of this.bound.values()) b.server.close();
    this.bound.clear();
  }

  private async bind(service: string, address: HostPort): Promise<Bound> {
    // allowHalfOpen: an app's FIN ends only its direction (half-close goes through);
    // pauseOnConnect: its first bytes wait in the socket until an upstream is connected.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.on('connection', (socket: Socket) => this.onConnection(service, socket));
    try {
      return { server, configured: formatHostPort(address), address: await listen(server, address) };
    } catch (err) {
      throw new Error(`services.${service}.listen: cannot listen on ${formatHostPort(address)}: ${(err as Error).message}`, { cause: err });
    }
  }
}
