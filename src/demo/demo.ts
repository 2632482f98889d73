/**
 * `meshgate demo`: starts the federation, waits until it has converged,
 * starts the app's traffic, tells the story (or lets the keys act), shows
 * what happens, and at the end (story over, quit, a signal, --duration)
 * stops every process, writes the chart and prints one line per step.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { snapshot, type AdminSnapshot, type Member } from './admin-pages.js';
import { APP_CLUSTER, CLUSTERS, memberId } from './gateway-config.js';
import { StartError } from './log-lines.js';
import { DEFAULT_SCRIPT_DURATION_S, type DemoOptions } from './options.js';
import { newSteps, runStory, SLOW_MS, type StepState, type StoryActions } from './story.js';
import { chartSvg, summaryLine } from './summary.js';
import { Supervisor } from './supervisor.js';
import { LiveTerminal } from './terminal.js';
import { findNatsServer, MissingToolError } from './tools.js';
import { DemoFederation } from './topology.js';
import { DEFAULT_RATES } from './traffic.js';
import { serviceStats, TrafficLog } from './traffic-stats.js';
import { ANSI, clock, eventLine, memberChanges, newEvents, renderScreen, trafficLine, type ViewModel } from './view.js';

const WINDOW_MS = 5_000;
const POLL_MS = 500;
const PLAIN_TRAFFIC_EVERY_MS = 5_000;
const CONVERGE_TIMEOUT_MS = 90_000;
const WARM_UP_MS = 3_000;
/** The pause after each step: long enough to read the view, short in --script. */
const CALM_MS = { live: 8_000, script: 2_000 };
/** Signals this close to the first are the same request to stop; a later one means "now". */
const SAME_SIGNAL_MS = 1_000;
const KEYS = '[e] kill/restore us-east endpoints  [s] slow/unslow us-west  [g] kill/restart eu-west gateway  [q] quit';

export interface DemoIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  readonly stderr: NodeJS.WriteStream;
}

type StopReason = 'story over' | 'quit' | 'duration' | NodeJS.Signals;

/** Runs the demo to its end; the exit code. */
export async function runDemo(opts: DemoOptions, io: DemoIo): Promise<number> {
  try {
    findNatsServer(); // before anything is made: say what to install and leave nothing behind
  } catch (err) {
    if (!(err instanceof MissingToolError)) throw err;
    io.stderr.write(`meshgate demo: ${err.message}\n`);
    return 1;
  }
  const live = !opts.script && opts.color && io.stdout.isTTY === true;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-demo-'));
  return new Demo(opts, io, dir, live).run();
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Demo {
  private readonly supervisor: Supervisor;
  private readonly federation: DemoFederation;
  private readonly traffic = new TrafficLog();
  private readonly steps: StepState[] = newSteps();
  private readonly narration: { at: number; text: string }[] = [];
  private readonly terminal: LiveTerminal | undefined;
  private readonly startedAt = Date.now();
  private latest: AdminSnapshot = { at: 0 };
  private trafficStart: number | undefined;
  private storyCancelled = false;
  private stopReason: StopReason | undefined;
  private wakeStop: () => void = () => {};
  private readonly stopped = new Promise<void>((r) => (this.wakeStop = r));
  private readonly seenEvents = new Set<string>();
  private members: readonly Member[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private acting = false;
  private storyDone: Promise<void> = Promise.resolve();
  private endedAt: number | undefined;
  private firstSignalAt = 0;
  /** The live view is on screen: lines go to its narration, not to stdout. */
  private viewing = false;

  constructor(
    private readonly opts: DemoOptions,
    private readonly io: DemoIo,
    private readonly dir: string,
    private readonly live: boolean,
  ) {
    this.supervisor = new Supervisor(path.join(dir, 'ca'));
    this.federation = new DemoFederation(dir, this.supervisor, (line) => this.log(line));
    this.terminal = live ? new LiveTerminal(io.stdout, io.stdin) : undefined;
  }

  async run(): Promise<number> {
    const signals = this.installSignals();
    let failure: unknown;
    try {
      this.log(`meshgate demo: work folder ${this.dir} (configs, logs; the keys are removed at the end)`);
      await this.untilStopped(this.federation.start());
      if (!this.stopReason) await this.untilStopped(this.converge());
      if (!this.stopReason) await this.untilStopped(this.startTraffic());
      if (!this.stopReason) {
        this.startViews();
        this.storyDone = this.tellStory();
        await this.stopped;
      }
    } catch (err) {
      failure = err;
    } finally {
      this.endedAt = Date.now();
      this.storyCancelled = true;
      // A step judges what it saw so far once cancelled; one stuck in an action is cut off.
      await Promise.race([this.storyDone, sleep(3_000)]);
      for (const step of this.steps) {
        if (step.status === 'running') Object.assign(step, { status: 'skipped', note: 'the demo stopped mid-step' });
      }
      for (const t of this.timers) clearInterval(t);
      this.terminal?.leave();
      this.viewing = false;
      this.say(`stopping (${this.stopReason ?? 'error'}): the app, then every gateway, demo service and nats-server…`);
      await this.federation.stop();
      await this.supervisor.close(); // the reaper removes the keys and exits
      for (const [signal, handler] of signals) process.off(signal, handler);
    }
    if (failure !== undefined) {
      const known = failure instanceof StartError || failure instanceof MissingToolError;
      this.io.stderr.write(`meshgate demo: ${known ? (failure as Error).message : ((failure as Error).stack ?? String(failure))}\n`);
      return 1;
    }
    return this.summarize();
  }

  // ---- start-up ----------------------------------------------------------------------------

  /** Waits until us-east's gateway sees every member alive and every cluster's services healthy: routing starts from a settled view, not a failover at start-up. */
  private async converge(): Promise<void> {
    this.log('waiting for the gateways to find each other over NATS and share the health of their services…');
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    let missing: string[] = [];
    let nextNote = Date.now() + 10_000;
    for (;;) {
      const s = await snapshot(this.federation.admin(APP_CLUSTER));
      missing = [];
      for (const c of CLUSTERS) {
        const m = s.members?.members.find((x) => x.id === memberId(c.name));
        if (m?.status !== 'alive') missing.push(`${memberId(c.name)} alive`);
        for (const svc of ['hello', 'echo']) {
          const h = s.services?.services[svc]?.[c.name];
          if (!h || h.stale || h.healthy < h.total || h.total === 0) missing.push(`${svc} healthy in ${c.name}`);
        }
      }
      if (missing.length === 0) {
        this.latest = s;
        return;
      }
      if (Date.now() > deadline) throw new StartError(`the federation did not converge within ${CONVERGE_TIMEOUT_MS / 1000} s; still missing: ${missing.join(', ')} (logs in ${path.join(this.dir, 'logs')})`);
      if (this.stopReason) return;
      if (Date.now() > nextNote) {
        this.log(`still waiting for: ${missing.join(', ')}`);
        nextNote = Date.now() + 10_000;
      }
      await sleep(POLL_MS);
    }
  }

  private async startTraffic(): Promise<void> {
    const { helloPerSecond, echoPerSecond } = DEFAULT_RATES;
    this.log(`starting the app in ${APP_CLUSTER}: GET hello ${helloPerSecond}/s (HTTP/1.1), echo ${echoPerSecond}/s (gRPC) through its gateway…`);
    this.federation.startApp({ helloPerSecond, echoPerSecond }, (batch) => {
      this.traffic.add(batch);
      this.trafficStart ??= Math.min(...batch.map((o) => o.at));
    });
    const deadline = Date.now() + 20_000;
    while (this.trafficStart === undefined) {
      if (Date.now() > deadline) throw new StartError(`the app sent no traffic within 20 s (see ${path.join(this.dir, 'logs', 'app.log')})`);
      if (this.stopReason) return;
      await sleep(100);
    }
    const durationS = this.opts.durationS ?? (this.opts.script ? DEFAULT_SCRIPT_DURATION_S : undefined);
    if (durationS !== undefined) this.timers.push(setTimeout(() => this.requestStop('duration'), durationS * 1000));
    await sleep(WARM_UP_MS);
  }

  // ---- what runs ---------------------------------------------------------------------------

  private startViews(): void {
    this.timers.push(setInterval(() => void this.poll(), POLL_MS));
    if (this.terminal) {
      this.terminal.enter((key) => this.onKey(key));
      this.viewing = true;
      const draw = () => this.terminal?.draw(renderScreen(this.viewModel(), ANSI, this.terminal.width));
      draw();
      this.timers.push(setInterval(draw, POLL_MS));
    } else {
      this.timers.push(setInterval(() => this.say(`traffic (last ${WINDOW_MS / 1000} s) ${trafficLine(this.stats())}`), PLAIN_TRAFFIC_EVERY_MS));
      if (!this.opts.script && this.io.stdin.isTTY) {
        this.io.stdin.setRawMode(true);
        this.io.stdin.setEncoding('utf8');
        this.io.stdin.on('data', (data: string) => [...data].forEach((k) => this.onKey(k)));
        process.on('exit', () => this.io.stdin.isTTY && this.io.stdin.setRawMode(false));
      }
    }
  }

  private async poll(): Promise<void> {
    const s = await snapshot(this.federation.admin(APP_CLUSTER));
    if (s.members || s.routes) this.latest = s;
    if (this.live) return;
    // Plain lines: what changed since the last look.
    for (const e of newEvents(this.seenEvents, s.events?.events ?? [])) this.say(`event ${eventLine(e)}`);
    if (s.members) {
      for (const line of memberChanges(this.members, s.members.members)) this.say(line);
      this.members = s.members.members;
    }
  }

  private async tellStory(): Promise<void> {
    const durationS = this.opts.durationS ?? (this.opts.script ? DEFAULT_SCRIPT_DURATION_S : undefined);
    const actions: StoryActions = {
      killEndpoints: (c) => this.federation.killEndpoints(c),
      restoreEndpoints: (c) => this.federation.restoreEndpoints(c),
      slow: (c, ms) => this.federation.slow(c, ms),
      killGateway: (c) => this.federation.killGateway(c),
    };
    // Events that happened before the story are not news in the plain log.
    for (const e of this.latest.events?.events ?? []) newEvents(this.seenEvents, [e]);
    this.members = this.latest.members?.members ?? [];
    await runStory(
      this.steps,
      {
        actions,
        traffic: this.traffic,
        latest: () => this.latest,
        say: (text) => this.say(text),
        calmMs: this.opts.script ? CALM_MS.script : CALM_MS.live,
        deadline: durationS === undefined ? Number.POSITIVE_INFINITY : (this.trafficStart ?? Date.now()) + durationS * 1000,
        cancelled: () => this.storyCancelled || this.stopReason !== undefined,
      },
      (step) => {
        if (step.verdict) this.say(summaryLine(step));
      },
    );
    if (this.opts.script) this.requestStop('story over');
    else if (!this.stopReason && !this.storyCancelled) this.say(`the story is over: ${this.io.stdin.isTTY ? 'the keys are yours (q quits)' : 'traffic goes on until Ctrl-C or SIGTERM'}`);
  }

  private onKey(key: string): void {
    if (key === 'q' || key === 'Q' || key === '\x03' || key === '\x04') return this.requestStop('quit');
    const act: Record<string, () => Promise<void>> = {
      e: async () => {
        if (this.federation.endpointsUp('us-east')) {
          this.say("you killed every endpoint of us-east");
          await this.federation.killEndpoints('us-east');
        } else {
          this.say("you restored us-east's endpoints");
          await this.federation.restoreEndpoints('us-east');
        }
      },
      s: async () => {
        const slow = this.federation.delayOf('us-west') === 0;
        this.federation.slow('us-west', slow ? SLOW_MS : 0);
        this.say(slow ? `you made us-west ${SLOW_MS} ms slower` : 'you gave us-west its speed back');
      },
      g: async () => {
        if (this.federation.gatewayUp('eu-west')) {
          this.say("you killed eu-west's gateway");
          await this.federation.killGateway('eu-west');
        } else {
          this.say("restarting eu-west's gateway…");
          await this.federation.restartGateway('eu-west');
          this.say("eu-west's gateway is back");
        }
      },
    };
    const action = act[key.toLowerCase()];
    if (!action || this.acting) return;
    if (!this.storyCancelled && this.steps.some((s) => s.status === 'waiting' || s.status === 'running')) this.say('the story stops here: you have the keys');
    this.storyCancelled = true;
    this.acting = true;
    action()
      .catch((err: unknown) => this.say(`that did not work: ${(err as Error).message}`))
      .finally(() => (this.acting = false));
  }

  // ---- the end -----------------------------------------------------------------------------

  private installSignals(): [NodeJS.Signals, () => void][] {
    const handlers: [NodeJS.Signals, () => void][] = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [
      signal,
      () => {
        // `npm run demo` passes a terminal's Ctrl-C on to us as well: the same press arrives twice, at once.
        if (Date.now() - this.firstSignalAt < SAME_SIGNAL_MS) return;
        if (this.firstSignalAt === 0) this.firstSignalAt = Date.now();
        if (this.stopReason !== undefined) {
          // A second signal: no more waiting; the exit hook and the reaper kill every child.
          this.terminal?.leave();
          this.io.stderr.write(`meshgate demo: ${signal} again: killing everything now\n`);
          process.exit(130);
        }
        this.requestStop(signal);
      },
    ]);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    return handlers;
  }

  private requestStop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.wakeStop();
  }

  private untilStopped<T>(p: Promise<T>): Promise<T | void> {
    return Promise.race([p, this.stopped]);
  }

  private summarize(): number {
    const out: string[] = [];
    const ran = this.trafficStart !== undefined;
    out.push('', `summary (${this.stopReason}):`);
    for (const s of this.steps) out.push(`  ${summaryLine(s)}`);
    if (ran) {
      const file = this.opts.svg ?? path.join(this.dir, 'traffic-share.svg');
      try {
        writeFileSync(file, chartSvg(this.traffic, this.steps, this.trafficStart as number, this.endedAt ?? Date.now()));
        out.push(`  chart of traffic share per cluster over time: ${file}`);
      } catch (err) {
        out.push(`  the chart could not be written to ${file}: ${(err as Error).message}`);
      }
    }
    out.push(`  logs of every process: ${path.join(this.dir, 'logs')}`);
    this.io.stdout.write(`${out.join('\n')}\n`);
    if (!this.opts.script) return 0;
    return this.steps.every((s) => s.status === 'passed') ? 0 : 1;
  }

  // ---- output ------------------------------------------------------------------------------

  private stats() {
    const since = Date.now() - WINDOW_MS;
    const recent = this.traffic.between(since);
    return ['hello', 'echo'].map((svc) => serviceStats(svc, recent, CLUSTERS.map((c) => c.name)));
  }

  private viewModel(): ViewModel {
    return {
      now: Date.now(),
      startedAt: this.trafficStart ?? this.startedAt,
      appCluster: APP_CLUSTER,
      gateway: this.federation.gatewayAddresses(APP_CLUSTER)?.local ?? '—',
      rates: `GET hello ${DEFAULT_RATES.helloPerSecond}/s (HTTP/1.1), echo ${DEFAULT_RATES.echoPerSecond}/s (gRPC)`,
      windowMs: WINDOW_MS,
      traffic: this.stats(),
      clusters: CLUSTERS.map((c) => ({ cluster: c.name, region: c.region, distanceMs: c.distanceMs, endpointsUp: this.federation.endpointsUp(c.name), delayMs: this.federation.delayOf(c.name), gatewayUp: this.federation.gatewayUp(c.name) })),
      admin: this.latest,
      steps: this.steps,
      narration: this.narration,
      keys: KEYS,
    };
  }

  /** Progress before the view exists, and in plain mode every line. */
  private log(text: string): void {
    this.say(text);
  }

  /** A line of the story or of progress: on the screen's narration in the live view, as a log line otherwise. */
  private say(text: string): void {
    const at = Date.now();
    this.narration.push({ at, text });
    if (this.narration.length > 200) this.narration.splice(0, 100);
    if (this.viewing) return;
    this.io.stdout.write(`${clock(at)} ${text}\n`);
  }
}
