// The demo service: says which cluster and instance answered (body and x-cluster /
// x-instance headers), /healthz for the gateway's checks. SIGTERM stops accepting and
// ends once the requests in flight are answered, as a well-behaved service does.
import http from 'node:http';
import os from 'node:os';

const cluster = process.env.CLUSTER ?? 'unknown';
const instance = process.env.INSTANCE ?? os.hostname();
const port = Number(process.env.PORT ?? 8080);

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok\n');
  // meshgate-source names the calling cluster when the request crossed one.
  const body = `${JSON.stringify({ cluster, instance, method: req.method, path: req.url, source: req.headers['meshgate-source'] })}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'x-cluster': cluster, 'x-instance': instance });
  res.end(body);
});
server.listen(port, '0.0.0.0', () => console.log(JSON.stringify({ msg: 'hello listening', cluster, instance, port })));

const stop = () => {
  console.log(JSON.stringify({ msg: 'hello stopping', cluster, instance }));
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
