import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { IdentityService } from './identity-service.js';
import { verifyX509Svid } from './x509-verify.js';

const HOUR = 3_600_000;

async function sharedRootClusters() {
  const now = Date.now();
  const root = await CertificateAuthority.createRoot({ trustDomain: 'acme.example', ttlMs: 48 * HOUR, now: new Date(now) });
  const service = async (trustDomain: string, peers: string[]) => {
    const upstream = await root.createIntermediate({ trustDomain, ttlMs: 40 * HOUR, now: new Date(now) });
    const s = new IdentityService({
      trustDomain,
      upstream,
      federation: peers.map((td) => ({ trustDomain: td })),
      svidTtlMs: HOUR,
      caTtlMs: 24 * HOUR,
      now: () => now,
    });
    await s.start();
    return s;
  };
  return {
    now,
    east: await service('us-east.acme.example', ['eu-west.acme.example']),
    west: await service('eu-west.acme.example', []),
  };
}

describe('IdentityService - shared-root federation', () => {
  it('accepts a federated cluster whose intermediate chains to the shared root', async () => {
    const { now, east, west } = await sharedRootClusters();
    const svid = await west.svid('spiffe://eu-west.acme.example/ns/shop/sa/api');

    const verified = await verifyX509Svid(svid.chain, east.trustStore.bundleFor, new Date(now));

    expect(verified.spiffeId).toBe('spiffe://eu-west.acme.example/ns/shop/sa/api');
    expect(east.trustStore.status('eu-west.acme.example').source).toBe('shared-root');
    east.stop();
    west.stop();
  });

  it('rejects a cluster that shares the root but is not federated with us', async () => {
    const { now, east, west } = await sharedRootClusters();
    const svid = await east.svid('spiffe://us-east.acme.example/ns/shop/sa/web');

    await expect(verifyX509Svid(svid.chain, west.trustStore.bundleFor, new Date(now))).rejects.toThrow(/us-east\.acme\.example/);
    east.stop();
    west.stop();
  });

  it('refuses to issue an SVID outside its own trust domain', async () => {
    const { east, west } = await sharedRootClusters();
    await expect(east.svid('spiffe://eu-west.acme.example/ns/shop/sa/api')).rejects.toThrow(/not in our trust domain/);
    east.stop();
    west.stop();
  });
});

describe('IdentityService - renewal', () => {
  it('renews an SVID at half life ± 10 % and tells listeners', async () => {
    let now = Date.now();
    const upstream = await CertificateAuthority.createRoot({ trustDomain: 'td.example', ttlMs: 48 * HOUR, now: new Date(now) });
    const s = new IdentityService({ trustDomain: 'td.example', upstream, federation: [], svidTtlMs: HOUR, caTtlMs: 24 * HOUR, now: () => now, random: () => 0.5 });
    await s.start();
    const events: string[] = [];
    s.onChange((e) => events.push(e.kind));
    const first = await s.svid('spiffe://td.example/w');

    now += 0.49 * HOUR;
    await s.rotate();
    expect(await s.svid('spiffe://td.example/w')).toBe(first);

    now += 0.02 * HOUR;
    await s.rotate();
    const second = await s.svid('spiffe://td.example/w');
    expect(second).not.toBe(first);
    expect(second.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
    expect(events).toContain('svid-renewed');
    s.stop();
  });

  it('counts half life from issuance, not from the backdated NotBefore: a short-lived SVID is not renewed at once', async () => {
    let now = Date.now();
    const upstream = await CertificateAuthority.createRoot({ trustDomain: 'td.example', ttlMs: 48 * HOUR, now: new Date(now) });
    const s = new IdentityService({ trustDomain: 'td.example', upstream, federation: [], svidTtlMs: 8_000, caTtlMs: 24 * HOUR, now: () => now, random: () => 0.5 });
    await s.start();
    const events: string[] = [];
    s.onChange((e) => events.push(e.kind));
    const first = await s.svid('spiffe://td.example/w');
    now += 1_000;
    await s.rotate();
    expect(await s.svid('spiffe://td.example/w')).toBe(first);
    expect(events).not.toContain('svid-renewed');
    now += 3_500;
    await s.rotate();
    expect(await s.svid('spiffe://td.example/w')).not.toBe(first);
    s.stop();
  });
});
