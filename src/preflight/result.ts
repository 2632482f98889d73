/**
 * What one preflight check says, and how `meshgate check` prints it: one
 * line per check, then a summary. Four states, because "works, but mind
 * this" (a CA that expires in 3 days) and "could not be looked at" (the SVID
 * when the CA did not load) are neither a pass nor a reason to fail.
 */

/** pass ✓; warn ⚠ (traffic flows, act soon); fail ✗ (traffic would fail); skip – (not run: what it needs failed or is absent). */
export type Severity = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  readonly name: string;
  /** False exactly when severity is 'fail'. */
  readonly ok: boolean;
  readonly severity: Severity;
  /** What was found, or the cause of a failure. */
  readonly detail: string;
  /** What the operator should do about a warning or failure. */
  readonly fix?: string;
}

export const passed = (name: string, detail: string): CheckResult => ({ name, ok: true, severity: 'pass', detail });
export const warned = (name: string, detail: string, fix?: string): CheckResult => ({ name, ok: true, severity: 'warn', detail, ...(fix && { fix }) });
export const failed = (name: string, detail: string, fix: string): CheckResult => ({ name, ok: false, severity: 'fail', detail, fix });
export const skipped = (name: string, detail: string): CheckResult => ({ name, ok: true, severity: 'skip', detail });

const MARKS: Record<Severity, string> = { pass: '✓', warn: '⚠', fail: '✗', skip: '–' };

/** `✗ NATS nats://…: cannot connect (…) — fix: …`: one line, whatever the detail held. */
export function formatResult(result: CheckResult): string {
  const line = `${MARKS[result.severity]} ${result.name}: ${result.detail}${result.fix ? ` — fix: ${result.fix}` : ''}`;
  return line.replace(/\s*\n\s*/g, ' ');
}

export function summarize(results: readonly CheckResult[]): string {
  const count = (s: Severity) => results.filter((r) => r.severity === s).length;
  const failures = count('fail');
  const parts = [`${count('pass')} passed`, `${count('warn')} ${count('warn') === 1 ? 'warning' : 'warnings'}`, `${failures} failed`];
  if (count('skip') > 0) parts.push(`${count('skip')} not run`);
  const verdict = failures > 0 ? 'traffic would fail' : 'ready for traffic';
  return `${results.length} checks: ${parts.join(', ')}: ${verdict}`;
}

/** 1 when any check says traffic would fail, else 0 (config errors, 2, never get this far). */
export function exitCodeOf(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => !r.ok) ? 1 : 0;
}
