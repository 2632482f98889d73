import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { summarizeConfig } from './index.js';
import { parse } from './testing/config-text.js';

const example = (name: string): string => readFileSync(fileURLToPath(new URL(`../../examples/${name}`, import.meta.url)), 'utf8');

describe('summarizeConfig', () => {
  it('shows the federated example as the gateway will run it', () => {
    expect(summarizeConfig(parse(example('us-east.yaml')))).toBe(
      [
        'federation acme, cluster us-east, region us, zone us-east-1a',
        'listeners: local 127.0.0.1:4140, federation 0.0.0.0:4143, admin 127.0.0.1:9901',
        'limits: max header 16384 bytes, headers timeout 10s, drain 15s',
        'nats: nats://127.0.0.1:4222',
        'identity: trust domain us-east.acme.example, CA /etc/meshgate/pki/us-east',
        '  federates eu-west.acme.example: bundle /etc/meshgate/pki/eu-west-bundle.json, endpoint https://127.0.0.1:8443 as spiffe://eu-west.acme.example/meshgate/identity',
        '  workload API /run/meshgate/workload.sock, 1 entry',
        'services (1):',
        '  payments: http, 2 endpoints (127.0.0.1:8080, 127.0.0.1:8081), export yes (allow spiffe://*.acme.example/meshgate/gateway/*/*), ' +
          'failover local > region > any (overprovisioning 1.4), timeouts connect 1s / per-try 2s / request 10s, ' +
          'health check /healthz every 5s (timeout 1s, up after 2, down after 3)',
      ].join('\n'),
    );
  });

  it('says what is not configured in a standalone gateway', () => {
    const text = summarizeConfig(parse(example('quickstart.yaml')));
    expect(text).toContain('federation demo, cluster local, region (none), zone (none)');
    expect(text).toContain('nats: not configured (standalone)');
    expect(text).toContain('identity: not configured');
    expect(text).toContain('  hello: http, 2 endpoints (127.0.0.1:8080, 127.0.0.1:8081), export no,');
  });

  it('shows shared-root federation, gRPC health checks, IPv6 and empty services plainly', () => {
    const text = summarizeConfig(
      parse(`federation: acme
cluster: us-east
identity: { trustDomain: us-east.acme.example, ca: /pki, federation: [{ trustDomain: eu-west.acme.example }] }
listeners: { local: "[::1]:4140" }
services:
  ledger: { protocol: grpc, healthCheck: {}, export: true }
  remote-only: {}
`),
    );
    expect(text).toContain('  federates eu-west.acme.example: shared root');
    expect(text).toContain('  workload API not configured');
    expect(text).toContain('listeners: local [::1]:4140,');
    expect(text).toContain('  ledger: grpc, 0 endpoints, export yes (allow nobody),');
    expect(text).toContain('health check grpc.health.v1 every 5s');
    expect(text).toContain('  remote-only: http, 0 endpoints, export no,');
    expect(text).toContain(', no active health check');
  });

  it('never prints NATS credentials', () => {
    const text = summarizeConfig(
      parse(
        'federation: acme\ncluster: us-east\nidentity: { trustDomain: td.example, ca: ./ca }\n' +
          'nats: { servers: ["nats://gw:s3cret@nats-a:4222", "tls://t0ken@nats-b:4222"] }\n',
      ),
    );
    expect(text).toContain('nats: nats://gw:***@nats-a:4222, tls://***@nats-b:4222');
    expect(text).not.toMatch(/s3cret|t0ken/);
  });
});
