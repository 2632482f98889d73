import { describe, expect, it } from 'vitest';
import { fail, ok, type Result } from './index.js';

describe('Result', () => {
  it('carries a value or an error, told apart by ok', () => {
    const results: Result<number>[] = [ok(1), fail('no')];
    expect(results.map((r) => (r.ok ? r.value : r.error))).toEqual([1, 'no']);
    expect(fail({ reason: 'stale' })).toEqual({ ok: false, error: { reason: 'stale' } });
  });
});
