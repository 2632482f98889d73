import { describe, expect, it } from 'vitest';
import { parseStartTime } from './peer-credentials.js';

// A real /proc/<pid>/stat line (fields 1-52), start time (field 22) = 8765432.
const fields = (comm: string): string =>
  `1234 (${comm}) S 1 1234 1234 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 11 0 8765432 1234567 890 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0`;

describe('parseStartTime', () => {
  it('reads field 22', () => {
    expect(parseStartTime(fields('node'))).toBe('8765432');
  });

  it('counts from the last ")" so a comm with spaces and parentheses cannot shift fields', () => {
    expect(parseStartTime(fields('a) S 1 2 3 (b'))).toBe('8765432');
    expect(parseStartTime(fields('x y z'))).toBe('8765432');
  });

  it('gives undefined for a truncated or garbled line', () => {
    expect(parseStartTime('')).toBeUndefined();
    expect(parseStartTime('1234 (node) S 1 2')).toBeUndefined();
    expect(parseStartTime('no parentheses at all')).toBeUndefined();
  });

  it('reads this process', async () => {
    const { readStartTime } = await import('./peer-credentials.js');
    expect(await readStartTime(process.pid)).toMatch(/^\d+$/);
    expect(await readStartTime(2 ** 30)).toBeUndefined();
  });
});
