/** Waiting for a child to say something in its log file: how the demo learns its children's addresses and readiness. */
import { readFileSync } from 'node:fs';
import type { Supervised } from './supervisor.js';

const POLL_MS = 100;

export class StartError extends Error {
  override readonly name = 'StartError';
}

export function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** A JSON log line as an object; {} for any other line. */
export function jsonLine(line: string): Record<string, unknown> {
  try {
    return line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The first line (from line `from` on) that passes `test`; throws a StartError
 * naming `what` and the log's last lines when the process exits or time runs out.
 */
export async function waitForLine(proc: Supervised, test: (line: string) => boolean, what: string, timeoutMs: number, from = 0): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLines(proc.logFile).slice(from);
    const found = lines.find(test);
    if (found !== undefined) return found;
    const why = proc.exit ? `exited (${proc.exit.signal ?? `code ${proc.exit.code}`})` : Date.now() > deadline ? `did not within ${timeoutMs / 1000} s` : undefined;
    if (why) throw new StartError(`${proc.name} ${why} before ${what}; the end of ${proc.logFile}:\n${lines.slice(-12).join('\n')}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const lineCount = (file: string): number => Math.max(0, readLines(file).length - 1);
