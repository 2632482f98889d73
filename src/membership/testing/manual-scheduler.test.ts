import { describe, expect, it } from 'vitest';
import { ManualScheduler } from './manual-scheduler.js';

describe('ManualScheduler', () => {
  it('runs tasks in time order, ties in scheduling order, and skips cancelled ones', async () => {
    const clock = new ManualScheduler(1_000);
    const ran: string[] = [];
    clock.schedule(() => ran.push(`b@${clock.now()}`), 20);
    clock.schedule(() => ran.push(`a@${clock.now()}`), 10);
    clock.schedule(() => ran.push(`a2@${clock.now()}`), 10);
    const cancel = clock.schedule(() => ran.push('never'), 5);
    cancel();
    await clock.advance(15);
    expect(ran).toEqual(['a@1010', 'a2@1010']);
    expect(clock.now()).toBe(1_015);
    expect(clock.pending).toBe(1);
    await clock.advance(5);
    expect(ran).toEqual(['a@1010', 'a2@1010', 'b@1020']);
  });

  it('runs tasks scheduled by running tasks (and their promises) when they fall due in the same advance', async () => {
    const clock = new ManualScheduler();
    const ran: number[] = [];
    clock.schedule(() => {
      void Promise.resolve().then(() => clock.schedule(() => ran.push(clock.now()), 5));
    }, 5);
    await clock.advance(10);
    expect(ran).toEqual([10]);
  });

  it('refuses to go backwards', async () => {
    await expect(new ManualScheduler().advance(-1)).rejects.toThrow(RangeError);
  });
});
