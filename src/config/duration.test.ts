import { describe, expect, it } from 'vitest';
import { formatDuration, MAX_DURATION_MS, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['0.25m', 15_000],
    ['1.001s', 1_001], // exact, not 1000.999…
    ['0s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', '"" is not a duration (write one number and a unit ms, s, m or h, e.g. "500ms", "10s", "1.5m" or "1h")'],
    ['10', '"10" has no unit (write e.g. "10s" or "10ms")'],
    ['1.5', '"1.5" has no unit (write e.g. "1.5s")'],
    ['-1s', '"-1s" is negative; a duration must be 0 or more'],
    ['10d', '"10d" has an unknown unit "d" (use ms, s, m or h)'],
    ['10S', '"10S" has an unknown unit "S" (use ms, s, m or h)'],
    ['0.5ms', '"0.5ms" is finer than a millisecond'],
    ['1000h', '"1000h" is too long (at most 2147483647ms, about 596h: the longest timer Node.js can set)'],
  ])('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(new RangeError(message));
  });

  it.each(['1m30s', '10 s', ' 10s', '.5s', '5.s', 's', '+1s', '1e3ms', 'ten seconds'])('rejects %j as not a duration', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration/);
  });

  it('accepts the longest timer Node.js can set and nothing longer', () => {
    expect(parseDuration(`${MAX_DURATION_MS}ms`)).toBe(MAX_DURATION_MS);
    expect(() => parseDuration(`${MAX_DURATION_MS + 1}ms`)).toThrow(/too long/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1_500, '1.5s'],
    [1_001, '1.001s'],
    [10_000, '10s'],
    [90_000, '90s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [86_400_000, '24h'],
    [12.3456, '12.346ms'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips whole milliseconds through parseDuration', () => {
    for (const ms of [0, 1, 999, 1_000, 1_001, 59_999, 60_000, 61_500, 3_599_999, 3_600_000, MAX_DURATION_MS]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses %d', (ms) => {
    expect(() => formatDuration(ms)).toThrow(RangeError);
  });
});
