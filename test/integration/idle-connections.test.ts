import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, writeCaDir } from '../../src/identity/index.js';
import {
  connectRawH2c,
  FrameType,
  gatewayConfig,
  getJson,
  httpRequest,
  issueSvid,
  metricValue,
  scrape,
  startGateway,
  useHarness,
  waitUntil,
  withTimeout,
  writeConfig,
  type GatewayProcess,
  type RawH2Connection,
} from '../harness/index.js';

const h = useHarness();

const TRUST_DOMAIN = 'idle.test.example';
const IDLE_SESSIONS = 300;
const TRUNCATED = 20;
/** Generous next to the 1 s headers timeout and 2 s idle timeout under test; a gateway that holds connections fails here. */
const CLOSE_BOUND_MS = 30_000;
/** SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2). */
const MAX_CONCURRENT_STREAMS = 0x3;

async function newCa(): Promise<string> {
  const dir = path.join(await h.tempDir(), 'ca');
  await writeCaDir(dir, await CertificateAuthority.createRoot({ trustDomain: TRUST_DOMAIN, ttlMs: 24 * 3_600_000, now: new Date() }));
  return dir;
}

const hostPort = (address: string) => {
  const [host, port] = address.split(':');
  return { host: host as string, port: Number(port) };
};

/** Resolves when the socket has closed, whoever closed it. */
const closed = (socket: net.Socket): Promise<void> =>
  new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

/** A raw connection that sends `bytes` and nothing more; destroyed at teardown if the gateway never closes it. */
function rawConnection(target: net.NetConnectOpts, bytes: Buffer | string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target, () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      socket.resume();
      socket.write(bytes);
      resolve(socket);
    });
    socket.once('error', reject);
    h.onCleanup(() => socket.destroy(), 'raw connection');
  });
}

/** SETTINGS parameters of the first SETTINGS frame the server sent (RFC 9113 §6.5.1: 16-bit id, 32-bit value). */
function serverSettings(conn: RawH2Connection<net.Socket>): Map<number, number> {
  const frame = conn.frames().find((f) => f.type === FrameType.SETTINGS && (f.flags & 0x1) === 0);
  const settings = new Map<number, number>();
  for (let i = 0; frame && i + 6 <= frame.payload.length; i += 6) settings.set(frame.payload.readUInt16BE(i), frame.payload.readUInt32BE(i + 2));
  return settings;
}

/** One h2 request on a new session; resolves with the status and the session, still open. */
async function oneH2Request(connect: () => http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer) {
  const session = connect();
  session.on('error', () => {});
  h.onCleanup(() => session.destroy(), 'h2 session');
  const status = await new Promise<number>((resolve, reject) => {
    const stream = session.request(headers);
    stream.once('response', (head) => resolve(Number(head[':status'])));
    stream.once('error', reject);
    stream.resume();
    stream.end(body);
  });
  let goaway = false;
  session.once('goaway', () => (goaway = true));
  const ended = new Promise<void>((resolve) => session.once('close', () => resolve()));
  return { status, ended, goaway: () => goaway };
}

/** Requests and /ready while `until` is pending: the gateway keeps serving apps and operators. */
async function serveThroughout(gw: GatewayProcess, until: Promise<unknown>): Promise<number> {
  let done = false;
  until.then(
    () => (done = true),
    () => (done = true),
  );
  let served = 0;
  for (let i = 0; i < 1_000 && !done; i++) {
    const res = await gw.request('hello', '/echo');
    expect(res.status, res.text()).toBe(200);
    expect((await getJson<{ ready: boolean }>(`${gw.adminUrl}/ready`)).ready).toBe(true);
    served++;
    await new Promise((r) => setTimeout(r, 100));
  }
  return served;
}

describe('idle and never-used connections', () => {
  it('closes sessions that open no stream, idle sessions and stalled prefaces on every listener, while serving throughout', async () => {
    const dir = await h.tempDir();
    const socketPath = path.join(dir, 'workload.sock');
    const ca = await newCa();
    const backend = await h.httpBackend({ name: 'hello' });
    const gw = await h.gateway(
      gatewayConfig(
        { hello: { endpoints: [backend.address] } },
        {
          replica: 'r1',
          identity: { trustDomain: TRUST_DOMAIN, ca, workloadApi: { socket: socketPath, entries: [] } },
          limits: { headersTimeout: '1s', idleTimeout: '2s' },
        },
      ),
    );
    const local = hostPort(gw.localAddress);

    // The local listener bounds streams per session (the default, nginx's 128).
    const probe = await connectRawH2c({ ...local, ackSettings: false });
    h.onCleanup(() => probe.socket.destroy(), 'probe');
    probe.sendPreface();
    await probe.waitFor(() => serverSettings(probe).size > 0, 5_000, 'the server SETTINGS');
    expect(serverSettings(probe).get(MAX_CONCURRENT_STREAMS)).toBe(128);

    // Preface and SETTINGS, then nothing: on the local listener, and to the Workload API with a preface cut short.
    const sessions: RawH2Connection<net.Socket>[] = [];
    for (let i = 0; i < IDLE_SESSIONS; i++) {
      const conn = await connectRawH2c({ ...local, ackSettings: false });
      h.onCleanup(() => conn.socket.destroy(), 'idle h2c session');
      conn.sendPreface();
      sessions.push(conn);
    }
    const truncated = await Promise.all(Array.from({ length: TRUNCATED }, () => rawConnection({ path: socketPath }, 'PRI * HTTP/2.0\r\n')));
    // The admin port gets a connection that never sends a request.
    const adminSilent = await rawConnection(hostPort(new URL(gw.adminUrl).host), '');

    // Sessions that were used once and then left idle: local h2c, federation mTLS h2, Workload API.
    const localUsed = await oneH2Request(() => http2.connect(gw.localUrl), { ':path': '/echo', ':authority': 'hello' });
    expect(localUsed.status).toBe(200);
    const peer = await issueSvid(ca, `spiffe://${TRUST_DOMAIN}/meshgate/gateway/other/tester`, await h.tempDir());
    const federationUsed = await oneH2Request(
      () => http2.connect(`https://${gw.federationAddress}`, { ...peer, rejectUnauthorized: false, minVersion: 'TLSv1.3' }),
      { ':path': '/echo', ':authority': 'hello', 'meshgate-service': 'nosuch' },
    );
    expect(federationUsed.status).toBe(404);
    const workloadUsed = await oneH2Request(
      () => http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) }),
      { ':method': 'POST', ':path': '/SpiffeWorkloadAPI/FetchJWTBundles', 'content-type': 'application/grpc', te: 'trailers' },
      // One empty message: a call (refused for its missing security header, which does not matter here).
      Buffer.alloc(5),
    );
    expect(workloadUsed.status).toBe(200);
    const h1Agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    h.onCleanup(() => h1Agent.destroy(), 'keep-alive agent');
    const h1Socket = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.get({ ...local, path: '/echo', headers: { host: 'hello' }, agent: h1Agent }, (res) => {
        res.resume();
        res.once('end', () => resolve(req.socket as net.Socket));
      });
      req.once('error', reject);
    });

    const allClosed = withTimeout(
      Promise.all([
        ...sessions.map((s) => s.closed),
        ...truncated.map(closed),
        closed(adminSilent),
        localUsed.ended,
        federationUsed.ended,
        workloadUsed.ended,
        closed(h1Socket),
      ]),
      CLOSE_BOUND_MS,
      'the gateway to close every idle and never-used connection',
    );
    const served = await serveThroughout(gw, allClosed);
    await allClosed;
    expect(served).toBeGreaterThan(0);
    // GOAWAY first: a well-behaved client learns that nothing it sent was lost.
    expect(localUsed.goaway() && federationUsed.goaway() && workloadUsed.goaway()).toBe(true);
    // Each session that opened no stream is one slow client.
    expect(await metricValue(gw, 'meshgate_client_errors_total', 'headers-timeout')).toBe(IDLE_SESSIONS + 1);
    expect((await httpRequest(`${gw.localUrl}/echo`, { headers: { host: 'hello' } })).status).toBe(200);
  });

  it('counts one slow client once, and an idle keep-alive connection not at all', async () => {
    const backend = await h.httpBackend({ name: 'hello' });
    const gw = await h.gateway(gatewayConfig({ hello: { endpoints: [backend.address] } }, { limits: { headersTimeout: '1s', idleTimeout: '1s' } }));
    const local = hostPort(gw.localAddress);

    const slow = await rawConnection(local, 'GET /echo HTTP/1.1\r\nHost: hello\r\n');
    let answer = '';
    slow.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    await withTimeout(closed(slow), CLOSE_BOUND_MS, 'the slow client to be refused');
    expect(answer).toMatch(/^HTTP\/1\.1 408 .*meshgate-error: headers-timeout/s);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    h.onCleanup(() => agent.destroy(), 'keep-alive agent');
    const idle = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.get({ ...local, path: '/echo', headers: { host: 'hello' }, agent }, (res) => {
        res.resume();
        res.once('end', () => resolve(req.socket as net.Socket));
      });
      req.once('error', reject);
    });
    await withTimeout(closed(idle), CLOSE_BOUND_MS, 'the idle keep-alive connection to be closed');

    const clientErrors = (await scrape(gw.adminUrl)).filter((s) => s.name === 'meshgate_client_errors_total');
    expect(clientErrors).toEqual([{ name: 'meshgate_client_errors_total', labels: { reason: 'headers-timeout' }, value: 1 }]);
  });

  it('with 1,024 descriptors, 1,100 idle h2c sessions lock apps out no longer than the headers timeout', async () => {
    const backend = await h.httpBackend({ name: 'hello' });
    const config = gatewayConfig({ hello: { endpoints: [backend.address] } }, { limits: { headersTimeout: '2s' } });
    const file = await writeConfig(await h.tempDir(), config);
    const gw = await startGateway(file, (cmd, args, opts) => h.spawn('prlimit', ['--nofile=1024:1024', '--', cmd, ...(args ?? [])], opts));
    const local = hostPort(gw.localAddress);

    const sockets = await Promise.all(
      Array.from({ length: 1_100 }, async () => {
        const conn = await connectRawH2c({ ...local, ackSettings: false, timeoutMs: 10_000 });
        h.onCleanup(() => conn.socket.destroy(), 'idle h2c session');
        conn.sendPreface();
        return conn;
      }),
    );
    // An app that keeps trying gets through once the idle sessions are gone.
    const served = await waitUntil(
      async () => {
        const res = await httpRequest(`${gw.localUrl}/echo`, { headers: { host: 'hello' }, timeoutMs: 2_000 });
        return res.status === 200;
      },
      { timeoutMs: CLOSE_BOUND_MS, intervalMs: 250, what: 'a request from an app to be served', detail: () => gw.process.output().slice(-2_000) },
    );
    expect(served).toBe(true);
    expect((await getJson<{ ready: boolean }>(`${gw.adminUrl}/ready`)).ready).toBe(true);
    await withTimeout(Promise.all(sockets.map((s) => s.closed)), CLOSE_BOUND_MS, 'every idle session to be closed');
    expect(gw.process.exitStatus).toBeUndefined();
  });
});
