/**
 * The scripted story: four steps, each an action on the federation, a wait
 * for what should follow (conditions with generous deadlines, never a fixed
 * sleep standing in for one), a short calm to watch it, and a verdict.
 */
import type { AdminSnapshot, Route } from './admin-pages.js';
import { memberId } from './gateway-config.js';
import type { TrafficLog } from './traffic-stats.js';
import { judgeFailback, judgeFailover, judgeGatewayKilled, judgeLatencyShift, type Verdict } from './verdicts.js';

export type StepStatus = 'waiting' | 'running' | 'passed' | 'failed' | 'skipped';

export interface StepState {
  readonly n: number;
  readonly name: string;
  /** What happens, in a few words. */
  readonly title: string;
  /** What should follow. */
  readonly expect: string;
  status: StepStatus;
  startedAt?: number;
  endedAt?: number;
  verdict?: Verdict;
  /** Why it was skipped or could not be judged. */
  note?: string;
}

/** What the story may do to the federation. */
export interface StoryActions {
  killEndpoints(cluster: string): Promise<void>;
  restoreEndpoints(cluster: string): Promise<void>;
  slow(cluster: string, delayMs: number): void;
  killGateway(cluster: string): Promise<void>;
}

export interface StoryContext {
  readonly actions: StoryActions;
  readonly traffic: TrafficLog;
  /** The newest look at us-east's gateway. */
  latest(): AdminSnapshot;
  say(text: string): void;
  /** How long to watch after each step settled. */
  readonly calmMs: number;
  /** The story's end: no step waits beyond it. */
  readonly deadline: number;
  cancelled(): boolean;
}

export const SLOW_MS = 50;
const POLL_MS = 200;

export const STEPS: readonly Omit<StepState, 'status'>[] = [
  { n: 1, name: 'failover', title: "us-east's endpoints all die", expect: 'traffic fails over to us-west first (same region), no failed request' },
  { n: 2, name: 'failback', title: "us-east's endpoints return", expect: 'traffic fails back to us-east after the hold and the ramp' },
  { n: 3, name: 'latency', title: `us-west's endpoints get ${SLOW_MS} ms slower`, expect: 'echo traffic (routed by latency alone) shifts away from us-west' },
  { n: 4, name: 'gateway-killed', title: "eu-west's gateway is killed", expect: 'it is marked dead and left out of routing' },
];

export const newSteps = (): StepState[] => STEPS.map((s) => ({ ...s, status: 'waiting' as StepStatus }));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `test` until it holds (the time it did) or `maxMs`, the story's deadline or a cancel come first (undefined). */
async function waitFor(ctx: StoryContext, test: () => boolean, maxMs: number): Promise<number | undefined> {
  const end = Math.min(Date.now() + maxMs, ctx.deadline);
  for (;;) {
    if (ctx.cancelled()) return undefined;
    if (test()) return Date.now();
    if (Date.now() >= end) return undefined;
    await sleep(POLL_MS);
  }
}

/** Watches for `ms` (cut short by a cancel or the deadline). */
async function calm(ctx: StoryContext, ms: number): Promise<void> {
  await waitFor(ctx, () => false, ms);
}

const route = (ctx: StoryContext, service: string): Route | undefined => ctx.latest().routes?.[service];
const target = (r: Route | undefined, key: string) => r?.tiers.flatMap((t) => t.targets).find((t) => t.key === key);

type StepRun = (ctx: StoryContext) => Promise<Verdict>;

const failover: StepRun = async (ctx) => {
  const from = Date.now();
  ctx.say("killing every endpoint of us-east (SIGKILL of its services' process)");
  await ctx.actions.killEndpoints('us-east');
  await waitFor(ctx, () => judgeFailover(ctx.traffic.between(from), { from, until: Date.now(), to: 'us-west', farAway: 'eu-west' }).movedAfterMs !== undefined, 20_000);
  ctx.say('hello is served by us-west now: the region tier; eu-west (any) is next in line');
  await calm(ctx, ctx.calmMs);
  return judgeFailover(ctx.traffic.between(from), { from, until: Date.now(), to: 'us-west', farAway: 'eu-west' });
};

const failback: StepRun = async (ctx) => {
  const from = Date.now();
  const phases: string[] = [];
  const notePhase = () => {
    const phase = route(ctx, 'hello')?.failback.phase;
    if (phase && phase !== phases.at(-1)) {
      phases.push(phase);
      ctx.say(`failback phase: ${phase}${route(ctx, 'hello')?.failback.reason ? ` (${route(ctx, 'hello')?.failback.reason})` : ''}`);
    }
  };
  ctx.say("restarting us-east's endpoints on the same ports: traffic comes back only after a 10 s hold and a 10 s ramp");
  await ctx.actions.restoreEndpoints('us-east');
  const judge = () => {
    const events = ctx.latest().events?.events ?? [];
    const failbackEvent = events.some((e) => e.service === 'hello' && e.kind === 'failback' && Date.parse(e.time) >= from);
    return judgeFailback(ctx.traffic.between(from), { from, until: Date.now(), home: 'us-east', phases, failbackEvent });
  };
  await waitFor(ctx, () => (notePhase(), phases.at(-1) === 'steady' && phases.length > 1 && judge().movedAfterMs !== undefined), 75_000);
  await calm(ctx, Math.min(ctx.calmMs, 3_000));
  notePhase();
  return judge();
};

/** Whether echo's latency estimates at us-east rank us-east, us-west, eu-west (step 1's failures are still being forgotten for a while after). */
function usualOrder(ctx: StoryContext): boolean {
  const targets = route(ctx, 'echo')?.tiers.flatMap((t) => t.targets) ?? [];
  const rtt = (test: (key: string) => boolean) => targets.find((t) => test(t.key))?.load?.rttMs ?? Number.NaN;
  const [east, west, eu] = [rtt((k) => k.startsWith('local:')), rtt((k) => k === 'cluster:us-west'), rtt((k) => k === 'cluster:eu-west')];
  return east < west && west < eu;
}

const latency: StepRun = async (ctx) => {
  ctx.say("waiting until echo's latency order at us-east is us-east, us-west, eu-west again, for 3 s (us-east's endpoint is still paying for step 1)");
  let heldSince: number | undefined;
  const settled = await waitFor(ctx, () => ((heldSince = usualOrder(ctx) ? (heldSince ?? Date.now()) : undefined), heldSince !== undefined && Date.now() - heldSince >= 3_000), 15_000);
  if (settled === undefined) ctx.say('the order did not settle within 15 s; going on anyway');
  const from = Date.now();
  const before = ctx.traffic.between(from - 3_000, from);
  const estimate = () => target(route(ctx, 'echo'), 'cluster:us-west')?.load?.rttMs;
  let peak: number | undefined;
  // The others' estimates say whether the machine was too busy for 50 ms to stand out.
  const othersEstimates = () =>
    (route(ctx, 'echo')?.tiers.flatMap((t) => t.targets) ?? [])
      .filter((t) => t.key !== 'cluster:us-west' && t.load)
      .map((t) => `${t.key.startsWith('local:') ? 'us-east' : t.key.slice('cluster:'.length)} ${t.load?.rttMs.toFixed(0)} ms`)
      .join(', ');
  const judge = () =>
    judgeLatencyShift(before, ctx.traffic.between(from), {
      from,
      until: Date.now(),
      slow: 'us-west',
      estimateMs: peak,
      minEstimateMs: SLOW_MS * 0.8,
      others: ['us-east', 'eu-west'],
      othersEstimates: othersEstimates(),
    });
  ctx.say(`making every answer of us-west's endpoints ${SLOW_MS} ms slower. echo is one tier of all three clusters: of two picked at random the one with the lower peak-EWMA latency wins, so the fastest (us-east) gets most, the slowest (eu-west, across the ocean) least`);
  ctx.actions.slow('us-west', SLOW_MS);
  const rose = await waitFor(ctx, () => ((peak = Math.max(peak ?? 0, estimate() ?? 0)), (peak ?? 0) >= SLOW_MS * 0.8), 20_000);
  if (rose !== undefined) ctx.say(`us-east's gateway measures us-west at ${peak?.toFixed(0)} ms now`);
  await calm(ctx, Math.max(5_000, ctx.calmMs));
  const v = judge();
  ctx.say(`us-west back to its normal speed`);
  ctx.actions.slow('us-west', 0);
  return v;
};

const gatewayKilled: StepRun = async (ctx) => {
  const from = Date.now();
  const killed = 'eu-west';
  ctx.say(`killing eu-west's gateway (SIGKILL: it never says goodbye, gossip has to notice)`);
  await ctx.actions.killGateway(killed);
  const status = () => ctx.latest().members?.members.find((m) => m.id === memberId(killed))?.status;
  let lastStatus = status();
  const deadAt = await waitFor(
    ctx,
    () => {
      const s = status();
      if (s && s !== lastStatus) ctx.say(`membership: ${memberId(killed)} is ${s}`);
      lastStatus = s;
      return s === 'dead';
    },
    45_000,
  );
  const leftOut = () => ['echo', 'hello'].every((svc) => target(route(ctx, svc), `cluster:${killed}`)?.usable !== true);
  await waitFor(ctx, leftOut, 10_000);
  await calm(ctx, ctx.calmMs);
  return judgeGatewayKilled(ctx.traffic.between(from), { from, until: Date.now(), killed, deadAt, leftOut: leftOut() });
};

const RUNS: Readonly<Record<string, StepRun>> = { failover, failback, latency, 'gateway-killed': gatewayKilled };

/** Runs the steps in order; a cancel (a key pressed, quit, time up) marks the rest skipped. */
export async function runStory(steps: StepState[], ctx: StoryContext, onChange: (step: StepState) => void = () => {}): Promise<void> {
  for (const step of steps) {
    if (ctx.cancelled() || Date.now() >= ctx.deadline) {
      step.status = 'skipped';
      step.note = ctx.cancelled() ? 'the story was stopped' : 'out of time (--duration)';
      continue;
    }
    step.status = 'running';
    step.startedAt = Date.now();
    ctx.say(`step ${step.n}: ${step.title} → expect: ${step.expect}`);
    onChange(step);
    const run = RUNS[step.name] as StepRun;
    step.verdict = await run(ctx);
    step.endedAt = Date.now();
    step.status = step.verdict.passed ? 'passed' : 'failed';
    if (ctx.cancelled() && !step.verdict.passed) {
      step.status = 'skipped';
      step.note = 'the story was stopped mid-step';
    }
    onChange(step);
  }
}
