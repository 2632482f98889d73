import { describe, expect, it } from 'vitest';
import { isConfigError, type GatewayConfig, type ServiceConfig } from '../../config/index.js';
import { checkAllowPatterns, ServicePolicy } from './authorization.js';

const service = (over: Partial<ServiceConfig>): ServiceConfig =>
  ({ name: 'payments', protocol: 'http', endpoints: [], export: true, allow: [], ...over }) as unknown as ServiceConfig;
const gateway = (td: string, cluster: string) => `spiffe://${td}/meshgate/gateway/${cluster}/r1`;

describe('ServicePolicy', () => {
  it('denies by default: not exported, or exported with no allow pattern', () => {
    expect(new ServicePolicy(service({ export: false, allow: ['spiffe://*/*/*/*/*'] })).authorize(gateway('a.example', 'a'))).toMatchObject({
      allowed: false,
      reason: 'service payments is not exported',
    });
    expect(new ServicePolicy(service({})).authorize(gateway('a.example', 'a'))).toMatchObject({ allowed: false, reason: 'service payments allows no caller' });
  });

  it('allows a caller matching a pattern, anchored and segment by segment', () => {
    const policy = new ServicePolicy(service({ allow: ['spiffe://*.acme.example/meshgate/gateway/us-*/*'] }));
    expect(policy.authorize(gateway('us-east.acme.example', 'us-east'))).toEqual({ allowed: true, pattern: 'spiffe://*.acme.example/meshgate/gateway/us-*/*' });
    expect(policy.authorize(gateway('eu.acme.example', 'eu-west')).allowed).toBe(false);
    expect(policy.authorize(gateway('us.acme.example.evil', 'us-east')).allowed).toBe(false);
    expect(policy.authorize(`${gateway('us.acme.example', 'us-east')}/extra`).allowed).toBe(false);
    expect(policy.authorize('spiffe://us.acme.example/meshgate/gateway/us-east').allowed).toBe(false);
  });

  it('refuses a bad pattern as a config error naming its field', () => {
    const thrown = (() => {
      try {
        new ServicePolicy(service({ allow: ['spiffe://a.example/ok', 'spiffe://A B/x'] }), 'gw.yaml');
      } catch (err) {
        return err;
      }
    })();
    expect(isConfigError(thrown)).toBe(true);
    expect((thrown as Error).message).toMatch(/^config error: services\.payments\.allow\[1\]: invalid SPIFFE ID pattern/);
  });
});

describe('checkAllowPatterns', () => {
  it('reports every bad pattern of every service at once, as a config error of the file', () => {
    const config = {
      services: {
        payments: service({ allow: ['spiffe://A B/x', 'spiffe://a.example/ok'] }),
        orders: service({ name: 'orders', allow: ['spiffe://a.example/**'] }),
      },
    } as unknown as GatewayConfig;
    let thrown: unknown;
    try {
      checkAllowPatterns(config, 'gw.yaml');
    } catch (err) {
      thrown = err;
    }
    expect(isConfigError(thrown)).toBe(true);
    expect((thrown as { source: string }).source).toBe('gw.yaml');
    expect((thrown as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(['services.payments.allow[0]', 'services.orders.allow[0]']);
  });

  it('passes a config whose patterns are all valid', () => {
    expect(() => checkAllowPatterns({ services: { payments: service({ allow: ['spiffe://*.acme.example/meshgate/gateway/*/*'] }) } } as unknown as GatewayConfig, 'gw.yaml')).not.toThrow();
  });
});
