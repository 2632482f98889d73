import net from 'node:net';

/**
 * A free port on 127.0.0.1, for the one address that must be written into
 * config files before anything listens: nats-server's gateway port, which the
 * other servers of the super-cluster dial. Everything else binds port 0.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port on 127.0.0.1'))));
    });
  });
}
