import http from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { gatewayConfig, sleep, useHarness, type GatewayProcess } from '../harness/index.js';

const h = useHarness();

const MiB = 2 ** 20;
const BODY_BYTES = 50 * MiB;
const STALL_AFTER = 1 * MiB;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
// While the far side reads nothing, a streaming gateway lets the sender get
// ahead only by socket and stream buffers; a buffering one would take it all.
const MAX_AHEAD = BODY_BYTES / 2;

/** Resolves once `read()` has not changed for `quietMs` (bounded by `maxMs`). */
async function settled(read: () => number, quietMs = 500, maxMs = 10_000): Promise<number> {
  const start = Date.now();
  let last = read();
  let lastChange = Date.now();
  while (Date.now() - start < maxMs) {
    await sleep(50);
    const now = read();
    if (now !== last) [last, lastChange] = [now, Date.now()];
    else if (Date.now() - lastChange >= quietMs) break;
  }
  return last;
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** A gate the test opens to let a stalled backend go on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

function localTarget(gw: GatewayProcess) {
  const [host, port] = gw.localAddress.split(':');
  return { host, port: Number(port) };
}

describe('local proxy - streaming with backpressure', () => {
  it('streams a 50 MiB upload: a stalled endpoint stalls the client, then every byte arrives', async () => {
    const resume = gate();
    let received = 0;
    const backend = await h.httpBackend(async (req, res) => {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received >= STALL_AFTER) await resume.opened;
      }
      res.end(JSON.stringify({ bytes: received }));
    });
    const gw = await h.gateway(gatewayConfig({ bulk: { endpoints: [backend.address], timeouts: { request: '60s' } } }));
    await gw.request('bulk', '/warm');
    received = 0;
    const baseline = await gw.process.rss();

    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= BODY_BYTES) return void this.push(null);
        sent += CHUNK.length;
        this.push(CHUNK);
      },
    });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ ...localTarget(gw), method: 'POST', path: '/upload', headers: { host: 'bulk' }, agent: false });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      body.pipe(req);
    });

    const aheadWhileStalled = (await settled(() => sent)) - received;
    const rssWhileStalled = await gw.process.rss();
    resume.open();
    const result = await response;

    console.log(`upload: client ahead by ${mib(aheadWhileStalled)} while stalled; gateway RSS +${mib(rssWhileStalled - baseline)}`);
    expect(aheadWhileStalled).toBeLessThan(MAX_AHEAD);
    expect(rssWhileStalled - baseline).toBeLessThan(MAX_AHEAD);
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ bytes: BODY_BYTES });
  });

  it('streams a 50 MiB download: a stalled client stalls the endpoint, then every byte arrives', async () => {
    let written = 0;
    const backend = await h.httpBackend(async (_req, res) => {
      const out = res as http.ServerResponse;
      out.writeHead(200, { 'content-type': 'application/octet-stream' });
      while (written < BODY_BYTES) {
        written += CHUNK.length;
        if (!out.write(CHUNK)) await new Promise((r) => out.once('drain', r));
      }
      out.end();
    });
    const gw = await h.gateway(gatewayConfig({ bulk: { endpoints: [backend.address], timeouts: { request: '60s' } } }));
    const baseline = await gw.process.rss();

    let read = 0;
    const finished = new Promise<{ status: number; bytes: number; resume: () => void }>((resolve, reject) => {
      http
        .get({ ...localTarget(gw), path: '/download', headers: { host: 'bulk' }, agent: false }, (res) => {
          res.on('data', (c: Buffer) => {
            read += c.length;
            if (read >= STALL_AFTER && !res.isPaused() && read - c.length < STALL_AFTER) {
              res.pause();
              resolve({ status: res.statusCode ?? 0, bytes: read, resume: () => res.resume() });
            }
          });
          res.on('error', reject);
        })
        .on('error', reject);
    });
    const stalled = await finished;

    const aheadWhileStalled = (await settled(() => written)) - read;
    const rssWhileStalled = await gw.process.rss();
    const done = new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        if (read >= BODY_BYTES) {
          clearInterval(poll);
          resolve(read);
        }
      }, 20);
    });
    stalled.resume();
    const total = await Promise.race([done, sleep(30_000).then(() => read)]);

    console.log(`download: endpoint ahead by ${mib(aheadWhileStalled)} while stalled; gateway RSS +${mib(rssWhileStalled - baseline)}`);
    expect(stalled.status).toBe(200);
    expect(aheadWhileStalled).toBeLessThan(MAX_AHEAD);
    expect(rssWhileStalled - baseline).toBeLessThan(MAX_AHEAD);
    expect(total).toBe(BODY_BYTES);
  });
});
