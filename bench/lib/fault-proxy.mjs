// A TCP proxy on loopback that can blackhole chosen connections, for the
// benches' NATS gateway links: the JavaScript twin of the test harness's fault
// proxy (test/harness/fault-proxy.ts), cut down to what a bench needs: 'pass'
// and 'blackhole', per connection class.
//
// Connections are named from the first line their client sends (for a NATS
// gateway link: the CONNECT line, which carries the dialing server's gateway
// name), so one proxy in front of a server can cut the link from one cluster
// while links from the others through it keep working. Server bytes flow while
// the first line is awaited, since NATS servers speak first (INFO).
//
// A blackholed connection is held open and its bytes swallowed both ways; when
// the blackhole lifts, it is closed (its swallowed bytes are gone, and resuming
// it would hand the peers a corrupt stream) and new connections pass again.
import net from 'node:net';

const MAX_SNIFF_BYTES = 16 * 1024;

/** The gateway name in a NATS `CONNECT {...}` line, if it is one. */
export function gatewayNameOfConnectLine(line) {
  const m = /^CONNECT\s+(\{.*\})\s*$/i.exec(line.trim());
  if (!m) return undefined;
  try {
    const parsed = JSON.parse(m[1]);
    return typeof parsed.gateway === 'string' ? parsed.gateway : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a proxy to `target` ({host, port}) on 127.0.0.1, on a port of its own
 * or the one given (so that a restarted proxy keeps its address).
 * `classify(firstLine)` names a connection; `mode(cls, 'pass'|'blackhole')`
 * switches every connection of that name, open and future.
 */
export async function startFaultProxy(target, { classify, port = 0 } = {}) {
  const modes = new Map();
  const conns = new Set();
  const counts = new Map();

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const conn = { client, upstream: undefined, cls: undefined, state: 'sniffing', held: [], heldBytes: 0 };
    conns.add(conn);
    const close = () => {
      if (conn.state === 'closed') return;
      conn.state = 'closed';
      client.destroy();
      conn.upstream?.destroy();
      conns.delete(conn);
    };
    conn.close = close;
    conn.blackhole = () => {
      if (conn.state === 'closed' || conn.state === 'blackholed') return;
      conn.state = 'blackholed';
      conn.held = [];
      // Keep reading, so bytes are swallowed rather than backing up in the kernel.
      client.resume();
      conn.upstream?.resume();
    };
    client.on('error', close);
    client.on('close', close);
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    conn.upstream = upstream;
    upstream.on('error', () => {
      if (conn.state !== 'blackholed') close();
    });
    upstream.on('close', () => {
      if (conn.state !== 'blackholed') close();
    });
    upstream.on('data', (chunk) => {
      if (conn.state === 'forwarding' || conn.state === 'sniffing') client.write(chunk);
    });
    client.on('data', (chunk) => {
      if (conn.state === 'forwarding') {
        upstream.write(chunk);
        return;
      }
      if (conn.state !== 'sniffing') return; // blackholed: swallowed
      conn.held.push(chunk);
      conn.heldBytes += chunk.length;
      if (!chunk.includes(0x0a) && conn.heldBytes < MAX_SNIFF_BYTES) return;
      const held = Buffer.concat(conn.held);
      conn.held = [];
      const nl = held.indexOf(0x0a);
      try {
        conn.cls = classify?.(held.subarray(0, nl < 0 ? held.length : nl).toString('utf8'));
      } catch {
        conn.cls = undefined; // a classifier bug must not break the proxy
      }
      if (conn.cls !== undefined) counts.set(conn.cls, (counts.get(conn.cls) ?? 0) + 1);
      if (modes.get(conn.cls) === 'blackhole') {
        conn.blackhole();
        return;
      }
      conn.state = 'forwarding';
      upstream.write(held);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: `127.0.0.1:${server.address().port}`,
    port: server.address().port,
    /** Connections the classifier named `cls` so far. */
    accepted: (cls) => counts.get(cls) ?? 0,
    mode(cls, next) {
      if (next !== 'pass' && next !== 'blackhole') throw new Error(`fault proxy: unknown mode ${JSON.stringify(next)} (use 'pass' or 'blackhole')`);
      const before = modes.get(cls) ?? 'pass';
      modes.set(cls, next);
      for (const conn of [...conns]) {
        if (conn.cls !== cls) continue;
        if (next === 'blackhole') conn.blackhole();
        else if (before === 'blackhole' && conn.state === 'blackholed') conn.close();
      }
    },
    close() {
      for (const conn of [...conns]) conn.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
