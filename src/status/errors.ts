/**
 * Why `meshgate status` could not build a report. Callers branch on `code`
 * through isStatusError, a brand check that holds across copies of this
 * module, where `instanceof` does not.
 */
export type StatusErrorCode =
  /** --admin is not an http(s) URL: the operator's mistake, a usage error. */
  | 'bad-url'
  /** No answer: refused, reset, or nothing within the deadline. */
  | 'unreachable'
  /** An answer, but not the admin page we asked for (status, or not JSON). */
  | 'bad-answer';

const STATUS_ERROR: unique symbol = Symbol.for('meshgate.status.error');

export class StatusError extends Error {
  override readonly name = 'StatusError';
  readonly [STATUS_ERROR] = true;

  constructor(
    readonly code: StatusErrorCode,
    message: string,
    /** The URL asked, when there was one. */
    readonly url?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const isStatusError = (err: unknown): err is StatusError => (err as { [STATUS_ERROR]?: unknown } | null)?.[STATUS_ERROR] === true;
