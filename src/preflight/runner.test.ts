import { describe, expect, it } from 'vitest';
import { passed, type CheckResult } from './result.js';
import { runChecks } from './runner.js';

describe('runChecks', () => {
  it('reports each check as it finishes, and fails one that does not answer in time, aborting it', async () => {
    const lines: string[] = [];
    let release: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    let aborted = false;
    const results = await runChecks(
      [
        { name: 'waits for fast', run: async () => (await slow, passed('waits for fast', 'done')) },
        { name: 'fast', run: async () => (release(), passed('fast', 'done')) },
        {
          name: 'hangs',
          run: (signal) =>
            new Promise<CheckResult>(() => {
              signal.addEventListener('abort', () => (aborted = true));
            }),
        },
      ],
      { timeoutMs: 50, onResult: (r) => lines.push(`${r.severity} ${r.name}: ${r.detail}`) },
    );
    expect(lines).toEqual(['pass fast: done', 'pass waits for fast: done', 'fail hangs: no answer in 50 ms']);
    expect(results.map((r) => r.name)).toEqual(['waits for fast', 'fast', 'hangs']);
    expect(aborted).toBe(true);
  });

  it('turns a check that throws into a failure naming the error', async () => {
    const [result] = await runChecks([{ name: 'broken', run: () => Promise.reject(new Error('boom')) }], { timeoutMs: 1_000, onResult: () => undefined });
    expect(result).toMatchObject({ ok: false, severity: 'fail', detail: 'check failed: boom' });
  });
});
