import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  connectRawH2,
  gatewayConfig,
  metricWith,
  getJson,
  issueSvid,
  runCli,
  sharedRootTrust,
  useHarness,
  waitUntil,
  type ClusterTrust,
  type GatewayProcess,
  type SvidCredentials,
} from '../harness/index.js';

const h = useHarness();
const run = promisify(execFile);

const ALL_GATEWAYS = 'spiffe://*.test.example/meshgate/gateway/*/*';
const TESTER_ID = 'spiffe://a.test.example/meshgate/gateway/a/tester';

/** An SVID issued by `meshgate ca issue`. */
const issue = async (caDir: string, spiffeId: string): Promise<SvidCredentials> => issueSvid(caDir, spiffeId, await h.tempDir());

/** A leaf signed with openssl by another cluster's CA, claiming an ID of our domain: what a compromised cluster would try. */
async function forgeWithCa(caDir: string, spiffeId: string): Promise<SvidCredentials> {
  const dir = await h.tempDir();
  const f = (name: string) => path.join(dir, name);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/O=forged']);
  const ext = `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=URI:${spiffeId}\n`;
  await writeFile(f('ext.cnf'), ext);
  const caChain = await readFile(path.join(caDir, 'ca.pem'), 'utf8');
  const caCert = caChain.slice(0, caChain.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----'.length) + '\n';
  await writeFile(f('ca-leaf.pem'), caCert);
  await run('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca-leaf.pem'), '-CAkey', path.join(caDir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('ext.cnf'), '-out', f('leaf.pem')]);
  return { key: await readFile(f('leaf.key'), 'utf8'), cert: (await readFile(f('leaf.pem'), 'utf8')) + caChain };
}

const refused = (gw: GatewayProcess, reason: string): Promise<number> => metricWith(gw, 'meshgate_federation_refused_total', { reason });

const federationTarget = (gw: GatewayProcess) => {
  const [host, port] = (gw.federationAddress as string).split(':');
  return { host: host as string, port: Number(port) };
};

/** One request on the federation port with the given client certificate, as a gateway would send it. */
async function federatedGet(gw: GatewayProcess, creds: SvidCredentials, headers: Record<string, string>) {
  const session = http2.connect(`https://${gw.federationAddress}`, { ...creds, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  try {
    return await new Promise<{ status: number; error: string | undefined }>((resolve, reject) => {
      session.once('error', reject);
      const stream = session.request({ ':method': 'GET', ':path': '/echo', ':authority': 'x', ...headers });
      stream.once('response', (h) => resolve({ status: Number(h[':status']), error: h['meshgate-error'] as string | undefined }));
      stream.once('error', reject);
      stream.resume();
      stream.end();
    });
  } finally {
    session.close();
  }
}

/** Resolves with how the TLS attempt ended: the server's refusal arrives as an error or a close after the handshake. */
function tlsAttempt(gw: GatewayProcess, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...federationTarget(gw), rejectUnauthorized: false, ...options });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    socket.once('close', () => resolve('closed'));
    socket.resume();
  });
}

describe('federation port under hostile input', () => {
  it('refuses and counts every bad connection while gateways keep being served, and never forwards a federated request', async () => {
    const clusters = ['a', 'b', 'c'];
    const nats = await h.natsSuperCluster(clusters);
    const dir = await h.tempDir();
    const trust = await sharedRootTrust(dir, clusters);
    const backend = await h.httpBackend({ name: 'b' });
    const closedPort = await h.freePort();
    const services: Record<string, Record<string, unknown>> = {
      a: {},
      b: {
        hello: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] },
        internal: { endpoints: [backend.address] },
        spare: { endpoints: [`127.0.0.1:${closedPort}`], export: true, allow: [ALL_GATEWAYS], healthCheck: { interval: '300ms' } },
      },
      c: { spare: { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] } },
    };
    const gateways = new Map<string, GatewayProcess>();
    for (const cluster of clusters) {
      const config = gatewayConfig(services[cluster] as Record<string, unknown>, {
        cluster,
        replica: 'r1',
        nats: { servers: [nats.server(cluster).url] },
        identity: (trust.get(cluster) as ClusterTrust).identity(),
        limits: { headersTimeout: '2s' },
      });
      gateways.set(cluster, await h.gateway(config));
    }
    const [a, b, c] = clusters.map((name) => gateways.get(name) as GatewayProcess) as [GatewayProcess, GatewayProcess, GatewayProcess];
    await waitUntil(
      async () => (await getJson<{ services: Record<string, Record<string, { healthy: number }>> }>(`${a.adminUrl}/debug/services`)).services['hello']?.['b']?.healthy === 1,
      { timeoutMs: 30_000, what: "b's hello seen by a" },
    );
    const legit = async () => {
      const res = await a.request('hello', '/echo');
      expect(res.status, res.text()).toBe(200);
    };
    await legit();

    const tester = await issue(trust.get('a')!.caDir, TESTER_ID);
    // A gateway of a, calling b directly.
    expect(await federatedGet(b, tester, { 'meshgate-service': 'hello' })).toEqual({ status: 200, error: undefined });
    expect(await federatedGet(b, tester, { 'meshgate-service': 'internal' })).toEqual({ status: 403, error: 'forbidden' });
    expect(await federatedGet(b, tester, { 'meshgate-service': 'nosuch' })).toEqual({ status: 404, error: 'unknown-service' });
    // b's spare is down and c's is up, yet a request that already crossed a cluster is never forwarded again.
    expect(await federatedGet(b, tester, { 'meshgate-service': 'spare', 'meshgate-hop': 'a' })).toEqual({ status: 503, error: 'no-healthy-endpoints' });
    expect(await metricWith(c, 'meshgate_requests_total', { listener: 'federation' })).toBe(0);

    // Plain TCP garbage.
    await new Promise<void>((resolve) => {
      const socket = net.connect(federationTarget(b), () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('error', () => {});
      socket.once('close', () => resolve());
      socket.resume();
    });
    await waitUntil(async () => (await refused(b, 'tls-handshake')) === 1, { timeoutMs: 5_000, what: 'garbage counted' });

    // TLS without a client certificate; HTTP/1.1 instead of h2; no ALPN at all.
    await tlsAttempt(b, { ALPNProtocols: ['h2'] });
    await waitUntil(async () => (await refused(b, 'no-client-cert')) === 1, { timeoutMs: 5_000, what: 'missing client cert counted' });
    expect(await tlsAttempt(b, { ...tester, ALPNProtocols: ['http/1.1'] })).toMatch(/error/);
    await tlsAttempt(b, { ...tester });
    await waitUntil(async () => (await refused(b, 'not-h2')) === 2, { timeoutMs: 5_000, what: 'h1 and no-ALPN counted' });

    // A rogue root claiming a's domain; another cluster's CA signing a's gateway ID; a workload (not a gateway) of a.
    const rogueCa = path.join(dir, 'rogue');
    expect((await runCli(['ca', 'init', '--trust-domain', 'a.test.example', '--out', rogueCa])).code).toBe(0);
    await tlsAttempt(b, { ...(await issue(rogueCa, TESTER_ID)), ALPNProtocols: ['h2'] });
    await tlsAttempt(b, { ...(await forgeWithCa(trust.get('c')!.caDir, TESTER_ID)), ALPNProtocols: ['h2'] });
    await tlsAttempt(b, { ...(await issue(trust.get('a')!.caDir, 'spiffe://a.test.example/ns/shop/sa/web')), ALPNProtocols: ['h2'] });
    await waitUntil(
      async () => (await refused(b, 'untrusted-chain')) === 1 && (await refused(b, 'foreign-claim')) === 1 && (await refused(b, 'not-a-gateway')) === 1,
      { timeoutMs: 5_000, what: 'bad certificates counted by reason' },
    );
    await legit();

    // An oversized header block from a trusted gateway: 431 on that stream, the session goes on.
    const raw = await connectRawH2({ ...federationTarget(b), ...tester });
    raw.sendPreface();
    raw.sendHeaders(1, [[':method', 'GET'], [':scheme', 'https'], [':path', '/echo'], [':authority', 'hello'], ['meshgate-service', 'hello'], ['x-big', 'x'.repeat(40_000)]], { endStream: true });
    raw.sendHeaders(3, [[':method', 'GET'], [':scheme', 'https'], [':path', '/echo'], [':authority', 'hello'], ['meshgate-service', 'hello']], { endStream: true });
    await raw.waitFor(() => raw.responses().has(1) && raw.responses().has(3), 5_000, 'both streams answered');
    expect(await refused(b, 'header-too-large')).toBe(1);
    await raw.close();

    // A flood of streams beyond the advertised limit (1,000) in one write, from a peer that acknowledged it.
    const flood = await connectRawH2({ ...federationTarget(b), ...tester });
    flood.sendPreface();
    await flood.waitFor(() => flood.frames().filter((f) => f.type === 4).length >= 1, 5_000, 'server SETTINGS');
    const during = Promise.all(Array.from({ length: 20 }, () => legit()));
    // Uploads that never finish keep every stream open, as a real flood would.
    for (let id = 1; id < 2 * 1_100; id += 2) {
      flood.sendHeaders(id, [[':method', 'POST'], [':scheme', 'https'], [':path', '/upload'], [':authority', 'hello'], ['meshgate-service', 'hello']], { endStream: false });
    }
    // HTTP/2 ends the session of a peer that breaks limits it acknowledged.
    await flood.closed;
    await during;
    await flood.close();
    await waitUntil(async () => (await refused(b, 'h2-session-error')) === 1, { timeoutMs: 5_000, what: 'flood counted' });

    // A slowloris: one byte of a TLS handshake at a time, never finishing.
    await new Promise<void>((resolve) => {
      const socket = net.connect(federationTarget(b));
      const hello = Buffer.from(`16030100c8010000c40303${'00'.repeat(60)}`, 'hex');
      let i = 0;
      const timer = setInterval(() => (i < hello.length ? socket.write(hello.subarray(i, ++i)) : undefined), 300);
      socket.on('error', () => {});
      socket.once('close', () => {
        clearInterval(timer);
        resolve();
      });
    });
    await waitUntil(async () => (await refused(b, 'handshake-timeout')) === 1, { timeoutMs: 5_000, what: 'slowloris counted' });

    await legit();
    expect((await getJson<{ ready: boolean }>(`${b.adminUrl}/ready`)).ready).toBe(true);
  });
});
