import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../config/index.js';
import { ALL_DEMO_GATEWAYS, CLUSTERS, gatewayConfig, natsConfig } from './gateway-config.js';

describe('the demo gateway configs', () => {
  const ports = { hello: [41001, 41002], echo: 41003 };

  it('each pass the config loader, with us-east and us-west in one region and eu-west in another', () => {
    const loaded = CLUSTERS.map((c) => parseConfig(stringify(gatewayConfig(c, 'nats://127.0.0.1:4222', `/tmp/ca-${c.name}`, ports)), { source: `${c.name}.yaml`, baseDir: '/tmp' }));
    expect(loaded.map((g) => [g.cluster, g.region])).toEqual([
      ['us-east', 'us'],
      ['us-west', 'us'],
      ['eu-west', 'eu'],
    ]);
    const east = loaded[0];
    // hello keeps the default tiers (local, region, any); echo is one tier judged by latency alone.
    expect(east?.services['hello']?.failover.order).toEqual(['local', 'region', 'any']);
    expect(east?.services['echo']?.failover.order).toEqual(['any']);
    expect(east?.services['echo']?.protocol).toBe('grpc');
    expect(east?.services['hello']?.endpoints.map(String)).toHaveLength(2);
    expect(east?.services['hello']?.allow).toEqual([ALL_DEMO_GATEWAYS]);
  });
});

describe('natsConfig', () => {
  it('makes each server a NATS gateway to the other two, and only to them', () => {
    const text = natsConfig('us-west', new Map([['us-east', 1], ['us-west', 2], ['eu-west', 3]]));
    expect(text).toContain('name: "us-west"');
    expect(text).toContain('listen: "127.0.0.1:2"');
    expect(text).toContain('{ name: "us-east", urls: ["nats://127.0.0.1:1"] }');
    expect(text).toContain('{ name: "eu-west", urls: ["nats://127.0.0.1:3"] }');
    expect(text).not.toContain('{ name: "us-west"');
    expect(text).toContain('reject_unknown_cluster: true');
  });
});
