import type { Meter, ObservableResult } from '@opentelemetry/api';
import type { RouteExplanation } from '../../failover/index.js';

/** What the gateway's state-derived metrics read, each when metrics are collected. */
export interface GaugeSources {
  /** Undefined until membership runs. */
  membership(): MembershipCounts | undefined;
  /** Undefined without `identity:`. */
  identity(): IdentityExpiry | undefined;
  routes(): Record<string, RouteExplanation>;
  now(): number;
}

export interface MembershipCounts {
  readonly members: Readonly<Record<string, number>>;
  readonly suspicions: number;
  readonly refutations: number;
  readonly received: Readonly<Record<string, number>>;
  readonly unsent: Readonly<Record<string, number>>;
  readonly dropped: Readonly<Record<string, number | undefined>>;
}

export interface IdentityExpiry {
  readonly authorities: readonly { readonly state: string; readonly notAfter: string }[];
  readonly svids: readonly { readonly spiffeId: string; readonly notAfter: string }[];
  readonly bundles: readonly { readonly trustDomain: string; readonly ageMs: number | undefined }[];
}

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'] as const;

/**
 * Metrics read from state rather than counted per event: members by state
 * and gossip counts, certificate lifetimes and bundle ages, and each route's
 * tier shares. Their labels are states, reasons, configured trust domains,
 * SPIFFE IDs of our own SVIDs, service and tier names: all bounded by the
 * config and the code.
 */
export function observeGateway(meter: Meter, sources: GaugeSources): void {
  const each = (result: ObservableResult, counts: Readonly<Record<string, number | undefined>>, label: string) => {
    for (const [value, count] of Object.entries(counts)) if (count !== undefined) result.observe(count, { [label]: value });
  };
  meter.createObservableGauge('meshgate_members', { description: 'Members of the federation as this gateway sees them, by state.' }).addCallback((result) => {
    const counts = sources.membership();
    if (!counts) return;
    for (const state of MEMBER_STATES) result.observe(counts.members[state] ?? 0, { state });
  });
  const counter = (name: string, description: string, read: (c: MembershipCounts, result: ObservableResult) => void) =>
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      const counts = sources.membership();
      if (counts) read(counts, result);
    });
  counter('meshgate_membership_suspicions_total', 'Suspicions of members this gateway raised or heard of.', (c, r) => r.observe(c.suspicions));
  counter('meshgate_membership_refutations_total', 'Suspicions of this gateway it refuted.', (c, r) => r.observe(c.refutations));
  counter('meshgate_gossip_received_total', 'Gossip messages received, by kind (broadcasts, requests).', (c, r) => each(r, c.received, 'kind'));
  counter('meshgate_gossip_unsent_total', 'Gossip messages that could not be sent, by reason.', (c, r) => each(r, c.unsent, 'reason'));
  counter('meshgate_gossip_dropped_total', 'Gossip messages received and not used, by reason.', (c, r) => each(r, c.dropped, 'reason'));

  const secondsUntil = (iso: string) => (Date.parse(iso) - sources.now()) / 1000;
  meter.createObservableGauge('meshgate_ca_expiry_seconds', { description: "Seconds until each of this trust domain's signing authorities expires, by state (active, prepared, retired).", unit: 's' }).addCallback((result) => {
    for (const a of sources.identity()?.authorities ?? []) result.observe(secondsUntil(a.notAfter), { state: a.state });
  });
  meter.createObservableGauge('meshgate_svid_expiry_seconds', { description: 'Seconds until each X509-SVID this gateway holds expires, by SPIFFE ID.', unit: 's' }).addCallback((result) => {
    for (const s of sources.identity()?.svids ?? []) result.observe(secondsUntil(s.notAfter), { spiffe_id: s.spiffeId });
  });
  meter.createObservableGauge('meshgate_bundle_age_seconds', { description: 'Seconds since each trust domain\'s bundle was accepted, by trust domain.', unit: 's' }).addCallback((result) => {
    for (const b of sources.identity()?.bundles ?? []) if (b.ageMs !== undefined) result.observe(b.ageMs / 1000, { trust_domain: b.trustDomain });
  });

  meter.createObservableGauge('meshgate_route_tier_share', { description: 'The share of a service\'s requests each tier takes now, by service and tier (routes in use).' }).addCallback((result) => {
    for (const [service, route] of Object.entries(sources.routes())) {
      for (const tier of route.tiers) result.observe(tier.share, { service, tier: tier.name });
    }
  });
}
