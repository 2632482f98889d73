import { describe, expect, it } from 'vitest';
import { closest, editDistance } from './suggest.js';

describe('closest', () => {
  const keys = ['protocol', 'endpoints', 'healthCheck', 'export', 'allow', 'failover', 'timeouts'];

  it.each([
    ['endpoint', 'endpoints'],
    ['endponits', 'endpoints'],
    ['Endpoints', 'endpoints'],
    ['healthcheck', 'healthCheck'],
    ['timeout', 'timeouts'],
    ['alow', 'allow'],
  ])('%s → %s', (typo, key) => {
    expect(closest(typo, keys)).toBe(key);
  });

  it('suggests nothing for keys that are not near', () => {
    expect(closest('weight', keys)).toBeUndefined();
    expect(closest('xy', ['ca'])).toBeUndefined();
  });

  it('counts a transposition as one edit', () => {
    expect(editDistance('ab', 'ba')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
