import { describe, it, expect } from 'vitest';
import { AWARENESS_MAX_MULTIPLIER, Awareness, failedProbeDelta } from './awareness.js';

describe('Awareness (memberlist awareness.go)', () => {
  it('starts healthy and scales by score + 1', () => {
    const a = new Awareness();
    expect(a.score()).toBe(0);
    expect(a.scaleTimeout(1000)).toBe(1000);
    a.apply(1);
    expect(a.scaleTimeout(1000)).toBe(2000);
  });

  it('clamps to 0 … max − 1 (memberlist TestAwareness table)', () => {
    const a = new Awareness({ maxMultiplier: 8 });
    const steps: Array<[delta: number, score: number, timeoutMs: number]> = [
      [0, 0, 1000],
      [-1, 0, 1000],
      [-10, 0, 1000],
      [1, 1, 2000],
      [-1, 0, 1000],
      [10, 7, 8000],
      [-1, 6, 7000],
      [-1, 5, 6000],
      [-1, 4, 5000],
      [-1, 3, 4000],
      [-1, 2, 3000],
      [-1, 1, 2000],
      [-1, 0, 1000],
      [-1, 0, 1000],
    ];
    for (const [delta, score, timeoutMs] of steps) {
      expect(a.apply(delta)).toBe(score);
      expect(a.score()).toBe(score);
      expect(a.scaleTimeout(1000)).toBe(timeoutMs);
    }
  });

  it('never stretches more than AwarenessMaxMultiplier (8×)', () => {
    const a = new Awareness();
    a.apply(100);
    expect(a.score()).toBe(AWARENESS_MAX_MULTIPLIER - 1);
    expect(a.scaleTimeout(1000)).toBe(8000);
  });

  it('raises the score by 1 for event-loop lag above half the probe timeout', () => {
    const a = new Awareness();
    expect(a.lagThresholdMs).toBe(250);
    expect(a.eventLoopLag(20)).toBe(0);
    expect(a.eventLoopLag(250)).toBe(0);
    expect(a.score()).toBe(0);
    expect(a.eventLoopLag(251)).toBe(1);
    expect(a.eventLoopLag(3000)).toBe(1);
    expect(a.score()).toBe(2);
  });

  it('does not lower the score when lag is low (only good probes do)', () => {
    const a = new Awareness();
    a.apply(3);
    a.eventLoopLag(0);
    expect(a.score()).toBe(3);
  });

  it('reports 0 applied when lag arrives at the maximum score', () => {
    const a = new Awareness({ maxMultiplier: 2 });
    expect(a.eventLoopLag(1000)).toBe(1);
    expect(a.eventLoopLag(1000)).toBe(0);
    expect(a.score()).toBe(1);
  });

  it('takes a custom lag threshold', () => {
    const a = new Awareness({ lagThresholdMs: 100 });
    expect(a.eventLoopLag(101)).toBe(1);
  });

  it('ignores NaN lag samples', () => {
    const a = new Awareness();
    expect(a.eventLoopLag(Number.NaN)).toBe(0);
  });
});

describe('failedProbeDelta (memberlist probeNode)', () => {
  it('is +1 per missed nack when helpers were asked', () => {
    expect(failedProbeDelta(3, 0)).toBe(3);
    expect(failedProbeDelta(3, 2)).toBe(1);
  });

  it('is 0 when every helper nacked: the target is silent, not us', () => {
    expect(failedProbeDelta(3, 3)).toBe(0);
    expect(failedProbeDelta(3, 5)).toBe(0);
  });

  it('is +1 when no helper could nack', () => {
    expect(failedProbeDelta(0, 0)).toBe(1);
  });
});
