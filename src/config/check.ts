import { fail as failWith, ok, type Result } from '../result/index.js';

/**
 * The result of checking one value from outside: either the clean value or a
 * message fit to follow `config error: <path>: `. Checks return this rather
 * than throw so that a whole file can be checked and every problem reported.
 */
export type Check<T> = Result<T, string>;

export { ok };
export const fail = (message: string): Check<never> => failWith(message);

/** Longer strings are cut in messages: a 5,000-character name would bury the line that names it. */
const MAX_QUOTED_CHARS = 64;

/** Quote a value from the file the way the user wrote it, for messages. */
export function quote(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= MAX_QUOTED_CHARS) return JSON.stringify(value);
    return `${JSON.stringify(`${value.slice(0, MAX_QUOTED_CHARS)}…`)} (${value.length} characters)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'empty';
  return Array.isArray(value) ? 'a list' : 'a mapping';
}

/** What kind of YAML value this is, for "must be X, not Y" messages. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return `a string (${quote(value)})`;
    case 'number':
      return `a number (${value})`;
    case 'boolean':
      return `a boolean (${value})`;
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

/** `is required`, `has no value (expected …)` or `must be …, not …`. */
export function typeError(expected: string, value: unknown): Check<never> {
  if (value === undefined) return fail('is required');
  if (value === null) return fail(`has no value (expected ${expected})`);
  return fail(`must be ${expected}, not ${describe(value)}`);
}
