/**
 * Time for membership's timers, injected so that SWIM's timing can be tested
 * without sleeping: production passes realTimeSchedule, unit tests a manual
 * scheduler (testing/manual-scheduler.ts) that runs tasks only when the test
 * advances time.
 */

/** Runs `task` after `delayMs`; returns a function that cancels it. */
export type Schedule = (task: () => void, delayMs: number) => () => void;

/** The global timers (which vitest's fake timers replace, if a test wants). */
export const realTimeSchedule: Schedule = (task, delayMs) => {
  const timer = setTimeout(task, delayMs);
  return () => clearTimeout(timer);
};
