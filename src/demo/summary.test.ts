import { describe, expect, it } from 'vitest';
import { newSteps } from './story.js';
import { summaryLine } from './summary.js';

describe('summaryLine', () => {
  const verdict = { passed: false, failed: 2, failedIdempotent: 1, requests: 400, movedAfterMs: 21_300, seen: 'hello all back in us-east', missed: ['no idempotent request failed'] };

  it('gives the verdict, failed requests, time until traffic moved, what was seen and what was missed', () => {
    const [step] = newSteps();
    Object.assign(step!, { status: 'failed', verdict });
    expect(summaryLine(step!)).toBe(
      'step 1 failover: FAILED; failed requests 2 of 400 (idempotent: 1); traffic moved after 21.3 s; hello all back in us-east; missed: no idempotent request failed',
    );
  });

  it('says why a step did not run or was cut off, without judging it', () => {
    const [, second, third] = newSteps();
    Object.assign(second!, { status: 'skipped', note: 'the story was stopped mid-step', verdict });
    Object.assign(third!, { status: 'skipped', note: 'out of time (--duration)' });
    expect(summaryLine(second!)).toBe('step 2 failback: SKIPPED (the story was stopped mid-step); failed requests 2 of 400 (idempotent: 1) until then');
    expect(summaryLine(third!)).toBe('step 3 latency: SKIPPED (out of time (--duration))');
  });
});
