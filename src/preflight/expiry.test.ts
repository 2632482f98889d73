import { describe, expect, it } from 'vitest';
import { describeRemaining, describeValidity, expiresSoon } from './expiry.js';

const DAY = 24 * 3_600_000;

describe('expiry', () => {
  it('says the time left in whole units, rounded down', () => {
    expect(describeRemaining(19.9 * DAY)).toBe('in 19 days');
    expect(describeRemaining(47 * 3_600_000)).toBe('in 47 hours');
    expect(describeRemaining(61_000)).toBe('in 1 minute');
    expect(describeRemaining(0)).toBe('expired');
  });

  it('warns within 7 days', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    expect(expiresSoon(new Date(now.getTime() + 6 * DAY), now)).toBe(true);
    expect(expiresSoon(new Date(now.getTime() + 8 * DAY), now)).toBe(false);
    expect(describeValidity(new Date(now.getTime() + 3 * DAY), now)).toBe('valid until 2030-01-04T00:00:00.000Z (in 3 days)');
  });
});
