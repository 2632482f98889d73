/**
 * Workload entries and the unix selectors that pick them, as SPIRE's unix
 * workload attestor spells them. A caller gets an entry's SPIFFE ID only when
 * it matches every one of the entry's selectors (SPIRE's subset rule).
 */
import { IdentityError } from './errors.js';

export type Selector =
  | { readonly kind: 'uid'; readonly uid: number }
  | { readonly kind: 'gid'; readonly gid: number }
  | { readonly kind: 'path'; readonly path: string };

/** Who is calling, as the kernel (SO_PEERCRED) and /proc tell it. */
export interface CallerAttributes {
  readonly uid: number;
  readonly gid: number;
  /** The caller's executable; absent when it could not be read or the pid was reused. */
  readonly path?: string;
}

export interface WorkloadEntry {
  readonly spiffeId: string;
  readonly selectors: readonly string[];
}

export interface CompiledEntry {
  readonly spiffeId: string;
  readonly selectors: readonly Selector[];
}

export class SelectorError extends IdentityError {
  override name = 'SelectorError';
  /** The selector text, when one selector was at fault. */
  readonly selector: string | undefined;

  constructor(message: string, context: { readonly selector?: string; readonly spiffeId?: string }) {
    super('workload-api', message, { rule: 'selector', ...context });
    this.selector = context.selector;
  }
}

// uid_t and gid_t are 32-bit; (uid_t)-1 means "no change" to the kernel and
// is never a real owner. Canonical decimal only: SPIRE compares selector
// strings, so "uid:01" could never match and is better refused at load time.
const MAX_ID = 0xffff_fffe;
const CANONICAL_DECIMAL = /^(0|[1-9][0-9]{0,9})$/;

export function parseSelector(text: string): Selector {
  const match = /^unix:(uid|gid|path):(.*)$/s.exec(text);
  if (!match) {
    throw new SelectorError(`selector ${JSON.stringify(text)} is not unix:uid:N, unix:gid:N or unix:path:/abs`, {
      selector: text,
    });
  }
  const kind = match[1] as 'uid' | 'gid' | 'path';
  const value = match[2] ?? '';
  if (kind === 'path') return { kind, path: parsePath(text, value) };
  const id = parseId(text, kind, value);
  return kind === 'uid' ? { kind, uid: id } : { kind, gid: id };
}

function parseId(text: string, kind: string, value: string): number {
  const n = CANONICAL_DECIMAL.test(value) ? Number(value) : NaN;
  if (!(n <= MAX_ID)) {
    throw new SelectorError(`selector ${JSON.stringify(text)}: ${kind} must be a decimal number from 0 to ${MAX_ID}`, {
      selector: text,
    });
  }
  return n;
}

// The caller's path comes from readlink(/proc/<pid>/exe), which is always
// absolute and normalised, so any other spelling would silently never match.
function parsePath(text: string, value: string): string {
  const segments = value.split('/').slice(1);
  const normalised =
    value.startsWith('/') &&
    !value.includes('\0') &&
    segments.every((s) => s !== '' && s !== '.' && s !== '..');
  if (!normalised) {
    throw new SelectorError(
      `selector ${JSON.stringify(text)}: path must be absolute and normalised (no empty, "." or ".." segments, no trailing "/")`,
      { selector: text },
    );
  }
  return value;
}

/** Parses every entry's selectors once, so that a bad entry fails at load time, not at a caller's first request. */
export function compileEntries(entries: readonly WorkloadEntry[]): CompiledEntry[] {
  return entries.map((entry) => {
    // SPIRE refuses an entry without selectors: it would match every caller.
    if (entry.selectors.length === 0) {
      throw new SelectorError(`entry ${entry.spiffeId} has no selectors; it would match every caller`, {
        spiffeId: entry.spiffeId,
      });
    }
    const selectors = entry.selectors.map((text) => {
      try {
        return parseSelector(text);
      } catch (err) {
        if (!(err instanceof SelectorError)) throw err;
        throw new SelectorError(`entry ${entry.spiffeId}: ${err.message}`, { selector: text, spiffeId: entry.spiffeId });
      }
    });
    return { spiffeId: entry.spiffeId, selectors };
  });
}

export function selectorMatches(selector: Selector, caller: CallerAttributes): boolean {
  switch (selector.kind) {
    case 'uid':
      return caller.uid === selector.uid;
    case 'gid':
      return caller.gid === selector.gid;
    case 'path':
      return caller.path !== undefined && caller.path === selector.path;
  }
}

/** The SPIFFE IDs of every entry whose selectors all match the caller, in entry order, each once. */
export function matchingSpiffeIds(entries: readonly CompiledEntry[], caller: CallerAttributes): string[] {
  const ids = new Set<string>();
  for (const entry of entries) {
    if (entry.selectors.every((s) => selectorMatches(s, caller))) ids.add(entry.spiffeId);
  }
  return [...ids];
}
