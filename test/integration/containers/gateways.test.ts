/**
 * The gateway image under testcontainers: two clusters, a and b, each a NATS container
 * (the two joined as a super-cluster), a gateway container from the project's image and
 * a demo-service container, all on a network this file creates. The steps build on each
 * other, in order: a request crosses from a to b; a's service containers stop and its
 * traffic fails over to b without a failed request; b's gateway container is stopped
 * (SIGTERM reaches the gateway, which drains and exits 0) and b leaves a's route table.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { getJson, httpRequest, sharedRootTrust, sleep, waitUntil } from '../../harness/index.js';
import { mustRun } from './docker.js';

const env = inject('containers');
const HELLO_SCRIPT = fileURLToPath(new URL('../../../docker/compose/hello.mjs', import.meta.url));
const CLUSTERS = ['a', 'b'] as const;
type Cluster = (typeof CLUSTERS)[number];
const DOMAIN = 'ctest.example';
const ALL_GATEWAYS = `spiffe://*.${DOMAIN}/meshgate/gateway/*/*`;
const PKI = '/var/lib/meshgate/pki';

interface Routes {
  tiers: { name: string; share: number; targets: { key: string; usable: boolean }[] }[];
}
interface MembersView {
  members: { id: string; status: string }[];
}
interface ServicesView {
  services: Record<string, Record<string, { healthy: number; stale: boolean }>>;
}

const natsConfig = (c: Cluster) => `
server_name: nats-${c}
port: 4222
gateway {
  name: ${c}
  port: 7222
  gateways: [${CLUSTERS.filter((o) => o !== c).map((o) => `{ name: ${o}, urls: ["nats://nats-${o}:7222"] }`).join(', ')}]
}
`;

const hello = (c: Cluster) => ({
  endpoints: [`hello-${c}:8080`],
  healthCheck: { path: '/healthz', interval: '500ms' },
  export: true,
  allow: [ALL_GATEWAYS],
});

const gatewayConfig = (c: Cluster) =>
  stringify({
    federation: 'ctest',
    cluster: c,
    replica: 'gw1',
    nats: { servers: [`nats://nats-${c}:4222`] },
    identity: {
      trustDomain: `${c}.${DOMAIN}`,
      ca: `${PKI}/ca-${c}`,
      federation: CLUSTERS.filter((o) => o !== c).map((o) => ({ trustDomain: `${o}.${DOMAIN}` })),
    },
    listeners: { local: '0.0.0.0:4140', federation: '0.0.0.0:4143', admin: '0.0.0.0:9901' },
    limits: { drainTimeout: '2s' },
    // b also serves `only-b`, which a can reach only across the clusters.
    services: c === 'a' ? { hello: hello(c) } : { hello: hello(c), 'only-b': hello(c) },
  });

describe.skipIf(env.skip !== undefined)('gateway containers (testcontainers)', () => {
  let network: StartedNetwork;
  let tmp: string;
  const started: StartedTestContainer[] = [];
  const gateways = new Map<Cluster, StartedTestContainer>();
  const services = new Map<Cluster, StartedTestContainer>();

  const track = (c: StartedTestContainer) => (started.push(c), c);
  const base = (c: Cluster) => `http://${gateways.get(c)!.getHost()}:${gateways.get(c)!.getMappedPort(4140)}`;
  const admin = (c: Cluster) => `http://${gateways.get(c)!.getHost()}:${gateways.get(c)!.getMappedPort(9901)}`;
  const call = (c: Cluster, service: string) => httpRequest(`${base(c)}/`, { headers: { host: service }, timeoutMs: 10_000 });
  const routes = (c: Cluster, service: string) => getJson<Routes>(`${admin(c)}/debug/routes?service=${service}`);
  const seesService = (viewer: Cluster, service: string, cluster: Cluster) =>
    waitUntil(
      async () => {
        const entry = (await getJson<ServicesView>(`${admin(viewer)}/debug/services`)).services[service]?.[cluster];
        return entry !== undefined && !entry.stale && entry.healthy > 0;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `${viewer}'s gateway to see ${service} healthy in ${cluster}` },
    );

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'meshgate-containers-'));
    const trust = await sharedRootTrust(tmp, CLUSTERS, DOMAIN);
    network = await new Network().start();

    await Promise.all(
      CLUSTERS.map(async (c) => {
        track(
          await new GenericContainer(env.images.nats)
            .withNetwork(network)
            .withNetworkAliases(`nats-${c}`)
            .withCopyContentToContainer([{ content: natsConfig(c), target: '/etc/nats/nats.conf' }])
            .withCommand(['--config', '/etc/nats/nats.conf'])
            .withWaitStrategy(Wait.forLogMessage('Server is ready'))
            .start(),
        );
        services.set(
          c,
          track(
            await new GenericContainer(env.images.node)
              .withNetwork(network)
              .withNetworkAliases(`hello-${c}`)
              .withUser('1000:1000')
              .withEnvironment({ CLUSTER: c, INSTANCE: `hello-${c}` })
              .withCopyFilesToContainer([{ source: HELLO_SCRIPT, target: '/demo/hello.mjs', mode: 0o644 }])
              .withCommand(['node', '/demo/hello.mjs'])
              .withWaitStrategy(Wait.forLogMessage('hello listening'))
              .start(),
          ),
        );
      }),
    );

    await Promise.all(
      CLUSTERS.map(async (c) => {
        const caDir = trust.get(c)!.caDir;
        // The image's user (1000) must read the CA, key included: the copies are 0644 (a throwaway test key).
        const caFiles = await Promise.all(
          (await readdir(caDir)).map(async (f) => ({ content: await readFile(path.join(caDir, f)), target: `${PKI}/ca-${c}/${f}`, mode: 0o644 })),
        );
        gateways.set(
          c,
          track(
            await new GenericContainer(env.images.meshgate)
              .withNetwork(network)
              .withNetworkAliases(`gateway-${c}`)
              .withCopyContentToContainer([{ content: gatewayConfig(c), target: '/etc/meshgate/meshgate.yaml', mode: 0o644 }, ...caFiles])
              .withExposedPorts(4140, 9901)
              // The image's HEALTHCHECK on /ready.
              .withWaitStrategy(Wait.forHealthCheck())
              .withStartupTimeout(120_000)
              .start(),
          ),
        );
      }),
    );
  });

  afterAll(async () => {
    // Ryuk is off: everything this file started is removed here, running or stopped
    // (testcontainers' stop() does not remove a container stopped before).
    await Promise.allSettled(started.map((c) => mustRun(['docker', 'rm', '-f', '-v', c.getId()])));
    await network?.stop().catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a request to a service only b runs crosses from a to b', async () => {
    await seesService('a', 'only-b', 'b');
    const res = await call('a', 'only-b');
    expect(res.status).toBe(200);
    const body = res.json<{ cluster: string; source?: string }>();
    expect(body.cluster).toBe('b');
    // b's gateway told the service which cluster called (from the caller's verified SVID).
    expect(body.source).toMatch(/^cluster=a; spiffe-id=spiffe:\/\/a\.ctest\.example\/meshgate\/gateway\/a\/gw1$/);
  });

  it("a's service containers stop: its traffic fails over to b with no failed request", async () => {
    await seesService('a', 'hello', 'b');
    expect((await call('a', 'hello')).json<{ cluster: string }>().cluster).toBe('a');

    // Steady requests from the test, one at a time, through a's gateway.
    const answers: { cluster: string; status: number; at: number }[] = [];
    let stopLoad = false;
    const load = (async () => {
      for (let i = 0; i < 2_000 && !stopLoad; i++) {
        const res = await call('a', 'hello').then(
          (r) => ({ status: r.status, cluster: r.status === 200 ? r.json<{ cluster: string }>().cluster : `error ${String(r.headers['meshgate-error'])}` }),
          (err: Error) => ({ status: 0, cluster: err.message }),
        );
        answers.push({ ...res, at: Date.now() });
        await sleep(20);
      }
    })();
    try {
      await waitUntil(() => answers.length >= 20, { timeoutMs: 30_000, what: 'the first 20 answers' });
      const stoppedAt = Date.now();
      await services.get('a')!.stop({ timeout: 10_000, remove: false });
      await waitUntil(() => answers.filter((a) => a.at > stoppedAt && a.cluster === 'b').length >= 50, {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: '50 answers from b after a stopped its service',
      });
      // The stopped container's endpoint is out of a's route (health checks, ejection).
      await waitUntil(async () => (await routes('a', 'hello')).tiers.find((t) => t.name === 'local')?.targets.every((t) => !t.usable), {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: "a's local endpoint of hello to be unusable",
      });
    } finally {
      stopLoad = true;
      await load;
    }
    const failed = answers.filter((a) => a.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(answers.slice(0, 20).every((a) => a.cluster === 'a')).toBe(true);
    expect(answers.slice(-20).every((a) => a.cluster === 'b')).toBe(true);
  });

  it("b's gateway container is stopped: it drains and exits 0, and b leaves a's route table", async () => {
    const usableB = async () => (await routes('a', 'hello')).tiers.flatMap((t) => t.targets).some((t) => t.key === 'cluster:b' && t.usable);
    expect(await usableB()).toBe(true);

    const gw = gateways.get('b')!;
    await gw.stop({ timeout: 20_000, remove: false });
    // SIGTERM from `docker stop` reached the gateway (exec form, no shell): it drained and exited 0, not killed.
    const state = JSON.parse(await mustRun(['docker', 'inspect', '--format', '{{json .State}}', gw.getId()])) as { ExitCode: number };
    expect(state.ExitCode).toBe(0);
    expect((await mustRun(['docker', 'inspect', '--format', '{{.Config.User}}', gw.getId()])).trim()).toBe('1000:1000');
    const logs = await mustRun(['docker', 'logs', gw.getId()]);
    expect(logs).toContain('"msg":"draining"');
    expect(logs).toContain('"msg":"stopped"');

    const memberB = await waitUntil(
      async () => {
        const m = (await getJson<MembersView>(`${admin('a')}/debug/members`)).members.find((row) => row.id === 'b.gw1');
        return m && m.status !== 'alive' && m.status !== 'suspect' ? m : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: "b's gateway to leave a's member table" },
    );
    expect(memberB.status).toBe('left');
    await waitUntil(async () => !(await usableB()), { timeoutMs: 60_000, intervalMs: 250, what: 'cluster b to leave the route of hello at a' });
    // Nobody else runs only-b: a answers by itself.
    const res = await call('a', 'only-b');
    expect([404, 503]).toContain(res.status);
    expect(res.headers['meshgate-error']).toBeDefined();
  });
});
