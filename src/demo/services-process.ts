/**
 * The demo services of one cluster, in one process: `hello` (HTTP/1.1) on two
 * ports and `echo` (gRPC) on one. Every answer names the cluster and endpoint
 * that gave it (header `x-demo-cluster` / the echo reply), which is how the
 * demo tells where traffic went. Killing this process is "all of the
 * cluster's endpoints die"; starting it again on the same ports brings them
 * back. The demo can make every answer slower over IPC ({ delayMs }).
 *
 * Usage (forked by the demo): services-process.js CLUSTER DELAY_MS HELLO_PORT HELLO_PORT ECHO_PORT (port 0 = any)
 */
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECHO_SAY, HEALTH_CHECK, SERVING, type Answer } from './grpc-definitions.js';

const [cluster = 'unknown', delayArg = '0', ...portArgs] = process.argv.slice(2);
const [helloA = 0, helloB = 0, echoPort = 0] = portArgs.map(Number);
let delayMs = Number(delayArg);

const later = (fn: () => void): void => {
  if (delayMs > 0) setTimeout(fn, delayMs);
  else fn();
};

function helloServer(name: string, port: number): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    later(() => {
      if (req.url === '/healthz') return res.end('ok\n');
      const body = `hello from ${cluster} (${name})\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-demo-cluster': cluster, 'x-demo-endpoint': name });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function echoServer(name: string, port: number): Promise<number> {
  const server = new grpc.Server();
  const answer: Answer = { cluster, endpoint: name };
  const reply = Buffer.from(JSON.stringify(answer));
  server.addService(
    { say: ECHO_SAY, check: HEALTH_CHECK },
    {
      say: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => later(() => done(null, reply)),
      check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => later(() => done(null, SERVING)),
    },
  );
  return new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
}

process.on('message', (m: { delayMs?: number }) => {
  if (typeof m?.delayMs === 'number') delayMs = Math.max(0, m.delayMs);
});
// The demo went away (its IPC channel closed): so do we.
process.on('disconnect', () => process.exit(0));

try {
  const hello = [await helloServer('hello-1', helloA), await helloServer('hello-2', helloB)];
  const echo = await echoServer('echo-1', echoPort);
  process.send?.({ listening: { hello, echo } });
  console.log(JSON.stringify({ msg: 'demo services listening', cluster, hello, echo }));
} catch (err) {
  console.error(`demo services of ${cluster}: cannot listen: ${(err as Error).message}`);
  process.exit(1);
}
