/**
 * Bounded waiting. Every wait in the harness goes through here so that each has
 * a deadline, a bounded number of attempts, and an error that says what was
 * awaited (plus any detail the caller can add, such as a process's output).
 */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a clear message when `promise` has not settled within `ms`. */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  detail?: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(timeoutMessage(ms, what, undefined, detail))), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface WaitOptions {
  /** What is being awaited, for the error message ("nats-server a to answer /healthz"). */
  what: string;
  /** Deadline for the whole wait. */
  timeoutMs?: number;
  /** Pause between attempts. */
  intervalMs?: number;
  /** Extra context for the error, evaluated only on failure (e.g. a process's output tail). */
  detail?: () => string;
  /** Checked before each attempt: a returned reason ends the wait at once (e.g. "process exited"). */
  abortIf?: () => string | undefined;
}

/**
 * Calls `probe` until it returns something other than undefined/false/null,
 * and returns that. Errors thrown by the probe count as "not yet" and the last
 * one is reported if the deadline passes.
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: WaitOptions,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  // A hard cap on attempts as well as on time, in case the clock misbehaves.
  const maxAttempts = Math.ceil(timeoutMs / Math.max(1, intervalMs)) + 10;
  let last: string | undefined;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const reason = opts.abortIf?.();
    if (reason !== undefined) {
      throw new Error(`Gave up waiting for ${opts.what}: ${reason}${suffix(opts.detail)}`);
    }
    try {
      const result = await probe();
      if (result !== undefined && result !== null && result !== false) return result;
      last = result === false ? 'false' : String(result);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  throw new Error(timeoutMessage(timeoutMs, opts.what, last, opts.detail));
}

function timeoutMessage(ms: number, what: string, last: string | undefined, detail?: () => string): string {
  const lastPart = last === undefined ? '' : `; last attempt: ${last}`;
  return `Timed out after ${ms} ms waiting for ${what}${lastPart}${suffix(detail)}`;
}

function suffix(detail?: () => string): string {
  if (!detail) return '';
  let text: string;
  try {
    text = detail();
  } catch (err) {
    text = `(could not describe: ${String(err)})`;
  }
  return text ? `\n${text}` : '';
}
