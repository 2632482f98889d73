import { describe, expect, it } from 'vitest';
import { minimal, parse } from '../config/testing/config-text.js';
import { adminUrlOf, remoteTargets } from './remote-gateways.js';

describe('remoteTargets', () => {
  it('lists, per other cluster that exports a service, its gateways live first, leaving out those that left', () => {
    const members = {
      self: 'a.r1',
      members: [
        { id: 'a.r1', cluster: 'a', status: 'alive', trustDomain: 'a.td', federationAddr: '10.0.0.1:4143' },
        { id: 'b.r1', cluster: 'b', status: 'dead', trustDomain: 'b.td', federationAddr: '10.0.0.2:4143' },
        { id: 'b.r2', cluster: 'b', status: 'alive', trustDomain: 'b.td', federationAddr: '10.0.0.3:4143' },
        { id: 'b.r3', cluster: 'b', status: 'left', trustDomain: 'b.td', federationAddr: '10.0.0.4:4143' },
        { id: 'c.r1', cluster: 'c', status: 'alive', trustDomain: 'c.td', federationAddr: '10.0.0.5:4143' },
      ],
    };
    const services = { services: { hello: { a: { exported: true }, b: { exported: true }, c: { exported: false } }, web: { d: { exported: true } } } };
    const targets = remoteTargets('a', members, services);
    expect([...targets.keys()]).toEqual(['b', 'd']);
    expect(targets.get('b')).toEqual([
      { memberId: 'b.r2', cluster: 'b', address: '10.0.0.3:4143', spiffeId: 'spiffe://b.td/meshgate/gateway/b/r2' },
      { memberId: 'b.r1', cluster: 'b', address: '10.0.0.2:4143', spiffeId: 'spiffe://b.td/meshgate/gateway/b/r1' },
    ]);
    // d exports but no gateway of it is known: an empty list, which its check reports as a failure.
    expect(targets.get('d')).toEqual([]);
  });
});

describe('adminUrlOf', () => {
  it('asks a wildcard admin listener on loopback, and cannot find a gateway whose admin port is picked at start', () => {
    expect(adminUrlOf(parse(minimal('listeners:\n  admin: 0.0.0.0:9901\n')))).toEqual({ url: 'http://127.0.0.1:9901' });
    expect(adminUrlOf(parse(minimal()))).toEqual({ url: 'http://127.0.0.1:9901' });
    expect(adminUrlOf(parse(minimal('listeners:\n  admin: 127.0.0.1:0\n')))).toMatchObject({ why: expect.stringContaining('port 0') as string });
  });
});
