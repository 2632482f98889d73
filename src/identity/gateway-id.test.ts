import { describe, expect, it } from 'vitest';
import { SpiffeIdError } from './errors.js';
import { bundleEndpointSpiffeId, gatewaySpiffeId, parseGatewaySpiffeId } from './gateway-id.js';

const TD = 'us-east.acme.example';

describe('gateway SPIFFE IDs', () => {
  it('builds and reads spiffe://<td>/meshgate/gateway/<cluster>/<replica>', () => {
    const id = gatewaySpiffeId(TD, 'us-east', 'gw_1');
    expect(id).toBe(`spiffe://${TD}/meshgate/gateway/us-east/gw_1`);
    expect(parseGatewaySpiffeId(id)).toEqual({ spiffeId: id, trustDomain: TD, cluster: 'us-east', replica: 'gw_1' });
  });

  it.each([
    `spiffe://${TD}/ns/shop/sa/web`,
    `spiffe://${TD}/meshgate/gateway/us-east`,
    `spiffe://${TD}/meshgate/gateway/us-east/a/b`,
    `spiffe://${TD}/meshgate/identity`,
    // A "." would make <cluster>.<replica> three NATS tokens: another member's subject.
    `spiffe://${TD}/meshgate/gateway/us.east/a`,
    `spiffe://${TD}/meshgate/gateway/us-east/a.b`,
    `spiffe://${TD.toUpperCase()}/meshgate/gateway/us-east/a`,
    'not a uri',
  ])('is not a gateway: %s', (id) => expect(parseGatewaySpiffeId(id)).toBeUndefined());

  it('refuses to build an ID it would not read back', () => {
    expect(() => gatewaySpiffeId(TD, 'us.east', 'a')).toThrow(SpiffeIdError);
    expect(() => gatewaySpiffeId(TD, 'us-east', 'a*')).toThrow(SpiffeIdError);
    expect(() => gatewaySpiffeId('Not A Domain', 'us-east', 'a')).toThrow(SpiffeIdError);
  });

  it('names the bundle endpoint under /meshgate/identity', () => {
    expect(bundleEndpointSpiffeId(TD)).toBe(`spiffe://${TD}/meshgate/identity`);
  });
});
