/**
 * A TCP proxy on 127.0.0.1 that misbehaves on command, to put network faults
 * between real parts (gateway ↔ endpoint, NATS server ↔ NATS server).
 *
 * Modes, switchable at runtime:
 *  - 'pass'            forward both ways;
 *  - { latencyMs }     forward, each chunk delayed by latencyMs, order kept;
 *  - 'drop'            new connections accepted then closed at once; open ones closed;
 *  - 'blackhole'       accepted, bytes swallowed both ways, sockets held open;
 *  - 'reset'           connections reset (RST via socket.resetAndDestroy()).
 *
 * A blackholed connection is closed when the blackhole lifts: its swallowed
 * bytes are gone, and resuming it would hand the peers a corrupt stream.
 *
 * With `classify`, each connection is named from the first line its client
 * sends, and modes can be set per name (`forClass`). The NATS super-cluster
 * uses this to cut one gateway link (a ↔ c) while others through the same
 * proxy keep working.
 */
import net from 'node:net';

export type FaultMode = 'pass' | 'drop' | 'blackhole' | 'reset' | { latencyMs: number };

/** The part of a fault proxy a test drives: its mode and how many connections it saw. */
export interface FaultControl {
  mode(next: FaultMode): void;
  readonly currentMode: FaultMode;
  /** Connections accepted (for a class: connections classified under that name). */
  readonly accepted: number;
}

export interface FaultProxyOptions {
  /**
   * Names a connection from the first line its client sends (at most 16 KiB are
   * held back while waiting for it). Server bytes flow meanwhile, since many
   * protocols (NATS) have the server speak first.
   */
  classify?: (firstLine: string) => string | undefined;
}

export interface FaultProxy extends FaultControl {
  readonly host: string;
  readonly port: number;
  /** '127.0.0.1:PORT' */
  readonly address: string;
  readonly target: { host: string; port: number };
  /** Connections currently open. */
  readonly active: number;
  /** Mode and counter for the connections `classify` named `name`. */
  forClass(name: string): FaultControl;
  close(): Promise<void>;
}

export interface FaultTarget {
  host: string;
  port: number;
}

/** Above this many delayed bytes in one direction, stop reading the sender. */
const LATENCY_HIGH_WATER = 1 << 20;
const MAX_SNIFF_BYTES = 16 * 1024;

export async function startFaultProxy(target: FaultTarget, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const proxy = new FaultProxyImpl(target, opts);
  await proxy.listen();
  return proxy;
}

/** One control that drives several (e.g. both directions of a link). */
export function combineFaultControls(controls: readonly FaultControl[]): FaultControl {
  if (controls.length === 0) throw new Error('combineFaultControls needs at least one control');
  return {
    mode(next: FaultMode): void {
      for (const c of controls) c.mode(next);
    },
    get currentMode(): FaultMode {
      return controls[0]!.currentMode;
    },
    get accepted(): number {
      return controls.reduce((sum, c) => sum + c.accepted, 0);
    },
  };
}

export function describeMode(mode: FaultMode): string {
  return typeof mode === 'string' ? mode : `latency ${mode.latencyMs} ms`;
}

function validateMode(mode: FaultMode): FaultMode {
  if (typeof mode === 'string') {
    if (mode === 'pass' || mode === 'drop' || mode === 'blackhole' || mode === 'reset') return mode;
  } else if (mode && Number.isFinite(mode.latencyMs) && mode.latencyMs >= 0) {
    return { latencyMs: mode.latencyMs };
  }
  throw new Error(`unknown fault mode ${JSON.stringify(mode)}: use 'pass', 'drop', 'blackhole', 'reset' or { latencyMs }`);
}

class FaultProxyImpl implements FaultProxy {
  readonly host = '127.0.0.1';
  port = 0;
  private readonly server: net.Server;
  private defaultMode: FaultMode = 'pass';
  private readonly classModes = new Map<string, FaultMode>();
  private readonly classCounts = new Map<string, number>();
  private readonly conns = new Set<Connection>();
  private acceptedCount = 0;
  private closing: Promise<void> | undefined;

  constructor(
    readonly target: FaultTarget,
    private readonly opts: FaultProxyOptions,
  ) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.host, port: 0 }, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        this.port = typeof address === 'object' && address ? address.port : 0;
        resolve();
      });
    });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get accepted(): number {
    return this.acceptedCount;
  }

  get active(): number {
    return this.conns.size;
  }

  get currentMode(): FaultMode {
    return this.defaultMode;
  }

  mode(next: FaultMode): void {
    this.defaultMode = validateMode(next);
    for (const conn of [...this.conns]) {
      if (conn.cls === undefined || !this.classModes.has(conn.cls)) conn.apply(this.defaultMode);
    }
  }

  forClass(name: string): FaultControl {
    const self = this;
    return {
      mode(next: FaultMode): void {
        const mode = validateMode(next);
        self.classModes.set(name, mode);
        for (const conn of [...self.conns]) {
          if (conn.cls === name) conn.apply(mode);
        }
      },
      get currentMode(): FaultMode {
        return self.classModes.get(name) ?? self.defaultMode;
      },
      get accepted(): number {
        return self.classCounts.get(name) ?? 0;
      },
    };
  }

  modeFor(cls: string | undefined): FaultMode {
    return (cls !== undefined ? this.classModes.get(cls) : undefined) ?? this.defaultMode;
  }

  classified(cls: string | undefined): void {
    if (cls !== undefined) this.classCounts.set(cls, (this.classCounts.get(cls) ?? 0) + 1);
  }

  forget(conn: Connection): void {
    this.conns.delete(conn);
  }

  private onConnection(client: net.Socket): void {
    this.acceptedCount++;
    const conn = new Connection(client, this, this.opts.classify);
    this.conns.add(conn);
    conn.start(this.defaultMode);
  }

  close(): Promise<void> {
    // Idempotent: a test may close the proxy itself before teardown does.
    this.closing ??= new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      for (const conn of [...this.conns]) conn.close(false);
    });
    return this.closing;
  }
}

type State = 'forwarding' | 'blackholed' | 'closed';

/** One client connection and (while forwarding) its upstream connection. */
class Connection {
  cls: string | undefined;
  private classifiedYet: boolean;
  private state: State = 'forwarding';
  latencyMs = 0;
  private upstream: net.Socket | undefined;
  private toUpstream: Lane | undefined;
  private toClient: Lane | undefined;
  private sniffed: Buffer[] = [];
  private sniffedBytes = 0;

  constructor(
    private readonly client: net.Socket,
    private readonly proxy: FaultProxyImpl,
    private readonly classify: ((firstLine: string) => string | undefined) | undefined,
  ) {
    this.classifiedYet = classify === undefined;
  }

  start(mode: FaultMode): void {
    const { client } = this;
    client.on('error', (err) => this.onError('client', err));
    client.on('close', () => {
      this.close(false);
      this.proxy.forget(this);
    });
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('end', () => {
      // A client that half-closes before a full first line is named from what it sent.
      if (this.state === 'forwarding' && !this.classifiedYet) this.classifyHeld();
      // A blackhole holds the connection open, whatever the client does.
      if (this.state === 'forwarding') this.toUpstream?.end();
    });
    if (mode === 'drop') {
      this.state = 'closed';
      client.destroy();
    } else if (mode === 'reset') {
      this.close(true);
    } else if (mode === 'blackhole') {
      this.state = 'blackholed';
    } else {
      this.latencyMs = mode === 'pass' ? 0 : mode.latencyMs;
      this.connectUpstream();
    }
  }

  private connectUpstream(): void {
    const upstream = net.connect({ host: this.proxy.target.host, port: this.proxy.target.port, allowHalfOpen: true });
    this.upstream = upstream;
    this.toUpstream = new Lane(this.client, upstream, this);
    this.toClient = new Lane(upstream, this.client, this);
    upstream.on('error', (err) => this.onError('upstream', err));
    upstream.on('data', (chunk: Buffer) => {
      if (this.state === 'forwarding') this.toClient?.push(chunk);
    });
    upstream.on('end', () => {
      if (this.state === 'forwarding') this.toClient?.end();
    });
    upstream.on('close', () => {
      // Flush what is still delayed, then end the client; a blackhole keeps the client.
      if (this.state === 'forwarding') this.toClient?.end();
    });
  }

  private fromClient(chunk: Buffer): void {
    if (this.state !== 'forwarding') return; // swallowed
    if (this.classifiedYet) {
      this.toUpstream?.push(chunk);
      return;
    }
    this.sniffed.push(chunk);
    this.sniffedBytes += chunk.length;
    if (chunk.includes(0x0a) || this.sniffedBytes >= MAX_SNIFF_BYTES) this.classifyHeld();
  }

  /** Names the connection from the held first line, applies that name's mode, releases the bytes. */
  private classifyHeld(): void {
    const held = Buffer.concat(this.sniffed);
    this.sniffed = [];
    this.sniffedBytes = 0;
    this.classifiedYet = true;
    const newline = held.indexOf(0x0a);
    const line = held.subarray(0, newline < 0 ? held.length : newline).toString('utf8');
    try {
      this.cls = this.classify?.(line);
    } catch {
      this.cls = undefined; // a classifier bug must not break the proxy
    }
    this.proxy.classified(this.cls);
    this.apply(this.proxy.modeFor(this.cls));
    if (this.state === 'forwarding' && held.length > 0) this.toUpstream?.push(held);
  }

  /** Moves an open connection to `mode`. */
  apply(mode: FaultMode): void {
    if (this.state === 'closed') return;
    if (mode === 'drop') {
      this.close(false);
    } else if (mode === 'reset') {
      this.close(true);
    } else if (mode === 'blackhole') {
      if (this.state === 'blackholed') return;
      this.state = 'blackholed';
      this.sniffed = [];
      this.toUpstream?.clear();
      this.toClient?.clear();
      // Keep reading so bytes are swallowed rather than backing up in the kernel.
      this.client.resume();
      this.upstream?.resume();
    } else if (this.state === 'blackholed') {
      this.close(false);
    } else {
      this.latencyMs = mode === 'pass' ? 0 : mode.latencyMs;
    }
  }

  private onError(side: 'client' | 'upstream', _err: Error): void {
    if (this.state === 'closed') return;
    if (side === 'upstream' && this.state === 'blackholed') return; // the client is held regardless
    // A broken or refused upstream is shown to the client as a reset, which is
    // what it would see without the proxy; a client error is passed on the same way.
    this.close(true);
  }

  close(reset: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.sniffed = [];
    this.toUpstream?.clear();
    this.toClient?.clear();
    for (const socket of [this.client, this.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset) {
        try {
          socket.resetAndDestroy();
        } catch {
          socket.destroy();
        }
      } else {
        socket.destroy();
      }
    }
  }

  isForwarding(): boolean {
    return this.state === 'forwarding';
  }
}

/** One direction of a connection: optional delay, order kept, backpressure honoured. */
class Lane {
  private queue: Array<{ at: number; chunk: Buffer }> = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private endPending = false;
  private ended = false;
  private readonly holds = new Set<'drain' | 'queue'>();

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly conn: Connection,
  ) {}

  push(chunk: Buffer): void {
    if (!this.conn.isForwarding() || this.ended) return;
    const delay = this.conn.latencyMs;
    if (delay <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    // Never earlier than the chunk before it, so a latency cut keeps order.
    const last = this.queue[this.queue.length - 1];
    const at = Math.max(Date.now() + delay, last ? last.at : 0);
    this.queue.push({ at, chunk });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > LATENCY_HIGH_WATER) this.hold('queue');
    this.schedule();
  }

  end(): void {
    if (this.ended) return;
    if (this.queue.length === 0) this.finish();
    else this.endPending = true;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.endPending = false;
    this.holds.clear();
  }

  private finish(): void {
    this.ended = true;
    if (!this.dst.destroyed) this.dst.end();
  }

  private write(chunk: Buffer): void {
    if (this.dst.destroyed || this.dst.writableEnded) return;
    if (!this.dst.write(chunk)) {
      this.hold('drain');
      this.dst.once('drain', () => this.release('drain'));
    }
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.at - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.timer = undefined;
    if (!this.conn.isForwarding()) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const item = this.queue.shift()!;
      this.queuedBytes -= item.chunk.length;
      this.write(item.chunk);
    }
    if (this.queuedBytes <= LATENCY_HIGH_WATER) this.release('queue');
    if (this.queue.length > 0) this.schedule();
    else if (this.endPending) this.finish();
  }

  private hold(reason: 'drain' | 'queue'): void {
    this.holds.add(reason);
    this.src.pause();
  }

  private release(reason: 'drain' | 'queue'): void {
    if (!this.holds.delete(reason)) return;
    if (this.holds.size === 0 && this.conn.isForwarding() && !this.src.destroyed) this.src.resume();
  }
}
