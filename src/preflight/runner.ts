import { failed, type CheckResult } from './result.js';

/** One check to run: a name for the line printed if it never answers, and the work. */
export interface PlannedCheck {
  readonly name: string;
  /** `signal` aborts when the check's time is up: close what it opened. */
  run(signal: AbortSignal): Promise<CheckResult>;
}

export interface RunOptions {
  readonly timeoutMs: number;
  /** Called as each check finishes, in the order they finish: the progress lines. */
  readonly onResult: (result: CheckResult) => void;
}

/**
 * Runs checks at once, each against its own deadline, so `meshgate check`
 * always ends: a check that does not answer in time fails with that as its
 * cause, and one that throws fails with the error.
 */
export async function runChecks(checks: readonly PlannedCheck[], options: RunOptions): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (check) => {
      const result = await withDeadline(check, options.timeoutMs);
      options.onResult(result);
      return result;
    }),
  );
}

async function withDeadline(check: PlannedCheck, timeoutMs: number): Promise<CheckResult> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve(failed(check.name, `no answer in ${timeoutMs} ms`, 'find what it waits on: an address that drops packets (a firewall) rather than refusing them, or a peer that accepts and never answers'));
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      check.run(abort.signal).catch((err: unknown) => failed(check.name, `check failed: ${err instanceof Error ? err.message : String(err)}`, 'report this as a meshgate bug, with this line')),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
