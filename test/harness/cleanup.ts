/**
 * A stack of teardown steps, run newest first (things are torn down in the
 * reverse order they were built, so a proxy goes before the server behind it).
 *
 * Every step is awaited and bounded: one hung step must not stall the others,
 * and one failing step must not stop the rest from running. All failures are
 * collected so the test report shows every leak, not only the first.
 */
import { withTimeout } from './wait.js';

export type CleanupFn = () => unknown;

interface Step {
  readonly fn: CleanupFn;
  readonly label: string;
}

/** Generous: stopping a process is SIGTERM, 3 s grace, then SIGKILL. */
const DEFAULT_STEP_TIMEOUT_MS = 20_000;

/** Bounds the loop in case steps keep registering more steps. */
const MAX_STEPS_PER_RUN = 10_000;

export class CleanupStack {
  private readonly steps: Step[] = [];

  constructor(private readonly stepTimeoutMs: number = DEFAULT_STEP_TIMEOUT_MS) {}

  add(fn: CleanupFn, label: string = fn.name || 'cleanup'): void {
    this.steps.push({ fn, label });
  }

  get size(): number {
    return this.steps.length;
  }

  /**
   * Runs every step, newest first, including steps added while running.
   * Never throws; returns the failures.
   */
  async run(): Promise<Error[]> {
    const errors: Error[] = [];
    for (let ran = 0; this.steps.length > 0 && ran < MAX_STEPS_PER_RUN; ran++) {
      const step = this.steps.pop()!;
      try {
        await withTimeout(
          Promise.resolve().then(step.fn),
          this.stepTimeoutMs,
          `cleanup step "${step.label}" to finish`,
        );
      } catch (err) {
        errors.push(new Error(`cleanup step "${step.label}" failed: ${describeError(err)}`, { cause: err }));
      }
    }
    if (this.steps.length > 0) {
      errors.push(new Error(`cleanup gave up with ${this.steps.length} steps left (steps kept adding steps)`));
    }
    return errors;
  }

  /** Runs every step, then throws one error that lists every failure. */
  async runOrThrow(context: string): Promise<void> {
    const errors = await this.run();
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(
        errors,
        `${context}: ${errors.length} cleanup steps failed:\n` + errors.map((e) => `  - ${e.message}`).join('\n'),
      );
    }
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
