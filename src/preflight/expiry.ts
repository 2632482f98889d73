import { X509Certificate } from 'node:crypto';

/** A certificate that ends within this is a warning: time to make the next one, as cert-manager renews at 2/3 of 90 days. */
export const EXPIRY_WARNING_MS = 7 * 24 * 3_600_000;

const DAY_MS = 24 * 3_600_000;
const HOUR_MS = 3_600_000;

/** `valid until 2025-06-01T00:00:00.000Z (in 19 days)`. */
export function describeValidity(notAfter: Date, now: Date): string {
  return `valid until ${notAfter.toISOString()} (${describeRemaining(notAfter.getTime() - now.getTime())})`;
}

/** `in 19 days`, `in 5 hours`, `in 12 minutes`, `expired`: whole units, rounded down, never a promise of more time than there is. */
export function describeRemaining(ms: number): string {
  if (ms <= 0) return 'expired';
  if (ms >= 2 * DAY_MS) return `in ${Math.floor(ms / DAY_MS)} days`;
  if (ms >= 2 * HOUR_MS) return `in ${Math.floor(ms / HOUR_MS)} hours`;
  const minutes = Math.floor(ms / 60_000);
  return `in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`;
}

export const expiresSoon = (notAfter: Date, now: Date): boolean => notAfter.getTime() - now.getTime() < EXPIRY_WARNING_MS;

/** The first NotAfter among DER certificates: when the chain (or bundle) stops being usable as a whole. */
export function earliestNotAfter(ders: readonly Uint8Array[]): Date | undefined {
  let earliest: Date | undefined;
  for (const der of ders) {
    const notAfter = new Date(new X509Certificate(der).validTo);
    if (!earliest || notAfter < earliest) earliest = notAfter;
  }
  return earliest;
}

/** The last NotAfter: a bundle still anchors something until its last authority ends. */
export function latestNotAfter(ders: readonly Uint8Array[]): Date | undefined {
  let latest: Date | undefined;
  for (const der of ders) {
    const notAfter = new Date(new X509Certificate(der).validTo);
    if (!latest || notAfter > latest) latest = notAfter;
  }
  return latest;
}
