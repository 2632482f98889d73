import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, isConfigError, loadConfig, parseConfig, type GatewayConfig } from './index.js';
import { BASE_DIR, errorsOf, minimal, parse } from './testing/config-text.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const BASE = BASE_DIR;

/** One service called payments with the given body lines (indented by four spaces). */
const payments = (...lines: string[]): string =>
  minimal(`services:\n  payments:\n${lines.map((l) => `    ${l}`).join('\n')}\n`);

describe('parseConfig: membership needs identity', () => {
  it('rejects nats without identity', () => {
    expect(() => parse(minimal('nats:\n  servers: ["nats://127.0.0.1:4222"]\n'))).toThrow(
      "config error: nats: needs an identity section: gossip is signed with the gateway's SVID",
    );
  });
});

describe('parseConfig: identity lifetimes and replica', () => {
  it('takes svidTtl, caTtl, bundleEndpoint and replica', () => {
    const cfg = parse(
      minimal('replica: gw-1\nidentity:\n  trustDomain: td.example\n  ca: ./ca\n  svidTtl: 10m\n  caTtl: 1h\n  bundleEndpoint: 127.0.0.1:8443\n'),
    );
    expect(cfg.replica).toBe('gw-1');
    expect(cfg.identity).toMatchObject({ svidTtlMs: 600_000, caTtlMs: 3_600_000, bundleEndpoint: { host: '127.0.0.1', port: 8443 } });
  });

  it('rejects a CA lifetime shorter than 6 SVID lifetimes', () => {
    expect(() => parse(minimal('identity:\n  trustDomain: td.example\n  ca: ./ca\n  svidTtl: 1h\n  caTtl: 5h\n'))).toThrow(
      'config error: identity.caTtl: caTtl (5h) must be at least 6 × svidTtl (1h)',
    );
  });
});

describe('parseConfig: valid files', () => {
  it('resolves the full example (examples/us-east.yaml) with defaults and absolute paths', () => {
    const cfg = parseConfig(readFileSync(join(EXAMPLES, 'us-east.yaml'), 'utf8'), { source: 'us-east.yaml', baseDir: BASE });
    expect(cfg).toEqual({
      federation: 'acme',
      cluster: 'us-east',
      replica: expect.any(String) as string,
      region: 'us',
      zone: 'us-east-1a',
      drain: false,
      nats: { servers: ['nats://127.0.0.1:4222'] },
      identity: {
        trustDomain: 'us-east.acme.example',
        ca: '/etc/meshgate/pki/us-east',
        federation: [
          {
            trustDomain: 'eu-west.acme.example',
            bundle: '/etc/meshgate/pki/eu-west-bundle.json',
            bundleEndpoint: 'https://127.0.0.1:8443',
            endpointSpiffeId: 'spiffe://eu-west.acme.example/meshgate/identity',
          },
        ],
        workloadApi: {
          socket: '/run/meshgate/workload.sock',
          entries: [{ spiffeId: 'spiffe://us-east.acme.example/ns/shop/sa/web', selectors: ['unix:uid:1000'] }],
        },
        svidTtlMs: 3_600_000,
        caTtlMs: 86_400_000,
        bundleRefreshHintMs: 300_000,
      },
      listeners: {
        local: { host: '127.0.0.1', port: 4140 },
        federation: { host: '0.0.0.0', port: 4143 },
        admin: { host: '127.0.0.1', port: 9901 },
      },
      limits: { maxHeaderBytes: 16_384, headersTimeoutMs: 10_000, drainTimeoutMs: 15_000, idleTimeoutMs: 75_000, maxConcurrentStreams: 128, maxInFlightPerService: 20_000, maxInFlightPerTarget: 5_000 },
      telemetry: { traceSampling: 0.01, logLevel: 'info' },
      services: {
        payments: {
          name: 'payments',
          protocol: 'http',
          endpoints: [
            { host: '127.0.0.1', port: 8080 },
            { host: '127.0.0.1', port: 8081 },
          ],
          healthCheck: { path: '/healthz', intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 },
          export: true,
          allow: ['spiffe://*.acme.example/meshgate/gateway/*/*'],
          failover: { overprovisioning: 1.4, order: ['local', 'region', 'any'], retryOn: ['connect-failure', 'reset', '503'], allowPinning: false },
          timeouts: { connectMs: 1_000, perTryMs: 2_000, requestMs: 10_000 },
          drain: false,
        },
      },
    } satisfies GatewayConfig);
  });

  it('resolves examples/quickstart.yaml as a standalone gateway', () => {
    const cfg = parseConfig(readFileSync(join(EXAMPLES, 'quickstart.yaml'), 'utf8'), { source: 'quickstart.yaml', baseDir: BASE });
    expect(cfg.nats).toBeUndefined();
    expect(cfg.identity).toBeUndefined();
    expect(cfg.federation).toBe('demo');
    expect(cfg.cluster).toBe('local');
    expect(cfg.listeners.local).toEqual({ host: '127.0.0.1', port: 4140 });
    expect(cfg.listeners.admin).toEqual({ host: '127.0.0.1', port: 9901 });
    expect(Object.keys(cfg.services)).toEqual(['hello']);
    expect(cfg.services['hello']?.endpoints).toEqual([
      { host: '127.0.0.1', port: 8080 },
      { host: '127.0.0.1', port: 8081 },
    ]);
    expect(cfg.services['hello']?.healthCheck?.path).toBe('/healthz');
  });

  it('fills every default into a minimal file', () => {
    const cfg = parse(minimal('services:\n  web: {}\n'));
    expect(cfg).toEqual({
      federation: 'acme',
      cluster: 'us-east',
      replica: expect.any(String) as string,
      drain: false,
      listeners: {
        local: { host: '127.0.0.1', port: 4140 },
        federation: { host: '0.0.0.0', port: 4143 },
        admin: { host: '127.0.0.1', port: 9901 },
      },
      limits: { maxHeaderBytes: 16_384, headersTimeoutMs: 10_000, drainTimeoutMs: 15_000, idleTimeoutMs: 75_000, maxConcurrentStreams: 128, maxInFlightPerService: 20_000, maxInFlightPerTarget: 5_000 },
      telemetry: { traceSampling: 0.01, logLevel: 'info' },
      services: {
        web: {
          name: 'web',
          protocol: 'http',
          endpoints: [],
          export: false,
          allow: [],
          failover: { overprovisioning: 1.4, order: ['local', 'region', 'any'], retryOn: ['connect-failure', 'reset', '503'], allowPinning: false },
          timeouts: { connectMs: 1_000, perTryMs: 2_000, requestMs: 10_000 },
          drain: false,
        },
      },
    });
    expect(cfg.services['web']?.healthCheck).toBeUndefined();
  });

  it('takes every key the file gives', () => {
    const cfg = parse(
      minimal(`listeners: { local: "[::1]:0", federation: "10.0.0.1:5143", admin: "localhost:9902" }
limits: { maxHeaderBytes: 32768, headersTimeout: 5s, drainTimeout: 0s, idleTimeout: 3m, maxConcurrentStreams: 100, maxInFlightPerService: 500, maxInFlightPerTarget: 50 }
services:
  ledger:
    protocol: grpc
    endpoints: ["ledger-0.ledger:9090"]
    healthCheck: { path: /ready, interval: 2s, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 5 }
    failover: { overprovisioning: 1, order: [local, eu-west], retryOn: [connect-failure, 503], allowPinning: true }
    timeouts: { connect: 250ms, perTry: 1.5s, request: 1m }
    drain: true
`),
    );
    expect(cfg.listeners).toEqual({
      local: { host: '::1', port: 0 },
      federation: { host: '10.0.0.1', port: 5143 },
      admin: { host: 'localhost', port: 9902 },
    });
    expect(cfg.limits).toEqual({ maxHeaderBytes: 32_768, headersTimeoutMs: 5_000, drainTimeoutMs: 0, idleTimeoutMs: 180_000, maxConcurrentStreams: 100, maxInFlightPerService: 500, maxInFlightPerTarget: 50 });
    expect(cfg.services['ledger']).toEqual({
      name: 'ledger',
      protocol: 'grpc',
      endpoints: [{ host: 'ledger-0.ledger', port: 9090 }],
      healthCheck: { path: '/ready', intervalMs: 2_000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 5 },
      export: false,
      allow: [],
      failover: { overprovisioning: 1, order: ['local', 'eu-west'], retryOn: ['connect-failure', '503'], allowPinning: true },
      timeouts: { connectMs: 250, perTryMs: 1_500, requestMs: 60_000 },
      drain: true,
    });
  });

  it('gives a TCP service its listen address and idle timeout (an hour unless set), checked by a connect', () => {
    const cfg = parse(
      minimal(`services:
  cache:
    protocol: tcp
    listen: 127.0.0.1:6379
    endpoints: ["10.0.0.5:6379"]
    healthCheck: { interval: 2s }
  queue:
    protocol: tcp
    listen: 127.0.0.1:5672
    timeouts: { connect: 3s, idle: 10m }
`),
    );
    expect(cfg.services['cache']).toMatchObject({ protocol: 'tcp', tcp: { listen: { host: '127.0.0.1', port: 6379 }, idleMs: 3_600_000 }, healthCheck: { intervalMs: 2_000 } });
    // A connect timeout longer than HTTP's default perTry is fine: a TCP service has no tries.
    expect(cfg.services['queue']).toMatchObject({ endpoints: [], timeouts: { connectMs: 3_000 }, tcp: { listen: { host: '127.0.0.1', port: 5672 }, idleMs: 600_000 } });
    expect(parse(minimal('services:\n  web: {}\n')).services['web']?.tcp).toBeUndefined();
  });

  it('refuses two TCP services on one port, and lets any number take port 0', () => {
    const two = (a: string, b: string) => minimal(`services:\n  one: { protocol: tcp, listen: "${a}" }\n  two: { protocol: tcp, listen: "${b}" }\n`);
    expect(errorsOf(two('0.0.0.0:6379', '127.0.0.1:6379'))).toEqual(['config error: services.two.listen: 127.0.0.1:6379 clashes with services.one.listen (0.0.0.0:6379)']);
    expect(() => parse(two('127.0.0.1:0', '127.0.0.1:0'))).not.toThrow();
  });

  it('keeps services in file order', () => {
    const cfg = parse(minimal('services:\n  zeta: {}\n  alpha: {}\n  mid: {}\n'));
    expect(Object.keys(cfg.services)).toEqual(['zeta', 'alpha', 'mid']);
  });

  it('resolves relative paths against baseDir and leaves absolute ones alone', () => {
    const cfg = parse(
      minimal(`identity:
  trustDomain: us-east.acme.example
  ca: pki/us-east
  federation:
    - trustDomain: eu-west.acme.example
      bundle: ../pki/eu-west.pem
    - trustDomain: ap-south.acme.example
  workloadApi: { socket: ./run/wl.sock }
`),
    );
    expect(cfg.identity?.ca).toBe('/etc/meshgate/pki/us-east');
    expect(cfg.identity?.federation).toEqual([
      { trustDomain: 'eu-west.acme.example', bundle: '/etc/pki/eu-west.pem' },
      { trustDomain: 'ap-south.acme.example' },
    ]);
    expect(cfg.identity?.workloadApi).toEqual({ socket: '/etc/meshgate/run/wl.sock', entries: [] });
  });

  it('returns a frozen config', () => {
    const cfg = parse(payments('endpoints: ["127.0.0.1:8080"]'));
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.services['payments']?.endpoints)).toBe(true);
  });
});

describe('parseConfig: each rule, with its message', () => {
  it.each([
    // keys
    [payments('endpoint: ["127.0.0.1:8080"]'), 'config error: services.payments: unknown key "endpoint" (did you mean "endpoints"?)'],
    [minimal('servics: {}\n'), 'config error: gw.yaml: unknown key "servics" (did you mean "services"?)'],
    [minimal('weight: 3\n'), 'config error: gw.yaml: unknown key "weight"'],
    [minimal('identity: { trustdomain: a.example, ca: ./ca }\n'), 'config error: identity: unknown key "trustdomain" (did you mean "trustDomain"?)'],
    ['cluster: us-east\n', 'config error: federation: is required'],
    // names
    [minimal('region: ""\n'), 'config error: region: must not be empty'],
    ['federation: acme.prod\ncluster: us-east\n', 'config error: federation: "acme.prod" is not a valid name (letters, digits, "_" and "-" only: it is used in NATS subjects)'],
    ['federation: acme\ncluster: "us east"\n', 'config error: cluster: "us east" is not a valid name (letters, digits, "_" and "-" only: it is used in NATS subjects)'],
    // nats
    [minimal('identity: { trustDomain: td.example, ca: ./ca }\nnats: { servers: [] }\n'), 'config error: nats.servers: must list at least one server'],
    [minimal('identity: { trustDomain: td.example, ca: ./ca }\nnats: { servers: ["http://127.0.0.1:4222"] }\n'), 'config error: nats.servers[0]: "http://127.0.0.1:4222" is not a NATS URL (nats://host:port or tls://host:port)'],
    // listeners
    [minimal('listeners: { admin: "127.0.0.1:99999" }\n'), 'config error: listeners.admin: "127.0.0.1:99999" has port 99999, outside 0-65535'],
    [minimal('listeners: { admin: 9901 }\n'), 'config error: listeners.admin: 9901 is not host:port (write e.g. "127.0.0.1:9901")'],
    [minimal('listeners: { local: "127.0.0.1:9901" }\n'), 'config error: listeners.local: 127.0.0.1:9901 clashes with listeners.admin (127.0.0.1:9901, the default)'],
    [minimal('listeners: { local: "0.0.0.0:7000", admin: "127.0.0.1:7000" }\n'), 'config error: listeners.admin: 127.0.0.1:7000 clashes with listeners.local (0.0.0.0:7000)'],
    // limits
    [minimal('limits: { maxHeaderBytes: 16k }\n'), 'config error: limits.maxHeaderBytes: must be a whole number, not a string ("16k")'],
    [minimal('limits: { headersTimeout: 0s }\n'), 'config error: limits.headersTimeout: "0s" is out of range (allowed 500ms to 10m)'],
    [minimal('limits: { idleTimeout: 0s }\n'), 'config error: limits.idleTimeout: "0s" is out of range (allowed 1s to 24h)'],
    [minimal('limits: { idleTimeout: 25h }\n'), 'config error: limits.idleTimeout: "25h" is out of range (allowed 1s to 24h)'],
    [minimal('limits: { maxConcurrentStreams: 0 }\n'), 'config error: limits.maxConcurrentStreams: 0 is out of range (allowed 1 to 2147483647)'],
    [minimal('limits: { maxConcurrentStreams: 4294967296 }\n'), 'config error: limits.maxConcurrentStreams: 4294967296 is out of range (allowed 1 to 2147483647)'],
    // services
    [minimal('services:\n  Payments_V2: {}\n'), 'config error: services.Payments_V2: service name "Payments_V2" is not a DNS label (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit)'],
    [minimal('services:\n  "pay.ments": {}\n'), 'config error: services["pay.ments"]: service name "pay.ments" is not a DNS label (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit)'],
    [minimal('services:\n  "123": {}\n'), 'config error: services.123: service name "123" is all digits, which clients read as an IP address'],
    [minimal('services:\n  payments:\n'), 'config error: services.payments: has no value (expected a mapping)'],
    [payments('endpoints: ["127.0.0.1:8080", "127.0.0.1:abc"]'), 'config error: services.payments.endpoints[1]: "127.0.0.1:abc" is not host:port'],
    [payments('endpoints: ["127.0.0.1:70000"]'), 'config error: services.payments.endpoints[0]: "127.0.0.1:70000" has port 70000, outside 1-65535'],
    [payments('endpoints: ["127.0.0.1:0"]'), 'config error: services.payments.endpoints[0]: "127.0.0.1:0" has port 0, outside 1-65535'],
    [payments('endpoints: ["127.0.0.1:8080", "127.0.0.1:8080"]'), 'config error: services.payments.endpoints[1]: "127.0.0.1:8080" is listed twice (also at [0])'],
    [payments('endpoints: "127.0.0.1:8080"'), 'config error: services.payments.endpoints: must be a list, not a string ("127.0.0.1:8080")'],
    // telemetry
    [minimal('telemetry: { otlpEndpoint: "grpc://collector:4317" }\n'), 'config error: telemetry.otlpEndpoint: "grpc://collector:4317" is not an http or https URL (an OTLP/HTTP collector, e.g. http://127.0.0.1:4318)'],
    [minimal('telemetry: { traceSampling: 5 }\n'), 'config error: telemetry.traceSampling: 5 is out of range (allowed 0 to 1; 0.01 samples 1 in 100 traces that start here)'],
    [minimal('telemetry: { logLevel: trace }\n'), 'config error: telemetry.logLevel: "trace" is not a log level (use debug, info, warn, error)'],
    [payments('protocol: https'), 'config error: services.payments.protocol: "https" is not a protocol (use http, grpc or tcp)'],
    // TCP services
    [payments('protocol: tcp'), 'config error: services.payments.listen: is required for a TCP service: the local address its apps connect to, e.g. 127.0.0.1:6379'],
    [payments('listen: 127.0.0.1:6379'), 'config error: services.payments.listen: only a TCP service (protocol: tcp) has a listen address of its own; HTTP and gRPC services are served on listeners.local'],
    [payments('protocol: tcp', 'listen: 127.0.0.1:6379', 'timeouts: { perTry: 5s }'), 'config error: services.payments.timeouts.perTry: applies to HTTP and gRPC requests; a TCP service has timeouts.connect and timeouts.idle'],
    [payments('timeouts: { idle: 5m }'), 'config error: services.payments.timeouts.idle: applies to TCP services (protocol: tcp) only; idle HTTP connections are closed by limits.idleTimeout'],
    [payments('protocol: tcp', 'listen: 127.0.0.1:6379', 'healthCheck: { path: /healthz }'), 'config error: services.payments.healthCheck.path: a TCP service is checked by opening a connection; it has no path'],
    [payments('protocol: tcp', 'listen: 127.0.0.1:9901'), 'config error: services.payments.listen: 127.0.0.1:9901 clashes with listeners.admin, the default (127.0.0.1:9901)'],
    [payments('protocol: tcp', 'listen: 127.0.0.1:6379', 'timeouts: { idle: 25h }'), 'config error: services.payments.timeouts.idle: "25h" is out of range (allowed 1ms to 24h)'],
    [payments('export: yes'), 'config error: services.payments.export: must be true or false, not a string ("yes")'],
    [payments('allow: ["*.acme.example"]'), 'config error: services.payments.allow[0]: "*.acme.example" is not a SPIFFE ID pattern (it must start with "spiffe://")'],
    [payments('failover: { overprovisioning: 0.9 }'), 'config error: services.payments.failover.overprovisioning: 0.9 is out of range (allowed 1 to 100; 1.4 spills at 71.4 % healthy)'],
    [payments('failover: { retryOn: [timeout] }'), 'config error: services.payments.failover.retryOn[0]: "timeout" is not a retry condition (use connect-failure, reset, 503)'],
    [payments('failover: { order: [] }'), 'config error: services.payments.failover.order: must list at least one tier (local, region, any or a cluster name)'],
    [payments('failover: { order: [local, "eu west"] }'), 'config error: services.payments.failover.order[1]: "eu west" is not a tier (use local, region, any or a cluster name)'],
    [payments('failover: { order: [local, any, local] }'), 'config error: services.payments.failover.order[2]: "local" is listed twice (also at [0])'],
    [payments('healthCheck: { path: healthz }'), 'config error: services.payments.healthCheck.path: "healthz" is not an HTTP path (it must start with "/" and have no spaces)'],
    [payments('healthCheck: { unhealthyThreshold: 0 }'), 'config error: services.payments.healthCheck.unhealthyThreshold: 0 is out of range (allowed 1 to 100)'],
    // durations
    [payments('healthCheck: { interval: 5 }'), 'config error: services.payments.healthCheck.interval: 5 has no unit; write a duration as a string, e.g. "5s" or "500ms"'],
    [payments('timeouts: { request: 10 }'), 'config error: services.payments.timeouts.request: 10 has no unit; write a duration as a string, e.g. "10s" or "500ms"'],
    [payments('timeouts: { request: 10sec }'), 'config error: services.payments.timeouts.request: "10sec" has an unknown unit "sec" (use ms, s, m or h)'],
    [payments('timeouts: { connect: "1m30s" }'), 'config error: services.payments.timeouts.connect: "1m30s" is not a duration (write one number and a unit ms, s, m or h, e.g. "500ms", "10s", "1.5m" or "1h")'],
    [payments('timeouts: { connect: 3s }'), 'config error: services.payments.timeouts.connect: 3s is longer than perTry (2s, the default); connect ≤ perTry ≤ request'],
    [payments('timeouts: { connect: 3s, perTry: 2s }'), 'config error: services.payments.timeouts.connect: 3s is longer than perTry (2s); connect ≤ perTry ≤ request'],
    [payments('timeouts: { perTry: 500ms }'), 'config error: services.payments.timeouts.perTry: 500ms is shorter than connect (1s, the default); connect ≤ perTry ≤ request'],
    [payments('timeouts: { request: 1s }'), 'config error: services.payments.timeouts.request: 1s is shorter than perTry (2s, the default); connect ≤ perTry ≤ request'],
    [payments('timeouts: { perTry: 30s, request: 20s }'), 'config error: services.payments.timeouts.perTry: 30s is longer than request (20s); connect ≤ perTry ≤ request'],
  ])('%#: %s', (text, line) => {
    expect(errorsOf(text)).toEqual([line]);
  });
});

describe('parseConfig: identity rules', () => {
  const identity = (body: string): string =>
    minimal(`identity:\n  trustDomain: us-east.acme.example\n  ca: ./pki\n${body}`);

  it.each([
    [minimal('identity: { trustDomain: us-east.acme.example }\n'), 'config error: identity.ca: is required'],
    [minimal('identity: { trustDomain: US-East, ca: ./pki }\n'), 'config error: identity.trustDomain: "US-East" is not a SPIFFE trust domain (lowercase letters, digits, ".", "_" and "-", at most 255)'],
    [minimal('identity: { trustDomain: "spiffe://acme.example", ca: ./pki }\n'), 'config error: identity.trustDomain: "spiffe://acme.example" is not a SPIFFE trust domain (lowercase letters, digits, ".", "_" and "-", at most 255) (write it without "spiffe://")'],
    [minimal(`identity: { trustDomain: ${'a'.repeat(256)}, ca: ./pki }\n`), `config error: identity.trustDomain: "${'a'.repeat(64)}…" (256 characters) is not a SPIFFE trust domain (lowercase letters, digits, ".", "_" and "-", at most 255)`],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n      bundle: ./eu.json\n      bundleEndpoint: https://127.0.0.1:8443\n'),
      'config error: identity.federation[0].endpointSpiffeId: is required when bundleEndpoint is set',
    ],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n      bundle: ./eu.json\n      bundleEndpoint: https://127.0.0.1:8443\n      endpointSpiffeId: spiffe://us-east.acme.example/meshgate/identity\n'),
      'config error: identity.federation[0].endpointSpiffeId: "spiffe://us-east.acme.example/meshgate/identity" must start with "spiffe://eu-west.acme.example/"',
    ],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n      endpointSpiffeId: spiffe://eu-west.acme.example/meshgate/identity\n'),
      'config error: identity.federation[0].endpointSpiffeId: is set but bundleEndpoint is not (it names the identity of the bundle endpoint)',
    ],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n      bundle: ./eu.json\n      bundleEndpoint: http://127.0.0.1:8443\n      endpointSpiffeId: spiffe://eu-west.acme.example/x\n'),
      'config error: identity.federation[0].bundleEndpoint: "http://127.0.0.1:8443" is not an https URL',
    ],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n      bundle: ./eu.json\n      bundleEndpoint: https://127.0.0.1:8443\n      endpointSpiffeId: spiffe://eu-west.acme.example\n'),
      'config error: identity.federation[0].endpointSpiffeId: "spiffe://eu-west.acme.example" is not a SPIFFE ID (it needs a path after the trust domain, e.g. /ns/shop/sa/web)',
    ],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n      bundleEndpoint: https://127.0.0.1:8443\n      endpointSpiffeId: spiffe://eu-west.acme.example/meshgate/identity\n'),
      'config error: identity.federation[0].bundle: is required when bundleEndpoint is set: it bootstraps trust in the endpoint',
    ],
    [identity('  federation:\n    - trustDomain: us-east.acme.example\n'), 'config error: identity.federation[0].trustDomain: "us-east.acme.example" is our own trust domain'],
    [
      identity('  federation:\n    - trustDomain: eu-west.acme.example\n    - trustDomain: eu-west.acme.example\n'),
      'config error: identity.federation[1].trustDomain: "eu-west.acme.example" is listed twice (also at federation[0])',
    ],
    [
      identity('  workloadApi:\n    socket: /run/wl.sock\n    entries:\n      - spiffeId: spiffe://us-east.acme.example/web\n        selectors: ["unix:user:1000"]\n'),
      'config error: identity.workloadApi.entries[0].selectors[0]: "unix:user:1000" is not a selector (use unix:uid:<number>, unix:gid:<number> or unix:path:/absolute/path)',
    ],
    [
      identity('  workloadApi:\n    socket: /run/wl.sock\n    entries:\n      - spiffeId: spiffe://us-east.acme.example/web\n        selectors: ["unix:path:bin/web"]\n'),
      'config error: identity.workloadApi.entries[0].selectors[0]: "unix:path:bin/web" is not a selector (use unix:uid:<number>, unix:gid:<number> or unix:path:/absolute/path)',
    ],
    [
      identity('  workloadApi:\n    socket: /run/wl.sock\n    entries:\n      - spiffeId: spiffe://us-east.acme.example/web\n        selectors: []\n'),
      'config error: identity.workloadApi.entries[0].selectors: must list at least one selector, e.g. "unix:uid:1000"',
    ],
    [
      identity('  workloadApi:\n    socket: /run/wl.sock\n    entries:\n      - spiffeId: spiffe://eu-west.acme.example/web\n        selectors: ["unix:uid:1000"]\n'),
      'config error: identity.workloadApi.entries[0].spiffeId: "spiffe://eu-west.acme.example/web" is not in our trust domain "us-east.acme.example"',
    ],
    [
      identity('  workloadApi:\n    socket: /run/wl.sock\n    entries:\n      - spiffeId: spiffe://us-east.acme.example/a/../b\n        selectors: ["unix:uid:1000"]\n'),
      'config error: identity.workloadApi.entries[0].spiffeId: "spiffe://us-east.acme.example/a/../b" is not a SPIFFE ID ("." and ".." are not allowed in the path)',
    ],
    [
      identity(`  workloadApi:\n    socket: /${'s'.repeat(120)}.sock\n`),
      `config error: identity.workloadApi.socket: "/${'s'.repeat(120)}.sock" is 126 bytes long; Unix socket paths may have at most ${process.platform === 'darwin' ? 103 : 107}`,
    ],
  ])('%#', (text, line) => {
    expect(errorsOf(text)).toEqual([line]);
  });

  it('accepts all three selector kinds', () => {
    const cfg = parse(
      identity('  workloadApi:\n    socket: /run/wl.sock\n    entries:\n      - spiffeId: spiffe://us-east.acme.example/web\n        selectors: ["unix:uid:1000", "unix:gid:0", "unix:path:/usr/bin/web"]\n'),
    );
    expect(cfg.identity?.workloadApi?.entries[0]?.selectors).toEqual(['unix:uid:1000', 'unix:gid:0', 'unix:path:/usr/bin/web']);
  });
});

describe('parseConfig: the file itself', () => {
  it('reports a YAML syntax error with line:col', () => {
    expect(errorsOf('federation: acme\ncluster: us-east\nservices:\n  payments:\n    endpoints: ["127.0.0.1:8080"\n  web: {}\n')).toEqual([
      'config error: gw.yaml:6:3: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('reports bad indentation with line:col', () => {
    expect(errorsOf('federation: acme\ncluster: us-east\nservices:\n  web: {}\n api: {}\n')).toEqual([
      'config error: gw.yaml:5:1: All mapping items must start at the same column',
    ]);
  });

  it('rejects duplicate keys with line:col', () => {
    expect(errorsOf('federation: acme\ncluster: us-east\ncluster: eu-west\n')).toEqual(['config error: gw.yaml:3:1: duplicate key "cluster"']);
  });

  it('points at the quotes when an IPv6 listener is unquoted', () => {
    expect(errorsOf(minimal('listeners:\n  local: [::1]:4140\n'))).toEqual([
      'config error: gw.yaml:4:15: Unexpected scalar at node end (quote bracketed IPv6 addresses, e.g. "[::1]:4140")',
    ]);
  });

  it('rejects an empty file', () => {
    expect(errorsOf('')).toEqual(['config error: gw.yaml: is empty (it needs at least federation and cluster)']);
    expect(errorsOf('# nothing yet\n')).toEqual(['config error: gw.yaml: is empty (it needs at least federation and cluster)']);
  });

  it('rejects a file that is not a mapping', () => {
    expect(errorsOf('- federation: acme\n')).toEqual(['config error: gw.yaml: must be a mapping, not a list']);
  });

  it('rejects keys a JS object cannot carry', () => {
    expect(errorsOf(minimal('__proto__: { federation: x }\n'))).toEqual(['config error: gw.yaml:3:1: unknown key "__proto__"']);
    expect(errorsOf(minimal('? [a, b]\n: 1\n'))).toEqual(['config error: gw.yaml:3:3: a key must be a plain value, not a list or mapping']);
  });

  it('refuses alias bombs', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']]) {
      bomb.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    expect(errorsOf(minimal(`${bomb.join('\n')}\n`))).toEqual([
      'config error: gw.yaml: Excessive alias count indicates a resource exhaustion attack',
    ]);
  });

  it('rejects a second YAML document', () => {
    expect(errorsOf(minimal('---\nfederation: other\n'))[0]).toMatch(/^config error: gw\.yaml:3:1: Source contains multiple documents/);
  });

  it('reports every issue at once, in file order', () => {
    const text = `federation: acme
cluster: us-east
servics: {}
listeners: { admin: "127.0.0.1:70000" }
services:
  payments:
    endpoints: ["127.0.0.1:8080", "127.0.0.1:abc"]
    healthCheck: { interval: 5 }
    timeouts: { connect: 5s }
    exprt: true
  Bad_Name: {}
`;
    expect(errorsOf(text)).toEqual([
      'config error: gw.yaml: unknown key "servics" (did you mean "services"?)',
      'config error: listeners.admin: "127.0.0.1:70000" has port 70000, outside 0-65535',
      'config error: services.payments.endpoints[1]: "127.0.0.1:abc" is not host:port',
      'config error: services.payments.healthCheck.interval: 5 has no unit; write a duration as a string, e.g. "5s" or "500ms"',
      'config error: services.payments.timeouts.connect: 5s is longer than perTry (2s, the default); connect ≤ perTry ≤ request',
      'config error: services.payments: unknown key "exprt" (did you mean "export"?)',
      'config error: services.Bad_Name: service name "Bad_Name" is not a DNS label (lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit)',
    ]);
  });

  it('throws a ConfigError with a stable code, the issues and the source', () => {
    let caught: unknown;
    try {
      parse(payments('endpoints: ["127.0.0.1:abc"]', 'protocol: udp'));
    } catch (err) {
      caught = err;
    }
    expect(isConfigError(caught)).toBe(true);
    const err = caught as ConfigError;
    expect(err.name).toBe('ConfigError');
    expect(err.code).toBe('MESHGATE_CONFIG');
    expect(err.source).toBe('gw.yaml');
    expect(err.issues).toEqual([
      { path: 'services.payments.endpoints[0]', message: '"127.0.0.1:abc" is not host:port' },
      { path: 'services.payments.protocol', message: '"udp" is not a protocol (use http, grpc or tcp)' },
    ]);
    expect(err.message).toBe(
      'config error: services.payments.endpoints[0]: "127.0.0.1:abc" is not host:port\n' +
        'config error: services.payments.protocol: "udp" is not a protocol (use http, grpc or tcp)',
    );
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshgate-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and resolves its relative paths against the file\'s folder', async () => {
    const file = join(dir, 'gw.yaml');
    await writeFile(file, minimal('identity: { trustDomain: us-east.acme.example, ca: ./pki/us-east }\n'));
    const cfg = await loadConfig(file);
    expect(cfg.identity?.ca).toBe(join(dir, 'pki/us-east'));
  });

  it('names the file in its errors', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'federation: acme\n');
    await expect(loadConfig(file)).rejects.toThrow('config error: cluster: is required');
    await writeFile(file, '');
    await expect(loadConfig(file)).rejects.toThrow(`config error: ${file}: is empty (it needs at least federation and cluster)`);
  });

  it('says when a file cannot be read', async () => {
    const file = join(dir, 'missing.yaml');
    const err = await loadConfig(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`config error: ${file}: cannot read (ENOENT)`);
    expect((err as ConfigError).source).toBe(file);
  });

  it('says when the path is a folder', async () => {
    await expect(loadConfig(dir)).rejects.toThrow(`config error: ${dir}: cannot read (EISDIR)`);
  });
});
