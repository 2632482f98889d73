/**
 * Every limit `check` accepts is one the running gateway can serve with:
 * gateways configured at the edges of src/config/bounds.ts answer HTTP/1.1,
 * h2c and federated requests (two clusters over NATS, mTLS), and values past
 * the edges are refused by `check` and `run` with the field and the range.
 */
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { BOUNDS, formatDuration, MAX_NAME_LENGTH } from '../../src/config/index.js';
import {
  ALL_GATEWAYS,
  gatewayConfig,
  runCli,
  startFederation,
  useHarness,
  waitForService,
  waitUntil,
  writeConfig,
  type GatewayProcess,
} from '../harness/index.js';

const h = useHarness();

const d = formatDuration;

/** A name of exactly `n` characters ending in `last`, so that two of them differ. */
const nameOf = (n: number, last: string): string => `${'n'.repeat(n - last.length)}${last}`;

interface Edge {
  readonly federation: string;
  readonly clusters: readonly [string, string];
  readonly replica: string;
  readonly service: string;
  /** Keys for every gateway's config beyond cluster, nats and identity. */
  readonly config: Record<string, unknown>;
  readonly identity: Record<string, unknown>;
  /** The service's keys beyond endpoints, export and allow. */
  readonly service_: Record<string, unknown>;
}

const upper = (): Edge => {
  const clusters = [nameOf(MAX_NAME_LENGTH, 'a'), nameOf(MAX_NAME_LENGTH, 'b')] as const;
  return {
    federation: nameOf(MAX_NAME_LENGTH, 'f'),
    clusters,
    replica: nameOf(MAX_NAME_LENGTH, 'r'),
    service: nameOf(MAX_NAME_LENGTH, 's'),
    config: {
      region: nameOf(MAX_NAME_LENGTH, 'g'),
      zone: nameOf(MAX_NAME_LENGTH, 'z'),
      limits: {
        maxHeaderBytes: BOUNDS.limits.maxHeaderBytes.max,
        headersTimeout: d(BOUNDS.limits.headersTimeoutMs.max),
        drainTimeout: d(BOUNDS.limits.drainTimeoutMs.max),
      },
    },
    identity: {
      svidTtl: d(BOUNDS.identity.svidTtlMs.max),
      caTtl: d(BOUNDS.identity.caTtlMs.max),
      bundleRefreshHint: d(BOUNDS.identity.bundleRefreshHintMs.max),
    },
    service_: {
      timeouts: { connect: d(BOUNDS.timeouts.connectMs.max), perTry: d(BOUNDS.timeouts.perTryMs.max), request: d(BOUNDS.timeouts.requestMs.max) },
      healthCheck: {
        interval: d(BOUNDS.healthCheck.intervalMs.max),
        timeout: d(BOUNDS.healthCheck.timeoutMs.max),
        healthyThreshold: BOUNDS.healthCheck.healthyThreshold.max,
        unhealthyThreshold: BOUNDS.healthCheck.unhealthyThreshold.max,
      },
      failover: { overprovisioning: BOUNDS.failover.overprovisioning.max, order: ['local', clusters[1], 'any'] },
    },
  };
};

/**
 * The lower edges that could stop a gateway from serving: the smallest header
 * limit must still hold what gateways add on the federated hop, the shortest
 * headers timeout is also the TLS handshake timeout, SVIDs renew every few
 * seconds, and health is checked ten times a second. (Lower bounds such as a
 * 1 ms connect timeout are the operator's to choose and are not served here.)
 */
const lower = (): Edge => ({
  federation: 'f',
  clusters: ['a', 'b'],
  replica: 'r',
  service: 's',
  config: {
    region: 'g',
    zone: 'z',
    limits: { maxHeaderBytes: BOUNDS.limits.maxHeaderBytes.min, headersTimeout: d(BOUNDS.limits.headersTimeoutMs.min) },
  },
  identity: { svidTtl: d(BOUNDS.identity.svidTtlMs.min), caTtl: d(BOUNDS.identity.caTtlMs.min) },
  service_: {
    healthCheck: {
      interval: d(BOUNDS.healthCheck.intervalMs.min),
      healthyThreshold: BOUNDS.healthCheck.healthyThreshold.min,
      unhealthyThreshold: BOUNDS.healthCheck.unhealthyThreshold.min,
    },
    failover: { overprovisioning: BOUNDS.failover.overprovisioning.min },
  },
});

/** An h2c request (prior knowledge) to a gateway's local listener. */
async function h2cRequest(gw: GatewayProcess, service: string, path: string): Promise<{ status: number; backend: string | undefined }> {
  const session = http2.connect(gw.localUrl);
  h.onCleanup(() => session.close());
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ':authority': service });
    req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    let status = 0;
    let backend: string | undefined;
    req.on('response', (headers) => {
      status = Number(headers[':status']);
      backend = headers['x-backend'] as string | undefined;
    });
    req.resume();
    req.on('end', () => resolve({ status, backend }));
    req.on('close', () => (status === 0 ? reject(new Error(`h2c stream closed without a response (code ${req.rstCode})`)) : undefined));
    req.on('error', reject);
  });
}

/** Two clusters at one edge; `a` runs the service for itself, `b` runs and exports it; `a` reaches `b`'s copy too. */
async function serveAtEdge(edge: Edge): Promise<void> {
  const [a, b] = edge.clusters;
  const local = await h.httpBackend({ name: 'a-local' });
  const remote = await h.httpBackend({ name: 'b-remote' });
  const remoteOnly = `${edge.service.slice(0, -1)}x`;
  const { gw } = await startFederation(h, {
    clusters: [a, b],
    identity: () => edge.identity,
    config: () => ({ ...edge.config, federation: edge.federation, replica: edge.replica }),
    services: (cluster) => {
      const svc = (backend: string) => ({ endpoints: [backend], export: true, allow: [ALL_GATEWAYS], ...edge.service_ });
      return cluster === a ? { [edge.service]: svc(local.address) } : { [remoteOnly]: svc(remote.address) };
    },
  });
  const gwA = gw(a);

  const h1 = await gwA.request(edge.service, '/echo');
  expect([h1.status, h1.headers['x-backend']]).toEqual([200, 'a-local']);

  expect(await h2cRequest(gwA, edge.service, '/echo')).toEqual({ status: 200, backend: 'a-local' });

  await waitForService(gwA, remoteOnly, b);
  // The router reuses its view of the federation for a moment after the admin API shows the service.
  await waitUntil(async () => (await gwA.request(remoteOnly, '/echo')).headers['meshgate-error'] !== 'unknown-service', {
    timeoutMs: 10_000,
    what: `${remoteOnly} to be routable from ${a}`,
  });
  const federated = await gwA.request(remoteOnly, '/echo');
  expect([federated.status, federated.headers['x-backend']], federated.body.toString()).toEqual([200, 'b-remote']);
  const viaH2c = await h2cRequest(gwA, remoteOnly, '/echo');
  expect(viaH2c).toEqual({ status: 200, backend: 'b-remote' });
}

describe('config bounds: gateways at the edges serve', () => {
  it('answers HTTP/1.1, h2c and federated requests with every limit and name at its upper bound', async () => {
    await serveAtEdge(upper());
  });

  it('answers HTTP/1.1, h2c and federated requests with the limits that matter at their lower bound', async () => {
    await serveAtEdge(lower());
  });
});

describe('config bounds: values past the edges are refused, naming the field and the range', () => {
  const refused: [string, Record<string, unknown>, string][] = [
    [
      'maxHeaderBytes 5000000000',
      { limits: { maxHeaderBytes: 5_000_000_000 } },
      'config error: limits.maxHeaderBytes: 5000000000 is out of range (allowed 1024 to 8388608 bytes, 1 KiB to 8 MiB)',
    ],
    [
      'maxHeaderBytes 1500000000',
      { limits: { maxHeaderBytes: 1_500_000_000 } },
      'config error: limits.maxHeaderBytes: 1500000000 is out of range (allowed 1024 to 8388608 bytes, 1 KiB to 8 MiB)',
    ],
    ['a 5,000-character federation name', { federation: 'f'.repeat(5_000) }, 'config error: federation: "ffff'],
    ['a 30-day health check interval', { services: { web: { endpoints: ['127.0.0.1:9'], healthCheck: { interval: '720h' } } } }, 'config error: services.web.healthCheck.interval: "720h" is out of range (allowed 100ms to 1h)'],
  ];

  it.each(refused)('%s: check and run exit 2', async (_, extra, message) => {
    const file = await writeConfig(await h.tempDir(), gatewayConfig({}, extra));
    for (const command of ['check', 'run']) {
      const result = await runCli([command, '--config', file]);
      expect(result.code, result.output).toBe(2);
      expect(result.output).toContain(message);
      expect(result.output).not.toContain('"listening"');
    }
  });
});
