import { describe, expect, it } from 'vitest';
import { TrustStore } from './trust-store.js';
import type { TrustBundle } from './types.js';

const bundle = (trustDomain: string, sequence?: bigint, roots = 1): TrustBundle => ({
  trustDomain,
  x509Authorities: Array.from({ length: roots }, (_, i) => new Uint8Array([i])),
  jwtAuthorities: [],
  sequence,
});

describe('TrustStore', () => {
  it('keeps one bundle per trust domain and never mixes them', () => {
    const store = new TrustStore(() => 0);
    store.set(bundle('a.example', 1n), 'file');
    store.set(bundle('b.example', 1n, 2), 'endpoint');
    expect(store.bundleFor('a.example')?.x509Authorities).toHaveLength(1);
    expect(store.bundleFor('b.example')?.x509Authorities).toHaveLength(2);
    expect(store.bundleFor('c.example')).toBeUndefined();
  });

  it('takes an equal sequence as a refresh without a change, and never lets another source replace our own bundle', () => {
    let now = 0;
    const store = new TrustStore(() => now);
    let changes = 0;
    store.onChange(() => changes++);
    store.set(bundle('a.example', 3n), 'endpoint');
    now = 5_000;
    expect(store.set(bundle('a.example', 3n), 'endpoint')).toBe(false);
    expect(store.status('a.example').ageMs).toBe(0);
    expect(store.set(bundle('a.example'), 'gossip')).toBe(false);
    store.set(bundle('own.example', 1n), 'own');
    expect(store.set(bundle('own.example', 9n), 'gossip')).toBe(false);
    expect(changes).toBe(2);
  });

  it('refuses a bundle with a lower sequence than the one held', () => {
    const store = new TrustStore(() => 0);
    expect(store.set(bundle('a.example', 5n), 'endpoint')).toBe(true);
    expect(store.set(bundle('a.example', 4n, 3), 'endpoint')).toBe(false);
    expect(store.get('a.example')?.sequence).toBe(5n);
    expect(store.set(bundle('a.example', 6n, 3), 'endpoint')).toBe(true);
  });

  it('keeps the last good bundle on a failed refresh and reports its age and the error', () => {
    let now = 1_000;
    const store = new TrustStore(() => now);
    store.set(bundle('a.example', 1n), 'endpoint');
    now = 61_000;
    store.reportError('a.example', 'connect ECONNREFUSED');
    expect(store.get('a.example')).toBeDefined();
    expect(store.status('a.example')).toMatchObject({ ageMs: 60_000, lastError: 'connect ECONNREFUSED', source: 'endpoint' });
    store.set(bundle('a.example', 2n), 'endpoint');
    expect(store.status('a.example')).toMatchObject({ ageMs: 0, lastError: undefined, sequence: '2' });
  });

  it('tells listeners about every accepted change', () => {
    const store = new TrustStore(() => 0);
    let changes = 0;
    const off = store.onChange(() => changes++);
    store.set(bundle('a.example', 1n), 'file');
    store.set(bundle('a.example', 0n), 'file');
    off();
    store.set(bundle('a.example', 2n), 'file');
    expect(changes).toBe(1);
  });
});
