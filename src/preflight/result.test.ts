import { describe, expect, it } from 'vitest';
import { exitCodeOf, failed, formatResult, passed, skipped, summarize, warned } from './result.js';

describe('preflight results', () => {
  it('prints one line per check: mark, name, detail and the fix', () => {
    expect(formatResult(passed('NATS nats://n:4222', 'connected'))).toBe('✓ NATS nats://n:4222: connected');
    expect(formatResult(warned('CA', 'expires in 3 days', 'make a new one'))).toBe('⚠ CA: expires in 3 days — fix: make a new one');
    expect(formatResult(failed('CA', 'expired\n  at noon', 'make a new one'))).toBe('✗ CA: expired at noon — fix: make a new one');
    expect(formatResult(skipped('gateway SVID', 'not issued'))).toBe('– gateway SVID: not issued');
  });

  it('exits 1 only when a check failed; warnings and skipped checks do not', () => {
    expect(exitCodeOf([passed('a', 'x'), warned('b', 'y'), skipped('c', 'z')])).toBe(0);
    expect(exitCodeOf([passed('a', 'x'), failed('b', 'y', 'f')])).toBe(1);
  });

  it('summarizes by state and says whether traffic would fail', () => {
    expect(summarize([passed('a', 'x'), warned('b', 'y')])).toBe('2 checks: 1 passed, 1 warning, 0 failed: ready for traffic');
    expect(summarize([failed('a', 'x', 'f'), skipped('b', 'y')])).toBe('2 checks: 0 passed, 0 warnings, 1 failed, 1 not run: traffic would fail');
  });
});
