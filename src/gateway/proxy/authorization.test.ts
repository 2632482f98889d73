import { describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../config/index.js';
import { AllowPatternError, ServicePolicy } from './authorization.js';

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

  it('names the field of a bad pattern', () => {
    expect(() => new ServicePolicy(service({ allow: ['spiffe://a.example/ok', 'spiffe://A B/x'] }))).toThrow(AllowPatternError);
    expect(() => new ServicePolicy(service({ allow: ['spiffe://a.example/ok', 'spiffe://A B/x'] }))).toThrow(/^services\.payments\.allow\[1\]: /);
  });
});
