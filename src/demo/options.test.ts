import { describe, expect, it } from 'vitest';
import { DemoUsageError, parseDemoArgs } from './options.js';

describe('parseDemoArgs', () => {
  it('reads the flags', () => {
    expect(parseDemoArgs([])).toEqual({ script: false, durationS: undefined, color: true, svg: undefined });
    expect(parseDemoArgs(['--script', '--duration', '90', '--no-color', '--svg', 'x.svg'])).toEqual({ script: true, durationS: 90, color: false, svg: 'x.svg' });
    expect(parseDemoArgs(['--help'])).toBe('help');
  });

  it('names the flag that is wrong', () => {
    for (const bad of ['abc', '5', '-3', '1e9', '']) {
      expect(() => parseDemoArgs(['--duration', bad])).toThrow(/--duration/);
    }
    expect(() => parseDemoArgs(['--durtion', '90'])).toThrow(DemoUsageError);
    expect(() => parseDemoArgs(['extra'])).toThrow(DemoUsageError);
  });
});
