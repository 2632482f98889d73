import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  getJson,
  sleep,
  startFederation,
  useHarness,
  waitUntil,
  type GatewayProcess,
  type GrpcBackend,
  type HttpBackend,
} from '../harness/index.js';

const h = useHarness();

/**
 * 1,000 HTTP services × 10 endpoints drawn from 20 real backends and two
 * health paths, plus 20 gRPC services on 2 gRPC backends: the probes the
 * gateway owes are one per distinct (endpoint, check), not one per
 * service × endpoint.
 */
const HTTP_SERVICES = 1_000;
const GRPC_SERVICES = 20;
const ENDPOINTS_PER_SERVICE = 10;
const HTTP_BACKENDS = 20;
const GRPC_BACKENDS = 2;
const PATHS = ['/healthz', '/status/200'] as const;
const INTERVAL_MS = 2_000;
/** How long the peer's view is sampled, once a second. */
const WATCH_MS = 30_000;
const MAX_RSS = 250 * 1024 * 1024;
/**
 * Listeners, NATS, the peer session, logs, the runtime's own: well under 100.
 * One probe socket per distinct endpoint comes on top.
 */
const FIXED_FDS = 100;

type EndpointViews = Record<string, Record<string, { state: string; reason: string; flaps?: number }>>;
interface MembersView {
  self: string;
  members: { id: string; cluster: string; status: string }[];
}

interface ProbeCounter {
  readonly backend: HttpBackend;
  readonly byPath: Map<string, number>;
}

async function countingBackend(name: string): Promise<ProbeCounter> {
  const byPath = new Map<string, number>();
  const backend = await h.httpBackend({
    name,
    handler: (req, _res, fallback) => {
      if (req.headers['user-agent'] === 'meshgate-health') byPath.set(req.url ?? '', (byPath.get(req.url ?? '') ?? 0) + 1);
      fallback();
    },
  });
  return { backend, byPath };
}

function scaleServices(http: readonly HttpBackend[], grpcBackends: readonly GrpcBackend[]) {
  const services: Record<string, unknown> = {};
  for (let i = 0; i < HTTP_SERVICES; i++) {
    const first = i % HTTP_BACKENDS;
    services[`svc-${String(i).padStart(4, '0')}`] = {
      endpoints: Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, k) => (http[(first + 2 * k) % HTTP_BACKENDS] as HttpBackend).address),
      healthCheck: { path: PATHS[Math.floor(i / HTTP_BACKENDS) % PATHS.length], interval: `${INTERVAL_MS}ms`, timeout: '1s' },
      export: true,
    };
  }
  for (let i = 0; i < GRPC_SERVICES; i++) {
    services[`rpc-${String(i).padStart(2, '0')}`] = {
      protocol: 'grpc',
      endpoints: grpcBackends.map((b) => b.address),
      healthCheck: { interval: `${INTERVAL_MS}ms`, timeout: '1s' },
      export: true,
    };
  }
  return services;
}

/** The distinct (endpoint, check) pairs the config asks for. */
function distinctChecks(services: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  for (const s of Object.values(services) as { protocol?: string; endpoints: string[]; healthCheck: { path?: string } }[]) {
    for (const e of s.endpoints) out.add(s.protocol === 'grpc' ? `grpc ${e}` : `http ${e} ${s.healthCheck.path}`);
  }
  return out;
}

const openFds = async (pid: number) => (await readdir(`/proc/${pid}/fd`)).length;

describe('gateway - active health checks at scale', () => {
  it('probes each distinct (endpoint, check) once per interval, in bounded memory and descriptors, without flaps or suspicion', async () => {
    const counters = await Promise.all(Array.from({ length: HTTP_BACKENDS }, (_, i) => countingBackend(`b${i}`)));
    const grpcBackends = await Promise.all(Array.from({ length: GRPC_BACKENDS }, (_, i) => h.grpcBackend({ name: `g${i}` })));
    const peerBackend = await h.httpBackend({ name: 'peer' });
    const services = scaleServices(
      counters.map((c) => c.backend),
      grpcBackends,
    );
    const distinct = distinctChecks(services);
    expect(distinct.size).toBe(HTTP_BACKENDS * PATHS.length + GRPC_BACKENDS);

    const { gw } = await startFederation(h, {
      clusters: ['a', 'b'],
      services: (cluster) => (cluster === 'a' ? services : { echo: { endpoints: [peerBackend.address] } }),
    });
    const scaled = gw('a');
    const peer = gw('b');
    const selfOf = async (g: GatewayProcess) => (await getJson<MembersView>(`${g.adminUrl}/debug/members`)).self;
    const scaledId = await selfOf(scaled);
    const peerStatus = async () => (await getJson<MembersView>(`${peer.adminUrl}/debug/members`, 5_000)).members.find((m) => m.id === scaledId)?.status;
    await waitUntil(async () => (await peerStatus()) === 'alive', { timeoutMs: 30_000, what: 'the peer to see the scaled gateway alive' });

    // The window: probes and connections counted from here, the peer's view and our footprint sampled every second.
    const startProbes = counters.map((c) => new Map(c.byPath));
    const startConnections = counters.map((c) => c.backend.connections);
    const startGrpc = grpcBackends.map((b) => b.healthChecks);
    const started = Date.now();
    const peerSaw = new Map<string, number>();
    let maxRss = 0;
    let maxFds = 0;
    for (let i = 0; i < WATCH_MS / 1_000 && Date.now() - started < WATCH_MS * 2; i++) {
      const [status, rss, fds] = await Promise.all([
        peerStatus().catch((err: Error) => `poll failed: ${err.message}`),
        scaled.process.rss(),
        openFds(scaled.process.pid),
      ]);
      peerSaw.set(String(status), (peerSaw.get(String(status)) ?? 0) + 1);
      maxRss = Math.max(maxRss, rss);
      maxFds = Math.max(maxFds, fds);
      await sleep(1_000);
    }
    const intervals = (Date.now() - started) / INTERVAL_MS;

    const probes: Record<string, number> = {};
    counters.forEach((c, i) => {
      for (const path of PATHS) probes[`${c.backend.name} ${path}`] = (c.byPath.get(path) ?? 0) - (startProbes[i]?.get(path) ?? 0);
    });
    grpcBackends.forEach((b, i) => (probes[`${b.name} grpc`] = b.healthChecks - (startGrpc[i] ?? 0)));
    const total = Object.values(probes).reduce((a, b) => a + b, 0);
    const connections = counters.map((c, i) => c.backend.connections - (startConnections[i] ?? 0));
    const views = await getJson<EndpointViews>(`${scaled.adminUrl}/debug/endpoints`, 10_000);
    const rows = Object.values(views).flatMap((byEndpoint) => Object.values(byEndpoint));
    const flaps = rows.reduce((sum, v) => sum + (v.flaps ?? Number.NaN), 0);
    const figures =
      `\n${intervals.toFixed(1)} intervals: ${total} probes (${(total / intervals).toFixed(0)} per interval for ${distinct.size} distinct checks)` +
      `, max RSS ${(maxRss / 2 ** 20).toFixed(0)} MiB, max fds ${maxFds}, flaps ${flaps}` +
      `, connections per HTTP backend ${connections.join(',')}, peer saw ${JSON.stringify(Object.fromEntries(peerSaw))}`;
    console.log(figures);

    // Every (endpoint, check) was probed about once per interval (±10 % jitter), never once per service.
    for (const [what, n] of Object.entries(probes)) {
      expect.soft(n, `${what}: probes in ${intervals.toFixed(1)} intervals${figures}`).toBeLessThanOrEqual(Math.ceil(intervals) + 2);
      expect.soft(n, `${what}: probes in ${intervals.toFixed(1)} intervals${figures}`).toBeGreaterThanOrEqual(Math.floor(intervals) - 2);
    }
    // Over kept-alive connections: most probes found one open.
    for (const [i, c] of counters.entries()) {
      const received = PATHS.reduce((sum, p) => sum + (probes[`${c.backend.name} ${p}`] ?? 0), 0);
      expect.soft(connections[i]! * 4, `${c.backend.name}: connections ×4 vs probes ${received}${figures}`).toBeLessThanOrEqual(received);
    }
    expect.soft(maxRss, `max RSS${figures}`).toBeLessThan(MAX_RSS);
    expect.soft(maxFds, `max descriptors${figures}`).toBeLessThan(FIXED_FDS + distinct.size);
    expect.soft(rows.length, 'every service × endpoint in /debug/endpoints').toBe(HTTP_SERVICES * ENDPOINTS_PER_SERVICE + GRPC_SERVICES * GRPC_BACKENDS);
    expect.soft(rows.filter((v) => v.state !== 'healthy').map((v) => v.reason).slice(0, 5), `unhealthy endpoints${figures}`).toEqual([]);
    expect.soft(flaps, `health flaps in /debug/endpoints${figures}`).toBe(0);
    expect.soft([...peerSaw.keys()], `the peer's view of the scaled gateway${figures}`).toEqual(['alive']);
  }, 180_000);
});
