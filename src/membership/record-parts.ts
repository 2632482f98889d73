/**
 * How one origin's health record is cut into parts, each small enough for one
 * gossip message. A generation fixes the number of parts, and a service's part
 * is a hash of its name modulo that number, so within a generation every
 * service lives in exactly one part and each part is a register of its own:
 * only the parts whose services changed get a new version and travel again.
 * The Scuttlebutt digest has one entry per part (`<origin>` for part 0, as a
 * one-part record always had, `<origin>#<n>` for the others).
 */
import { isValidMemberId } from './subjects.js';

/** The most parts a record may have: far above what 64 KiB messages need for any real cluster. */
export const MAX_PARTS = 4096;

/**
 * What the writer aims for per part (JSON bytes of its services), and the
 * most it lets one part grow to before it cuts the record again. A part of
 * the limit, signed with a full chain and carried as a string inside another
 * envelope (quotes escaped), stays well under the 64 KiB message budget.
 */
export const PART_TARGET_BYTES = 12 * 1024;
export const PART_LIMIT_BYTES = 24 * 1024;

/** FNV-1a (32 bit) of the name: stable across processes and versions, which the part assignment must be. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The part a service belongs to when the record has `parts` parts. */
export function partOf(service: string, parts: number): number {
  return parts <= 1 ? 0 : fnv1a(service) % parts;
}

/** The digest key of one part. */
export function partKey(origin: string, part: number): string {
  return part === 0 ? origin : `${origin}#${part}`;
}

/** A digest key's origin and part, or undefined when it is not one (a hostile digest). */
export function parsePartKey(key: string): { readonly origin: string; readonly part: number } | undefined {
  const hash = key.indexOf('#');
  const origin = hash < 0 ? key : key.slice(0, hash);
  if (!isValidMemberId(origin)) return undefined;
  if (hash < 0) return { origin, part: 0 };
  const digits = key.slice(hash + 1);
  if (!/^[1-9][0-9]{0,3}$/.test(digits)) return undefined;
  const part = Number(digits);
  return part < MAX_PARTS ? { origin, part } : undefined;
}

/**
 * How many parts `sizes` (service → JSON bytes) need so that none exceeds
 * `limitBytes`: at least `current`, at least total / target, doubled while a
 * part is still too big (hashing does not balance perfectly). Undefined when
 * even MAX_PARTS cannot do it (one service alone above the limit).
 */
export function partCountFor(
  sizes: ReadonlyMap<string, number>,
  current: number,
  targetBytes: number = PART_TARGET_BYTES,
  limitBytes: number = PART_LIMIT_BYTES,
): number | undefined {
  let total = 0;
  for (const bytes of sizes.values()) total += bytes + 1;
  let parts = Math.min(MAX_PARTS, Math.max(1, current, Math.ceil(total / targetBytes)));
  for (;;) {
    if (largestPart(sizes, parts) <= limitBytes) return parts;
    if (parts >= MAX_PARTS) return undefined;
    parts = Math.min(MAX_PARTS, parts * 2);
  }
}

/** JSON bytes of the biggest part (`{}`, commas and each `"name":{…}` counted). */
export function largestPart(sizes: ReadonlyMap<string, number>, parts: number): number {
  const bytes = new Array<number>(parts).fill(2);
  for (const [name, size] of sizes) {
    const part = partOf(name, parts);
    bytes[part] = (bytes[part] ?? 0) + size + 1;
  }
  return Math.max(...bytes);
}
