/**
 * The one result shape, for work that fails without throwing: checks of
 * input from outside (a config file, gossip from another cluster), where
 * every problem is to be reported or counted rather than thrown. `error` is
 * what the caller needs to say or count why: a message, or a stable reason
 * with its detail.
 *
 * Every part may import this one; it imports nothing.
 */
export type Result<T, E = string> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const fail = <E>(error: E): Result<never, E> => ({ ok: false, error });
