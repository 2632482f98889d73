import { describe, expect, it } from 'vitest';
import { ResetAllowance } from './reset-allowance.js';

describe('ResetAllowance', () => {
  it('allows a burst, then only its refill rate, and refills with time', () => {
    const a = new ResetAllowance(10, 2, 0);
    for (let i = 0; i < 9; i++) expect(a.spend(0)).toBe(true);
    expect(a.spend(0)).toBe(false); // the tenth empties it: time to move to a fresh session
    expect(a.remaining(500)).toBeCloseTo(1, 5); // 2 a second
    expect(a.remaining(60_000)).toBe(10); // never above the burst
  });

  it('stays under a peer that allows 1,000 and then 33 a second, at 200 cancellations a second', () => {
    const ours = new ResetAllowance(500, 16, 0);
    let peer = 1_000;
    let t = 0;
    // Spend until we retire the session, tracking what the peer's bucket would hold.
    while (ours.spend(t)) {
      t += 5;
      peer = Math.min(1_000, peer - 1 + 0.005 * 33);
    }
    expect(peer).toBeGreaterThan(400);
  });
});
