import { describe, expect, it } from 'vitest';
import { HeadSampler } from './head-sampler.js';

const ID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331';
const sampled = `${ID}-01`;
const notSampled = `${ID}-00`;

/** A sampler whose draws are given, and which counts them. */
function sampler(ratio: number, draws: number[]) {
  let drawn = 0;
  const s = new HeadSampler(ratio, () => draws[drawn++] ?? Number.NaN);
  return { s, drawn: () => drawn };
}

describe('HeadSampler', () => {
  it("follows the caller's sampled bit without drawing, wherever the request came in", () => {
    const { s, drawn } = sampler(1, []);
    expect(s.decide(sampled, true)).toBe('follow');
    expect(s.decide(sampled, false)).toBe('follow');
    expect(s.decide(`${ID}-03`, false)).toBe('follow'); // other flag bits do not matter
    expect(s.decide(notSampled, true)).toBe('pass');
    expect(s.decide(`${ID}-02`, true)).toBe('pass');
    expect(drawn()).toBe(0);
  });

  it('starts a trace at the ratio only where one may start', () => {
    const { s, drawn } = sampler(0.01, [0.005, 0.5, 0.0099, 0.01]);
    expect(s.decide(undefined, true)).toBe('start');
    expect(s.decide(undefined, true)).toBe('pass');
    expect(s.decide(undefined, true)).toBe('start');
    expect(s.decide(undefined, true)).toBe('pass');
    expect(drawn()).toBe(4);
    // From another gateway, no context means that gateway did not sample it.
    expect(s.decide(undefined, false)).toBe('pass');
    expect(drawn()).toBe(4);
  });

  it('never starts one at ratio 0, always at 1', () => {
    expect(new HeadSampler(0, () => 0).decide(undefined, true)).toBe('pass');
    expect(new HeadSampler(1, () => 0.999999).decide(undefined, true)).toBe('start');
  });

  it('reads a traceparent without the W3C shape as none', () => {
    const { s } = sampler(0, []);
    for (const bad of [
      '',
      'garbage',
      `${ID}-1`,
      `${ID}-0G`,
      `${ID}-0A`, // upper-case hex
      `ff${sampled.slice(2)}`,
      `${sampled}-extra`, // version 00 has no more fields
      `${sampled}x`,
      sampled.replace('-b7ad', '_b7ad'),
      [sampled, sampled],
    ]) {
      expect(s.decide(bad, true), String(bad)).toBe('pass');
    }
    // A later version may carry more fields after a dash.
    expect(s.decide(`01${sampled.slice(2)}-more`, false)).toBe('follow');
  });
});
