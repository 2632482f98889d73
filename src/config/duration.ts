/**
 * Durations as operators write them (`500ms`, `10s`, `1.5m`, `1h`) and back.
 * One number and one unit, nothing else: `1m30s`, `10` and `10 s` are
 * rejected rather than guessed at, because a wrong guess is a timeout that is
 * off by a factor of a thousand.
 */
import { type Check, fail, ok, quote } from './check.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;

/**
 * Node.js timers overflow above 2^31-1 ms (about 24.8 days) and then fire
 * after 1 ms, so a longer duration would silently mean "immediately".
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const EXAMPLES = '"500ms", "10s", "1.5m" or "1h"';
const SHAPE = /^(-?)(\d+)(?:\.(\d+))?([A-Za-z]*)$/;

/** Parse without throwing; the message quotes the text and says how to fix it. */
export function checkDuration(text: string): Check<number> {
  const r = measure(text);
  if (!r.ok) return r;
  if (r.value > BigInt(MAX_DURATION_MS)) {
    return fail(`${quote(text)} is too long (at most ${MAX_DURATION_MS}ms, about 596h: the longest timer Node.js can set)`);
  }
  return ok(Number(r.value));
}

/**
 * Like checkDuration, but within `range` (ms) instead of the timer limit:
 * config fields pass narrower ranges, certificate lifetimes wider ones. The
 * message gives the range, so the operator sees what the field takes.
 */
export function checkDurationIn(text: string, range: { readonly min: number; readonly max: number }): Check<number> {
  const r = measure(text);
  if (!r.ok) return r;
  if (r.value < BigInt(range.min) || r.value > BigInt(range.max)) {
    return fail(`${quote(text)} is out of range (allowed ${formatDuration(range.min)} to ${formatDuration(range.max)})`);
  }
  return ok(Number(r.value));
}

/** Milliseconds, exactly and without an upper limit yet. */
function measure(text: string): Check<bigint> {
  const m = SHAPE.exec(text);
  if (!m) {
    return fail(`${quote(text)} is not a duration (write one number and a unit ms, s, m or h, e.g. ${EXAMPLES})`);
  }
  const [, minus = '', whole = '', frac = '', unit = ''] = m;
  if (unit === '') {
    const hint = frac ? `"${text}s"` : `"${text}s" or "${text}ms"`;
    return fail(`${quote(text)} has no unit (write e.g. ${hint})`);
  }
  if (!isUnit(unit)) return fail(`${quote(text)} has an unknown unit "${unit}" (use ms, s, m or h)`);
  if (minus) return fail(`${quote(text)} is negative; a duration must be 0 or more`);

  // Integer arithmetic, so that "1.001s" is exactly 1001 ms, not 1000.999….
  const scaled = BigInt(whole + frac) * BigInt(UNIT_MS[unit]);
  const divisor = 10n ** BigInt(frac.length);
  if (scaled % divisor !== 0n) return fail(`${quote(text)} is finer than a millisecond`);
  return ok(scaled / divisor);
}

/** `parseDuration("1.5s") === 1500`. Throws a RangeError with a clear message. */
export function parseDuration(text: string): number {
  const r = checkDuration(text);
  if (!r.ok) throw new RangeError(r.error);
  return r.value;
}

/**
 * The shortest exact spelling in the largest unit: 3_600_000 → "1h",
 * 90_000 → "90s", 1_500 → "1.5s", 250 → "250ms". Whole milliseconds round-trip
 * through parseDuration; fractions of a millisecond (measured latencies) print
 * with up to three decimals.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format ${ms} as a duration`);
  if (!Number.isInteger(ms)) return `${trimDecimals(ms)}ms`;
  if (ms === 0) return '0s';
  for (const unit of ['h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms >= 1_000 ? `${trimDecimals(ms / 1_000)}s` : `${ms}ms`;
}

function trimDecimals(n: number): string {
  return String(Number(n.toFixed(3)));
}

function isUnit(u: string): u is Unit {
  return Object.hasOwn(UNIT_MS, u);
}
