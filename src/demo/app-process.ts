/**
 * The demo's app in us-east: steady open-loop traffic through its gateway,
 * `GET /` to `hello` over HTTP/1.1 and `demo.Echo/Say` to `echo` over gRPC,
 * each on a fixed timetable (a slow answer never delays the next request).
 * Outcomes go to the demo over IPC in batches every 250 ms.
 *
 * Usage (forked by the demo): app-process.js GATEWAY_HOST:PORT HELLO_PER_S ECHO_PER_S
 */
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { ECHO_SAY, type Answer } from './grpc-definitions.js';
import type { Outcome } from './traffic.js';

const [gateway = '127.0.0.1:4140', helloRate = '50', echoRate = '30'] = process.argv.slice(2);
const BATCH_MS = 250;
const TIMEOUT_MS = 10_000;

let batch: Outcome[] = [];
const record = (o: Outcome): void => void batch.push(o);

const pool = new Pool(`http://${gateway}`, { connections: 32, pipelining: 1, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
async function hello(): Promise<void> {
  const at = Date.now();
  try {
    const { statusCode, headers, body } = await pool.request({ path: '/', method: 'GET', headers: { host: 'hello' } });
    await body.dump();
    const cluster = headers['x-demo-cluster'];
    if (statusCode === 200 && typeof cluster === 'string') return record({ at, service: 'hello', cluster, ok: true, ms: Date.now() - at, idempotent: true });
    const why = headers['meshgate-error'];
    record({ at, service: 'hello', ok: false, ms: Date.now() - at, error: `${statusCode}${typeof why === 'string' ? ` ${why}` : ''}`, idempotent: true });
  } catch (err) {
    record({ at, service: 'hello', ok: false, ms: Date.now() - at, error: (err as { code?: string }).code ?? (err as Error).message, idempotent: true });
  }
}

const client = new grpc.Client(gateway, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo' });
function echo(): void {
  const at = Date.now();
  const request = Buffer.from('hi');
  client.makeUnaryRequest(ECHO_SAY.path, ECHO_SAY.requestSerialize, ECHO_SAY.responseDeserialize, request, new grpc.Metadata(), { deadline: at + TIMEOUT_MS }, (err, reply) => {
    const ms = Date.now() - at;
    if (err || !reply) return record({ at, service: 'echo', ok: false, ms, error: err ? `grpc ${grpc.status[err.code] ?? err.code}` : 'empty reply', idempotent: false });
    try {
      const answer = JSON.parse(reply.toString()) as Answer;
      record({ at, service: 'echo', cluster: answer.cluster, ok: true, ms, idempotent: false });
    } catch {
      record({ at, service: 'echo', ok: false, ms, error: 'unreadable reply', idempotent: false });
    }
  });
}

/** Calls `send` `perSecond` times a second on a fixed timetable from now on. */
function openLoop(perSecond: number, send: () => unknown): void {
  if (!(perSecond > 0)) return;
  const t0 = Date.now();
  let sent = 0;
  const tick = (): void => {
    const due = Math.floor(((Date.now() - t0) * perSecond) / 1000) + 1;
    for (; sent < due; sent++) void send();
    setTimeout(tick, 5);
  };
  tick();
}

openLoop(Number(helloRate), hello);
openLoop(Number(echoRate), echo);
setInterval(() => {
  if (batch.length === 0) return;
  process.send?.({ outcomes: batch });
  batch = [];
}, BATCH_MS);
process.on('disconnect', () => process.exit(0));
console.log(JSON.stringify({ msg: 'demo app sending', gateway, helloPerSecond: Number(helloRate), echoPerSecond: Number(echoRate) }));
