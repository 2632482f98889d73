/**
 * A small seeded pseudo-random generator (mulberry32) for tests that must be
 * reproducible from a printed seed: the same seed gives the same sequence of
 * draws on every machine. Unit tests use it too (it imports nothing).
 */

export interface SeededRandom {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** A whole number in [min, max], both included. */
  int(min: number, max: number): number;
  /** Uniform in [min, max). */
  between(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** One of `weights`' keys, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K;
  /** An independent generator derived from this one (e.g. one per concern, so they do not disturb each other). */
  fork(): SeededRandom;
}

/** The bare generator: uniform draws in [0, 1), a stand-in for Math.random wherever code takes a `random` option. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededRandom(seed: number): SeededRandom {
  const next = mulberry32(seed);
  const self: SeededRandom = {
    seed: seed >>> 0,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    between: (min, max) => min + next() * (max - min),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
    weighted: <K extends string>(weights: Readonly<Record<K, number>>): K => {
      const entries = Object.entries(weights) as [K, number][];
      const total = entries.reduce((sum, [, w]) => sum + w, 0);
      let x = next() * total;
      for (const [key, w] of entries) {
        x -= w;
        if (x < 0) return key;
      }
      return (entries[entries.length - 1] as [K, number])[0];
    },
    fork: () => seededRandom(Math.floor(next() * 4294967296)),
  };
  return self;
}

/** The seed named by the environment variable `name` (decimal or 0x hex), else a fresh random one. */
export function seedFromEnv(name: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 4294967296) >>> 0;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`${name}=${raw} is not a seed: give a whole number from 0 to 4294967295`);
  }
  return value;
}
