/**
 * `meshgate check` as an operator runs it, against real processes: each
 * failure the preflight exists to catch gives its exact ✗ line and exit 1,
 * and a healthy two-cluster federation passes every check with exit 0.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CertificateAuthority, writeCaDir } from '../../src/identity/index.js';
import {
  ALL_GATEWAYS,
  gatewayConfig,
  runCli,
  sharedRootTrust,
  startFederation,
  waitForService,
  writeConfig,
  type ClusterTrust,
  useHarness,
  type GatewayProcess,
} from '../harness/index.js';

const h = useHarness();
const DAY = 24 * 3_600_000;

const check = (file: string) => runCli(['check', '--config', file], 60_000);
const lines = (output: string) => output.split('\n').filter((l) => l.length > 0);

/** The running gateway's own config, with the admin port it landed on, so check can ask it what it knows. */
async function configBeside(gw: GatewayProcess): Promise<string> {
  const config = parse(await readFile(gw.configPath, 'utf8')) as { listeners: Record<string, string> };
  config.listeners.admin = new URL(gw.adminUrl).host;
  return writeConfig(path.dirname(gw.configPath), stringify(config), 'check.yaml');
}

const exported = (endpoint: string) => ({ hello: { endpoints: [endpoint], export: true, allow: [ALL_GATEWAYS], healthCheck: { interval: '300ms' } } });

describe('meshgate check', () => {
  it('passes every check against a healthy two-cluster federation and exits 0', async () => {
    const backends = { a: await h.httpBackend({ name: 'a-hello' }), b: await h.httpBackend({ name: 'b-hello' }) };
    const { gw, trust } = await startFederation(h, { clusters: ['a', 'b'], services: (c) => exported(backends[c as 'a' | 'b'].address) });
    await waitForService(gw('a'), 'hello', 'b');

    const result = await check(await configBeside(gw('a')));
    const out = lines(result.output);
    expect(result.code, result.output).toBe(0);
    expect(out.filter((l) => !l.startsWith('✓')), result.output).toEqual(['7 checks: 7 passed, 0 warnings, 0 failed: ready for traffic']);
    const caDir = (trust.get('a') as ClusterTrust).caDir;
    expect(out).toContain(`✓ bundle of b.test.example: shares our root (its gateways chain to the root of a.test.example's CA)`);
    expect(out.some((l) => l.startsWith(`✓ CA: intermediate CA of a.test.example in ${caDir}, valid until `))).toBe(true);
    expect(out.some((l) => l.startsWith('✓ gateway SVID: spiffe://a.test.example/meshgate/gateway/a/r1 issued'))).toBe(true);
    expect(out.some((l) => /^✓ NATS nats:\/\/127\.0\.0\.1:\d+: connected to server \S+/.test(l))).toBe(true);
    expect(out.some((l) => new RegExp(`^✓ endpoint hello ${backends.a.address}: GET /healthz: status 200 in \\d+ ms$`).test(l))).toBe(true);
    expect(out).toContain(`✓ remote gateways of b: mTLS session to b.r1 at ${gw('b').federationAddress} as spiffe://b.test.example/meshgate/gateway/b/r1`);
  });

  it('fails on NATS down, naming the servers', async () => {
    const dir = await h.tempDir();
    const trust = (await sharedRootTrust(dir, ['a'])).get('a') as ClusterTrust;
    const port = await h.freePort();
    const file = await writeConfig(dir, gatewayConfig({}, { cluster: 'a', replica: 'r1', nats: { servers: [`nats://127.0.0.1:${port}`] }, identity: trust.identity() }));

    const result = await check(file);
    expect(result.code, result.output).toBe(1);
    expect(lines(result.output)).toContain(
      `✗ NATS nats://127.0.0.1:${port}: cannot connect (CONNECTION_REFUSED) — fix: start NATS there or correct nats.servers; until it answers, this gateway serves only its own cluster and no other cluster hears of it`,
    );
  });

  it('fails on an expired CA, so that no SVID can be issued, and says how to make a new one', async () => {
    const dir = await h.tempDir();
    const now = Date.now();
    const root = await CertificateAuthority.createRoot({ trustDomain: 'test.example', ttlMs: 60 * DAY, now: new Date(now - 30 * DAY) });
    const expired = await root.createIntermediate({ trustDomain: 'a.test.example', ttlMs: DAY, now: new Date(now - 10 * DAY) });
    const caDir = path.join(dir, 'ca-a');
    await writeCaDir(caDir, expired);
    const file = await writeConfig(dir, gatewayConfig({}, { cluster: 'a', replica: 'r1', identity: { trustDomain: 'a.test.example', ca: caDir } }));

    const result = await check(file);
    expect(result.code, result.output).toBe(1);
    const out = lines(result.output);
    expect(out).toContain(
      `✗ CA: ${caDir}/ca.pem: the CA certificate expired at ${expired.notAfter.toISOString()} — fix: make a new CA with \`meshgate ca init --trust-domain a.test.example --out DIR --parent ROOT-CA-DIR\` (without --parent for a root of its own, then hand its bundle to the other clusters), point identity.ca at DIR and restart the gateway`,
    );
    expect(out).toContain('– gateway SVID: not issued: the CA did not load');
  });

  it('fails on a bundle endpoint that cannot be reached', async () => {
    const dir = await h.tempDir();
    const trusts = await sharedRootTrust(dir, ['a', 'b']);
    const port = await h.freePort();
    const url = `https://127.0.0.1:${port}`;
    const identity = (trusts.get('a') as ClusterTrust).identity({
      federation: [
        {
          trustDomain: 'b.test.example',
          bundle: path.join((trusts.get('b') as ClusterTrust).caDir, 'bundle.pem'),
          bundleEndpoint: url,
          endpointSpiffeId: 'spiffe://b.test.example/meshgate/identity',
        },
      ],
    });
    const file = await writeConfig(dir, gatewayConfig({}, { cluster: 'a', replica: 'r1', identity }));

    const result = await check(file);
    expect(result.code, result.output).toBe(1);
    expect(lines(result.output)).toContain(
      `✗ bundle endpoint of b.test.example: cannot fetch ${url}: connect ECONNREFUSED 127.0.0.1:${port} — fix: check that b.test.example's gateway serves identity.bundleEndpoint at that address and that this host reaches it; until then its rotated keys are not trusted here`,
    );
  });

  it('fails on a remote gateway that cannot be reached, as this cluster\'s running gateway knows it', async () => {
    const backend = await h.httpBackend({ name: 'b-hello' });
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services: (c) => (c === 'b' ? exported(backend.address) : {}) });
    await waitForService(gw('a'), 'hello', 'b');
    const address = gw('b').federationAddress as string;
    gw('b').process.kill('SIGKILL');
    await gw('b').process.waitForExit(10_000);

    const result = await check(await configBeside(gw('a')));
    expect(result.code, result.output).toBe(1);
    expect(lines(result.output)).toContain(
      `✗ remote gateways of b: cannot connect to gateway b.r1 at ${address} (ECONNREFUSED) — fix: check that b's gateway runs and that its listeners.federation is reachable from this host at the address it announces; this gateway's /debug/members shows how membership sees it`,
    );
  });

  it('fails on a local endpoint whose health check fails', async () => {
    const sick = await h.httpBackend({
      handler: (req, res, fallback) => {
        if (req.url !== '/healthz') return fallback();
        res.writeHead(503);
        res.end();
      },
    });
    const file = await writeConfig(await h.tempDir(), gatewayConfig({ hello: { endpoints: [sick.address], healthCheck: {} } }));

    const result = await check(file);
    expect(result.code, result.output).toBe(1);
    expect(lines(result.output)).toContain(
      `✗ endpoint hello ${sick.address}: GET /healthz: status 503 — fix: make it pass its health check or take it out of services.hello.endpoints; the gateway sends it no traffic while it fails`,
    );
  });
});
