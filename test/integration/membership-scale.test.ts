/**
 * A cluster whose services do not fit in one gossip message (64 KiB) still
 * reaches the others: its health record travels in parts, each signed by its
 * owner, by broadcast and by push-pull anti-entropy.
 */
import { describe, expect, it } from 'vitest';
import { ALL_GATEWAYS, getJson, startFederation, useHarness, waitUntil } from '../harness/index.js';

const h = useHarness();

const SERVICES = 2_000;
const name = (i: number) => `svc-${String(i).padStart(4, '0')}`;

interface ServicesView {
  services: Record<string, Record<string, { healthy: number; total: number; stale: boolean; exported: boolean }>>;
}
interface MembersView {
  dropped: Record<string, number>;
  unsent: Record<string, number>;
}

describe('membership at scale', () => {
  it(`carries ${SERVICES.toLocaleString('en')} exported services of one cluster to another, and routes to the last of them`, async () => {
    const backend = await h.httpBackend({ name: 'b-many' });
    const many = Object.fromEntries(
      Array.from({ length: SERVICES }, (_, i) => [name(i), { endpoints: [backend.address], export: true, allow: [ALL_GATEWAYS] }]),
    );
    const { gw } = await startFederation(h, { clusters: ['a', 'b'], services: (cluster) => (cluster === 'b' ? many : {}) });

    let seen = 0;
    await waitUntil(
      async () => {
        const view = await getJson<ServicesView>(`${gw('a').adminUrl}/debug/services`, 10_000);
        seen = Object.values(view.services).filter((clusters) => clusters['b'] !== undefined && !clusters['b'].stale && clusters['b'].exported).length;
        return seen === SERVICES;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: `a to see all ${SERVICES} services of b`, detail: () => `a sees ${seen}` },
    );

    const last = await gw('a').request(name(SERVICES - 1), '/echo');
    expect([last.status, last.headers['x-backend']]).toEqual([200, 'b-many']);
    const view = await getJson<ServicesView>(`${gw('a').adminUrl}/debug/services`, 10_000);
    expect(Object.keys(view.services).filter((s) => view.services[s]?.['b'])).toHaveLength(SERVICES);

    // Nothing had to be refused on the way: every message fitted.
    for (const cluster of ['a', 'b']) {
      const members = await getJson<MembersView>(`${gw(cluster).adminUrl}/debug/members`);
      expect(members.unsent, `${cluster}: messages that could not be sent`).toEqual({});
      expect(members.dropped['oversized'] ?? 0, `${cluster}: oversized messages received`).toBe(0);
    }
  }, 120_000);
});
