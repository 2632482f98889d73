/**
 * Faults for chaos tests: components that can be taken down and brought back
 * (endpoints, gateways, nats-servers), a fault plan drawn from a seeded
 * generator, and a scheduler that carries the plan out against the real
 * processes, recording every outage in a ChaosTimeline.
 *
 * The plan is fixed by the seed before anything runs, and printed, so a seed
 * names one sequence of faults. The machine's timing still varies (a restart
 * may take longer than planned), so each fault is checked again, against what
 * is really down, just before it is applied, and skipped (and noted) when it
 * would break the test's rules.
 */
import type { RestartableFederation } from './restartable-federation.js';
import type { NatsServer } from './nats.js';
import { ChaosTimeline, type OutageHow } from './chaos-timeline.js';
import type { SeededRandom } from './seeded-random.js';
import { sleep } from './wait.js';

export type ComponentKind = 'endpoint' | 'gateway' | 'nats';

export interface ChaosComponent {
  readonly name: string;
  readonly kind: ComponentKind;
  /** The ways it may be taken down. */
  readonly hows: readonly OutageHow[];
  /** Takes it down; resolves once it is down (process exited, sockets closed). */
  stop(how: OutageHow): Promise<void>;
  /** Brings it back on the same address; resolves once it is ready. */
  start(): Promise<void>;
}

/**
 * A restart on the same port can lose a race: while the port was free, the
 * kernel may have given it to some client connection as its local port. Such
 * a connection is short-lived, so trying again a little later succeeds.
 */
const RESTART_ATTEMPTS = 40;
const RESTART_PAUSE_MS = 250;

async function restartWithRetries(what: string, start: () => Promise<void>, onRetry: (err: unknown) => void): Promise<void> {
  let last: unknown;
  for (let attempt = 1; attempt <= RESTART_ATTEMPTS; attempt++) {
    try {
      await start();
      return;
    } catch (err) {
      last = err;
      onRetry(err);
      await sleep(RESTART_PAUSE_MS);
    }
  }
  throw new Error(`could not restart ${what} after ${RESTART_ATTEMPTS} attempts: ${String(last)}`, { cause: last });
}

/** An in-process HTTP or gRPC backend: crashed by dropping its listener and every connection. */
export function endpointComponent(
  name: string,
  backend: { stop(): Promise<void>; restart(): Promise<void> },
  onRetry: (err: unknown) => void = () => {},
): ChaosComponent {
  return {
    name,
    kind: 'endpoint',
    hows: ['crash'],
    stop: () => backend.stop(),
    start: () => restartWithRetries(name, () => backend.restart(), onRetry),
  };
}

/** A cluster's gateway: SIGKILL or SIGTERM (drain), then a fresh process from the same config. */
export function gatewayComponent(name: string, federation: RestartableFederation, cluster: string): ChaosComponent {
  return {
    name,
    kind: 'gateway',
    hows: ['crash', 'drain'],
    stop: async (how) => void (await federation.stopGateway(cluster, how)),
    // Gateways bind port 0: no port to race for, and a failed start is the gateway's own failure.
    start: async () => void (await federation.startGateway(cluster)),
  };
}

/** A nats-server: SIGKILL or SIGTERM, then the same config on the same ports. */
export function natsComponent(name: string, server: NatsServer, onRetry: (err: unknown) => void = () => {}): ChaosComponent {
  return {
    name,
    kind: 'nats',
    hows: ['crash', 'drain'],
    stop: async (how) => {
      if (how === 'crash') {
        server.process.kill('SIGKILL');
        await server.process.waitForExit(10_000);
      } else {
        await server.stop();
      }
    },
    start: () => restartWithRetries(name, () => server.restart(), onRetry),
  };
}

export interface PlannedFault {
  /** When, from the start of the chaos phase. */
  readonly atMs: number;
  readonly component: string;
  readonly how: OutageHow;
  /** How long it stays down before the restart begins. */
  readonly downMs: number;
}

/** What a guard may ask about the state at the moment a fault is considered. */
export interface FaultState {
  isDown(component: string): boolean;
  /** Up, and for long enough that peers have noticed. */
  isSettled(component: string): boolean;
}

/** Whether taking `candidate` down now keeps to the test's rules. */
export type FaultGuard = (state: FaultState, candidate: ChaosComponent) => boolean;

export interface PlanOptions {
  readonly durationMs: number;
  /** Pause between two faults, drawn uniformly. */
  readonly gapMs: readonly [number, number];
  /** How likely each kind of component is to be picked. */
  readonly weights: Readonly<Record<ComponentKind, number>>;
  /** Downtime per kind, drawn uniformly. */
  readonly downMs: Readonly<Record<ComponentKind, readonly [number, number]>>;
  /** Planning estimate of how long a restart takes, per kind. */
  readonly restartMs: Readonly<Record<ComponentKind, number>>;
  /** Of a component's `hows`, the chance of 'crash' (the first) rather than the other. */
  readonly crashShare: number;
  readonly settleMs: number;
  readonly guard: FaultGuard;
}

/** Candidates drawn per fault before giving up on that slot (a guard may refuse most of them). */
const DRAWS_PER_SLOT = 20;

/**
 * Draws the plan: at random gaps, a random component (by kind weights) that
 * the guard allows given the faults planned before it, with a random
 * downtime. Deterministic in the seed.
 */
export function planFaults(random: SeededRandom, components: readonly ChaosComponent[], opts: PlanOptions): PlannedFault[] {
  const byKind = (kind: ComponentKind) => components.filter((c) => c.kind === kind);
  const kinds = (Object.keys(opts.weights) as ComponentKind[]).filter((k) => byKind(k).length > 0 && opts.weights[k] > 0);
  if (kinds.length === 0) throw new Error('planFaults: no component of any weighted kind');
  const weights = Object.fromEntries(kinds.map((k) => [k, opts.weights[k]])) as Record<ComponentKind, number>;
  const simulated = new ChaosTimeline(opts.settleMs);
  const plan: PlannedFault[] = [];
  for (let at = random.between(...opts.gapMs); at < opts.durationMs; at += random.between(...opts.gapMs)) {
    const state: FaultState = { isDown: (c) => simulated.isDown(c, at), isSettled: (c) => simulated.isSettled(c, at) };
    for (let draw = 0; draw < DRAWS_PER_SLOT; draw++) {
      const candidate = random.pick(byKind(random.weighted(weights)));
      const how = candidate.hows.length > 1 && !random.chance(opts.crashShare) ? (candidate.hows[1] as OutageHow) : (candidate.hows[0] as OutageHow);
      const downMs = Math.round(random.between(...opts.downMs[candidate.kind]));
      // Every fault is planned to be over within the duration: the run's length stays bounded.
      if (at + downMs + opts.restartMs[candidate.kind] > opts.durationMs) continue;
      if (state.isDown(candidate.name) || !opts.guard(state, candidate)) continue;
      const outage = simulated.begin(candidate.name, how, at);
      outage.upAt = at + downMs + opts.restartMs[candidate.kind];
      plan.push({ atMs: Math.round(at), component: candidate.name, how, downMs });
      break;
    }
  }
  return plan;
}

export function describePlan(plan: readonly PlannedFault[]): string {
  return plan.map((f) => `  +${(f.atMs / 1000).toFixed(1).padStart(5)} s  ${f.how.padEnd(5)} ${f.component.padEnd(12)} down ${(f.downMs / 1000).toFixed(1)} s`).join('\n');
}

/**
 * Carries out a plan: at each planned time, checks the guard against what is
 * really down and, if it still holds, takes the component down, waits the
 * planned downtime and brings it back — several of these run at once. Every
 * outage goes into the timeline; a fault the guard now refuses is noted and
 * skipped. Resolves once every component taken down is up again.
 */
export async function runFaults(
  plan: readonly PlannedFault[],
  components: readonly ChaosComponent[],
  timeline: ChaosTimeline,
  guard: FaultGuard,
  startedAt: number,
): Promise<{ applied: number; skipped: number; errors: Error[] }> {
  const byName = new Map(components.map((c) => [c.name, c]));
  const episodes: Promise<void>[] = [];
  const errors: Error[] = [];
  let applied = 0;
  let skipped = 0;
  for (const fault of plan) {
    const component = byName.get(fault.component);
    if (!component) throw new Error(`the plan names an unknown component ${fault.component}`);
    const wait = startedAt + fault.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    const state: FaultState = { isDown: (c) => timeline.isDown(c), isSettled: (c) => timeline.isSettled(c) };
    if (state.isDown(component.name) || !guard(state, component)) {
      skipped++;
      timeline.note(`skipped ${fault.how} ${component.name}: the rules do not allow it now`);
      continue;
    }
    applied++;
    episodes.push(
      (async () => {
        const outage = timeline.begin(component.name, fault.how);
        try {
          await component.stop(fault.how);
          outage.exitedAt = Date.now();
          await sleep(fault.downMs);
          outage.restartAt = Date.now();
          await component.start();
          outage.upAt = Date.now();
        } catch (err) {
          errors.push(new Error(`${fault.how} of ${component.name} failed: ${String(err)}`, { cause: err }));
        }
      })(),
    );
  }
  await Promise.all(episodes);
  return { applied, skipped, errors };
}
