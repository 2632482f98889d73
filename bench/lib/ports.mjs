// Free loopback ports, for servers that must be told their port before they start (nginx,
// HAProxy, a backend restarted on the same port). Bound and released at once: another process may
// take one meanwhile, but on a bench machine that is rare enough.
import net from 'node:net';

export async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = net.createServer().once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export const freePort = async () => (await freePorts(1))[0];
