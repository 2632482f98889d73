// Membership (SWIM/Lifeguard over NATS, signed envelopes) at federation scale,
// against our targets: a killed gateway is marked dead everywhere ≤ 3 s;
// a health change reaches every cluster ≤ 500 ms p99; 0 false deaths.
//
//   npm run build && node bench/membership.mjs [--members 100] [--steady 60] [--timeout 300]
//
// One configuration per run; bench/membership-suite.mjs (`npm run
// bench:membership`) runs the set the README and docs/benchmarks.md quote.
//
// Options (all optional): --members N (100), --workers W (4), --victims V (3),
// --steady S (60), --changes C (10), --pause-window S (60; 0 skips it),
// --pause-ms (300), --pause-every (1000), --pause-rotate (pause the victims in
// turn, not the first one only), --blackhole S (0; else the NATS gateway link
// between the first and last clusters is blackholed S s), --nats-restart (the
// second cluster's nats-server is stopped and started again), --restart-down-ms
// (1000), --stalls K (0; else K event-loop stalls, one victim after another),
// --stall-ms (2000), --settle S (5: after each fault, at least this long, then
// until no member suspects another, at most 30 s), --probe-interval MS and
// --suspicion-mult M (the members' settings; default DEFAULT_MEMBERSHIP_CONFIG's),
// --proxied-gateways / --short-pings (as --blackhole sets them up, without a
// blackhole), --stagger MS (0: all members start at once; else their starts are
// spread evenly over MS), --converge-timeout S (90), --detect-timeout S (30),
// --timeout S (300), --json FILE (the table's figures), --dump FILE (every
// observation as JSON), --cpu-prof DIR (V8 CPU profiles of the workers).
//
// What runs: three nats-servers (NATS_SERVER_BIN, else PATH, else
// /usr/sbin/nats-server) on free loopback ports, with NATS's default settings
// (but for --blackhole: see phase 4a),
// one single-node NATS cluster per meshgate cluster, linked as a super-cluster
// by `gateway {}` blocks; N `Membership` instances with real `NatsTransport`s,
// each connected to its own cluster's server, signing every message with its
// own gateway X509-SVID (one shared root, one intermediate per cluster, one
// SVID per member, made here and handed to the workers over IPC as DER and
// PKCS#8) and verifying everyone else's against the shared root. The members
// run with DEFAULT_MEMBERSHIP_CONFIG, --probe-interval and --suspicion-mult
// applied (each worker reports the config it built; the run stops if it is
// not the one this process prints).
//
// Several members share a process (a 2-core machine cannot run 100 Node
// processes): `--workers` processes hold all but `--victims` members; each
// victim (one per cluster by default) is a process of its own holding one
// member, so that "a killed gateway" means exactly this: SIGKILL of
// a gateway process, no leave, its NATS connection dropped by the kernel.
// Victims are also the members paused (SIGSTOP/SIGCONT) in the pause window.
// Workers are this same script forked with `--role worker`. Mind what sharing
// does: 25 members in one event loop do 25 gateways' work in turn, so a burst
// (the start-up) stalls all of them at once, which a gateway alone in its
// process would not see; the diagnostics below the table show CPU, event-loop
// delay and stalls per phase so that such figures can be told apart.
//
// Phases, in order, each logged as it ends:
//   1. convergence: all members start (t0); per member, the time until its
//      member table holds N members alive (itself included);
//   2. steady window (`--steady` s): nothing happens; any `dead` verdict is a
//      false death; messages, bytes, CPU and event-loop delay are sampled;
//   3. health changes (`--changes`): one member (a different one each time,
//      rotating over clusters) calls setLocalServices() with a new healthy
//      count; per observer, the time from just before that call until the
//      observer holds the new record, which is when its services() shows it
//      (checked after every inbound message; each observer's services() is
//      then called to confirm it shows the value: see checkHealth);
//   4. faults, each one its own window (all but the pause window off by default):
//      a. blackhole (`--blackhole` s): the NATS gateway link between the first
//         and last clusters swallows everything, both ways; the servers'
//         gateway links go through fault proxies this process runs on loopback
//         (bench/lib/fault-proxy.mjs), and their pings are 1 s (3 missed =
//         stale) so that NATS notices, as in the test harness;
//      b. NATS restart (`--nats-restart`): the second cluster's server is
//         stopped (SIGTERM) and started again on the same ports and config;
//      c. pause window (`--pause-window` s): the first victim SIGSTOPped for
//         `--pause-ms` every `--pause-every` ms (`--pause-rotate`: the victims
//         in turn);
//      d. (the start-up of phase 1, all members at once unless --stagger);
//      e. stalls (`--stalls`): a victim's event loop busy for `--stall-ms`
//         (a synchronous loop, on an IPC command), one victim after another;
//      after each fault the run settles (see --settle) before the next;
//   5. detection: victims are SIGKILLed one at a time; per surviving member,
//      the time from the kill until its table says `dead`.
// A false death is any `dead` verdict about a member that was not killed;
// they are counted per window; windows follow each other without gaps, so a
// verdict caused late by a fault still counts in that fault's window. For each
// kill and each falsely accused member, the reason the member table gives for
// the first verdict is printed (e.g. whether NATS confirmed the absence). Observations are
// timestamped in the worker with Date.now() when they are made (same machine,
// same clock; status changes are looked at within 20 ms of the event that
// caused them) and sent to this process over IPC. "Messages" count what a
// member's transport sends (broadcasts, requests, replies: one each) and
// receives (each broadcast copy, request and reply).
//
// Bounded: `--timeout` (default 300 s) ends the run, prints what was measured
// and exits 1. nats-servers and workers are killed on every exit path
// (normal, error, timeout, SIGINT/SIGTERM/SIGHUP); workers also exit when this
// process's IPC channel closes. Exit code 0: every phase got all its
// observations; 1: a timeout (of the run, or of a phase: convergence, a health
// change, a detection) left some missing. Targets met or missed are findings,
// in the table, not the exit code.
import { fork } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findNatsServer } from './lib/federation.mjs';
import { startNatsSuperCluster } from './lib/nats-super-cluster.mjs';
import { sleep } from './lib/processes.mjs';

const SELF = fileURLToPath(import.meta.url);
const SERVICE = 'payments';
const FEDERATION = 'bench';
const CLUSTERS = ['us-east', 'eu-west', 'ap-south'];
const ROOT_DOMAIN = 'bench.example';
/** Worker: the coarsest delay between a membership event and the look that timestamps it. */
const CHECK_COALESCE_MS = 20;
const TARGETS = { detectMs: 3_000, healthP99Ms: 500, falseDeaths: 0 };

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'parent' },
    members: { type: 'string', default: '100' },
    workers: { type: 'string', default: '4' },
    victims: { type: 'string', default: '3' },
    steady: { type: 'string', default: '60' },
    changes: { type: 'string', default: '10' },
    'pause-window': { type: 'string', default: '60' },
    'pause-ms': { type: 'string', default: '300' },
    'pause-every': { type: 'string', default: '1000' },
    'pause-rotate': { type: 'boolean', default: false },
    blackhole: { type: 'string', default: '0' },
    'proxied-gateways': { type: 'boolean', default: false },
    'short-pings': { type: 'boolean', default: false },
    'nats-restart': { type: 'boolean', default: false },
    'restart-down-ms': { type: 'string', default: '1000' },
    stalls: { type: 'string', default: '0' },
    'stall-ms': { type: 'string', default: '2000' },
    settle: { type: 'string', default: '5' },
    json: { type: 'string' },
    'converge-timeout': { type: 'string', default: '90' },
    'detect-timeout': { type: 'string', default: '30' },
    timeout: { type: 'string', default: '300' },
    stagger: { type: 'string', default: '0' },
    dump: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'probe-interval': { type: 'string' },
    'suspicion-mult': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

// =============================================================================
// Shared helpers

function intArg(name, min) {
  const raw = args[name];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}


/** The flags a worker needs to build its members' config as the parent reports it. */
function workerFlags() {
  const flags = [];
  for (const name of ['probe-interval', 'suspicion-mult']) if (args[name] !== undefined) flags.push(`--${name}`, args[name]);
  return flags;
}

/** The gateway's membership defaults, with --probe-interval and --suspicion-mult applied. */
function membershipSettings(defaults) {
  return {
    ...defaults,
    ...(args['probe-interval'] !== undefined && { probeIntervalMs: intArg('probe-interval', 50) }),
    ...(args['suspicion-mult'] !== undefined && { suspicionMult: intArg('suspicion-mult', 1) }),
  };
}

/** Nearest-rank percentile of sorted numbers. */
function pct(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

// =============================================================================
// Parent: NATS, PKI, workers, phases, report

async function runParent() {
  if (args.help) {
    console.log(
      'node bench/membership.mjs [--members 100] [--workers 4] [--victims 3] [--steady 60] [--changes 10]\n' +
        '  [--pause-window 60] [--pause-ms 300] [--pause-every 1000] [--pause-rotate] [--blackhole 0] [--nats-restart]\n' +
        '  [--restart-down-ms 1000] [--stalls 0] [--stall-ms 2000] [--settle 5] [--probe-interval MS] [--suspicion-mult M]\n' +
        '  [--proxied-gateways] [--short-pings] [--stagger 0] [--converge-timeout 90] [--detect-timeout 30] [--timeout 300]\n' +
        '  [--json FILE] [--dump FILE] [--cpu-prof DIR]\n' +
        '(see the comment at the top of this file)',
    );
    return;
  }
  const N = intArg('members', 2);
  const W = intArg('workers', 1);
  const V = Math.min(intArg('victims', 0), N - 2);
  const steadyS = intArg('steady', 0);
  const changes = intArg('changes', 0);
  const pauseWindowS = intArg('pause-window', 0);
  const pauseMs = intArg('pause-ms', 1);
  const pauseEvery = Math.max(intArg('pause-every', 1), pauseMs + 1);
  const convergeTimeoutMs = intArg('converge-timeout', 1) * 1000;
  const detectTimeoutMs = intArg('detect-timeout', 1) * 1000;
  const timeoutMs = intArg('timeout', 1) * 1000;
  const dumpFile = args.dump;
  const staggerMs = intArg('stagger', 0);
  const blackholeS = intArg('blackhole', 0);
  const restartDownMs = intArg('restart-down-ms', 0);
  const stallCount = intArg('stalls', 0);
  const stallMs = intArg('stall-ms', 1);
  const settleMs = intArg('settle', 0) * 1000;
  // Fail on a bad flag here, before anything starts (the workers read the same flags).
  const { DEFAULT_MEMBERSHIP_CONFIG } = await import('../dist/membership/index.js');
  const settings = membershipSettings(DEFAULT_MEMBERSHIP_CONFIG);

  const { CertificateAuthority, gatewaySpiffeId } = await import('../dist/identity/index.js');

  // ---- cleanup on every exit path -------------------------------------------------
  const children = new Set();
  let tmpDir;
  let reported = false;
  const killAll = () => {
    for (const child of children) {
      try {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    children.clear();
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    tmpDir = undefined;
  };
  process.on('exit', killAll);
  const bail = (why, code) => {
    console.error(`\nmembership bench: ${why}`);
    if (!reported) {
      reported = true;
      try {
        printReport(true);
      } catch (err) {
        console.error('(could not print the report:', err, ')');
      }
    }
    killAll();
    process.exit(code);
  };
  process.on('SIGINT', () => bail('interrupted (SIGINT); figures so far:', 130));
  process.on('SIGTERM', () => bail('terminated (SIGTERM); figures so far:', 143));
  process.on('SIGHUP', () => bail('hung up (SIGHUP); figures so far:', 129));
  process.on('uncaughtException', (err) => bail(`failed: ${err?.stack ?? err}`, 1));
  process.on('unhandledRejection', (err) => bail(`failed: ${err?.stack ?? err}`, 1));
  setTimeout(() => bail(`hard timeout of ${timeoutMs / 1000} s reached; figures so far:`, 1), timeoutMs);

  const benchStart = Date.now();
  const log = (msg) => console.error(`[${((Date.now() - benchStart) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

  // ---- state collected for the report ------------------------------------------------
  const R = {
    N,
    W,
    V,
    phase: 'setup',
    t0: undefined,
    converged: new Map(), // id → ms after t0
    transitions: [], // {t, obs, subj, from, to}
    steady: undefined, // {startT, endT, stats}
    pause: undefined, // {startT, endT, pauses}
    windows: {}, // phase → {startT, endT}
    healthLatencies: [], // ms, per observer per change: the member holds the new record
    healthUnconfirmed: 0, // observers whose services() did not show what their record held
    healthChanges: [], // {id, changer, seen, expected, maxMs, timedOut}
    kills: [], // {id, t, deadAt: Map obs → ms, observers, firstSuspectMs}
    natsCpu: undefined,
    serviceCallMs: [],
    loadAtStart: machineLoad(),
  };

  // ---- NATS super-cluster --------------------------------------------------------------
  const natsBin = findNatsServer();
  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-bench-membership-'));
  // A blackhole needs the gateway links proxied, and short server pings so that NATS notices it.
  const proxied = blackholeS > 0 || args['proxied-gateways'];
  const pings = proxied || args['short-pings'] ? { interval: '1s', max: 3 } : undefined;
  const nats = await startNatsSuperCluster(CLUSTERS, {
    bin: natsBin,
    dir: tmpDir,
    proxied,
    pings,
    onExit: (s, how, tail) => {
      if (R.phase !== 'done') bail(`nats-server ${s.name} exited (${how}):\n${tail}`, 1);
    },
  });
  const servers = nats.servers;
  children.add({ kill: () => nats.killAll(), exitCode: null, signalCode: null });
  const monitor = nats.monitor;
  await waitFor('nats-servers to be healthy and their gateways linked', 20_000, async () => (await nats.missingLinks()).length === 0);
  log(
    `NATS super-cluster up: ${servers.map((s) => `${s.name}@127.0.0.1:${s.client}`).join(', ')} (${natsBin})` +
      `${proxied ? '; gateway links through fault proxies' : ''}${pings ? `; server pings every ${pings.interval}, ${pings.max} missed = stale` : "; NATS's default pings"}`,
  );

  // ---- PKI: shared root, an intermediate per cluster, an SVID per member ------------
  const now = new Date();
  const root = await CertificateAuthority.createRoot({ trustDomain: ROOT_DOMAIN, now });
  const intermediates = new Map();
  for (const c of CLUSTERS) intermediates.set(c, await root.createIntermediate({ trustDomain: `${c}.${ROOT_DOMAIN}`, now }));
  const members = [];
  for (let i = 0; i < N; i++) {
    const cluster = CLUSTERS[i % CLUSTERS.length];
    const replica = `g${String(Math.floor(i / CLUSTERS.length)).padStart(2, '0')}`;
    const trustDomain = `${cluster}.${ROOT_DOMAIN}`;
    const svid = await intermediates.get(cluster).issueX509Svid({ spiffeId: gatewaySpiffeId(trustDomain, cluster, replica), now });
    members.push({
      id: `${cluster}.${replica}`,
      index: i,
      cluster,
      trustDomain,
      nats: `nats://127.0.0.1:${servers[CLUSTERS.indexOf(cluster)].client}`,
      svid: {
        spiffeId: svid.spiffeId,
        chain: svid.chain.map((der) => Buffer.from(der).toString('base64')),
        key: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        notBefore: svid.notBefore.getTime(),
        notAfter: svid.notAfter.getTime(),
      },
    });
  }
  const rootB64 = Buffer.from(root.rootDer).toString('base64');
  log(`PKI: root ${ROOT_DOMAIN}, intermediates ${CLUSTERS.map((c) => `${c}.${ROOT_DOMAIN}`).join(', ')}, ${N} gateway SVIDs`);

  // ---- workers ------------------------------------------------------------------------------
  // The last V members (one per cluster when V = 3) are victims: one process each.
  const victimIds = members.slice(N - V).map((m) => m.id);
  const groups = [];
  for (let w = 0; w < W; w++) groups.push({ name: `worker-${w + 1}`, members: [] });
  members.slice(0, N - V).forEach((m, i) => groups[i % W].members.push(m));
  for (const id of victimIds) groups.push({ name: `victim-${id}`, victim: id, members: [members.find((m) => m.id === id)] });
  const workers = groups.filter((g) => g.members.length > 0);
  const workerOf = new Map();
  for (const w of workers) for (const m of w.members) workerOf.set(m.id, w);
  const killed = new Map(); // id → kill time
  const aliveIds = () => members.map((m) => m.id).filter((id) => !killed.has(id));

  // IPC: replies by request id, plus streams (converged, transitions, health-seen).
  let nextReq = 1;
  const pendingReplies = new Map();
  const healthWaiters = new Set();
  const transitionWaiters = new Set();
  const call = (w, msg, ms = 30_000) =>
    new Promise((resolve, reject) => {
      const req = nextReq++;
      const timer = setTimeout(() => {
        pendingReplies.delete(req);
        reject(new Error(`${w.name} did not answer ${msg.type} within ${ms} ms`));
      }, ms);
      pendingReplies.set(req, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      w.proc.send({ ...msg, req });
    });

  for (const w of workers) {
    const execArgv = args['cpu-prof'] && !w.victim ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : [];
    const child = fork(SELF, ['--role', 'worker', ...workerFlags()], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    children.add(child);
    w.proc = child;
    child.on('message', (msg) => {
      if (msg.req !== undefined && pendingReplies.has(msg.req)) {
        const resolve = pendingReplies.get(msg.req);
        pendingReplies.delete(msg.req);
        resolve(msg);
        return;
      }
      switch (msg.type) {
        case 'converged':
          if (R.t0 !== undefined && !R.converged.has(msg.id)) R.converged.set(msg.id, msg.t - R.t0);
          break;
        case 'transitions':
          for (const [t, obs, subj, from, to, why] of msg.items) R.transitions.push({ t, obs, subj, from, to, why });
          for (const waiter of transitionWaiters) waiter();
          break;
        case 'health-seen':
          for (const waiter of healthWaiters) waiter(msg);
          break;
        case 'error':
          bail(`${w.name}: ${msg.error}`, 1);
          break;
      }
    });
    child.on('exit', (code, signal) => {
      w.exited = true;
      if (w.victim && killed.has(w.victim)) return;
      if (R.phase !== 'done') bail(`${w.name} exited unexpectedly (${code ?? signal})`, 1);
    });
  }
  const live = () => workers.filter((w) => !w.exited && !(w.victim && killed.has(w.victim)));

  // `peek`: counters only; the event-loop figures keep accumulating for the enclosing window.
  const snapshot = async (peek = false) => {
    const replies = await Promise.all(live().map((w) => call(w, { type: 'stats', peek })));
    const nats = await Promise.all(servers.map((s) => monitor(s, '/varz').catch(() => undefined)));
    return { t: Date.now(), replies, nats };
  };
  const ready = await Promise.all(
    workers.map((w) =>
      call(
        w,
        {
          type: 'init',
          name: w.name,
          total: N,
          rootB64,
          clusters: CLUSTERS,
          members: w.members,
        },
        60_000,
      ),
    ),
  );
  for (const [i, r] of ready.entries()) {
    if (JSON.stringify(r.config) !== JSON.stringify(settings)) bail(`${workers[i].name} runs with ${JSON.stringify(r.config)}, not ${JSON.stringify(settings)}`, 1);
  }
  log(`${workers.length} processes ready: ${workers.filter((w) => !w.victim).map((w) => `${w.name} (${w.members.length} members)`).join(', ')}${V ? `, ${V} victims (1 member each)` : ''}; every member connected to its cluster's NATS`);

  // Windows follow each other without gaps: a verdict a fault causes late is still counted in that fault's window.
  const startWindow = (name, t = Date.now()) => {
    for (const w of Object.values(R.windows)) if (w.endT === undefined) w.endT = t;
    R.windows[name] = { startT: t };
    return R.windows[name];
  };
  // status now, per observer → subject, from the transitions (members appearing alive are not transitions)
  const suspectsNow = () => {
    const last = new Map();
    for (const tr of R.transitions) last.set(`${tr.obs}\u0000${tr.subj}`, tr);
    return [...last.values()].filter((tr) => tr.to === 'suspect' && !killed.has(tr.subj) && !killed.has(tr.obs));
  };
  // After a fault: at least `settleMs`, then until no live member suspects another (or 30 s).
  const settle = async (what) => {
    await sleep(settleMs);
    await waitFor(`no member to suspect another after ${what}`, 30_000, async () => suspectsNow().length === 0, 200).catch((err) =>
      log(`${err.message} (${suspectsNow().length} suspicions still open)`),
    );
  };
  const windowDone = (name, extra = '') => {
    const w = R.windows[name];
    const fd = countFalseDeaths(w.startT, Date.now());
    log(`${name} window done${extra}: ${fd.verdicts} false death verdict(s) about ${fd.subjects} member(s), ${fd.suspicions} suspicion(s)`);
  };

  // ---- phase 1: convergence ------------------------------------------------------------------
  R.phase = 'converge';
  const beforeStart = await snapshot();
  R.t0 = Date.now();
  startWindow('startup', R.t0);
  await Promise.all(workers.map((w) => w.proc.send({ type: 'start', t0: R.t0, staggerMs })));
  await waitFor(`every member to see ${N} alive`, convergeTimeoutMs, async () => R.converged.size >= N, 100).catch((err) => {
    log(`${err.message}: ${R.converged.size} of ${N} converged`);
  });
  R.startup = { a: beforeStart, b: await snapshot() };
  log(`convergence: ${R.converged.size}/${N} members saw ${N} alive; last after ${fmtMs(Math.max(0, ...R.converged.values()))}`);
  // Stragglers may still converge in the steady window: their times are recorded too.
  await settle('start-up');

  // ---- phase 2: steady window ------------------------------------------------------------------
  if (steadyS > 0) {
    R.phase = 'steady';
    const a = await snapshot();
    startWindow('steady', a.t);
    log(`steady window: ${steadyS} s of nothing`);
    // Slices of 10 s show whether the probe rate is still recovering (Lifeguard awareness) from the start-up.
    const slices = [];
    let prev = a;
    while (Date.now() - a.t < steadyS * 1000 - 500) {
      await sleep(Math.min(10_000, steadyS * 1000 - (Date.now() - a.t)));
      const cur = Date.now() - a.t < steadyS * 1000 - 500 ? await snapshot(true) : await snapshot();
      slices.push(statsDiff(prev, cur).sentPerMemberS);
      prev = cur;
    }
    const b = prev;
    R.steady = { a, b, slices };
    windowDone('steady');
  }

  // ---- phase 3: health changes ---------------------------------------------------------------
  R.phase = 'health';
  const beforeHealth = changes > 0 ? await snapshot() : undefined;
  if (beforeHealth) startWindow('health', beforeHealth.t);
  const nonVictims = members.filter((m) => !victimIds.includes(m.id));
  for (let c = 0; c < changes; c++) {
    const changer = nonVictims[(c * 7 + c) % nonVictims.length] ?? members[0];
    const value = 1_000 + c;
    const observers = new Set(aliveIds().filter((id) => id !== changer.id));
    const seen = new Map();
    const changeId = c + 1;
    await Promise.all(live().map((w) => call(w, { type: 'expect', changeId, origin: changer.id, cluster: changer.cluster, value })));
    let done;
    const allSeen = new Promise((resolve) => (done = resolve));
    const waiter = (msg) => {
      if (msg.changeId !== changeId || !observers.has(msg.id) || seen.has(msg.id)) return;
      seen.set(msg.id, msg);
      if (seen.size >= observers.size) done();
    };
    healthWaiters.add(waiter);
    const set = await call(workerOf.get(changer.id), { type: 'set', id: changer.id, value });
    const timedOut = await Promise.race([allSeen.then(() => false), sleep(5_000).then(() => true)]);
    // Workers report what they saw but had not reported yet before they answer.
    await Promise.all(live().map((w) => call(w, { type: 'expect-clear', changeId })));
    healthWaiters.delete(waiter);
    const lat = [...seen.values()].map((o) => Math.max(0, o.t - set.t0));
    const unconfirmed = [...seen.values()].filter((o) => !o.confirmed).length;
    R.healthUnconfirmed += unconfirmed;
    R.healthLatencies.push(...lat);
    R.healthChanges.push({ changer: changer.id, seen: seen.size, expected: observers.size, maxMs: Math.max(0, ...lat), timedOut, setMs: set.t1 - set.t0 });
    log(
      `health change ${changeId}/${changes} by ${changer.id}: ${seen.size}/${observers.size} observers, slowest ${fmtMs(Math.max(0, ...lat))} ` +
        `${unconfirmed ? ` (${unconfirmed} services() did NOT show it)` : ''}${timedOut ? ' (TIMED OUT after 5 s)' : ''}`,
    );
    await sleep(500 + Math.random() * 500);
  }
  if (beforeHealth) R.healthStats = { a: beforeHealth, b: await snapshot() };

  // ---- phase 4a: the gateway link between the first and last clusters blackholed -----------------
  const victims = workers.filter((w) => w.victim);
  if (blackholeS > 0) {
    R.phase = 'blackhole';
    const [a, c] = [CLUSTERS[0], CLUSTERS[CLUSTERS.length - 1]];
    const w = startWindow('blackhole');
    log(`blackhole: the NATS gateway link ${a} ↔ ${c} swallows everything for ${blackholeS} s`);
    nats.setLink(a, c, 'blackhole');
    // NATS notices (server pings): the servers drop their gateway connections to each other.
    let droppedAfter;
    const until = Date.now() + blackholeS * 1000;
    while (Date.now() < until) {
      if (droppedAfter === undefined && (await nats.missingLinks()).some((m) => m.includes(a) && m.includes(c))) droppedAfter = Date.now() - w.startT;
      await sleep(Math.min(500, Math.max(0, until - Date.now())));
    }
    nats.setLink(a, c, 'pass');
    const lifted = Date.now();
    await waitFor('the NATS gateway links to be back', 60_000, async () => (await nats.missingLinks()).length === 0, 200).catch((err) => log(err.message));
    R.blackhole = { seconds: blackholeS, link: `${a}↔${c}`, droppedAfterMs: droppedAfter, relinkedAfterMs: Date.now() - lifted };
    log(`blackhole lifted; NATS had dropped the link after ${fmtMs(droppedAfter)}; linked again ${fmtMs(Date.now() - lifted)} after the lift`);
    await settle('the blackhole');
    windowDone('blackhole');
  }

  // ---- phase 4b: a NATS server restarted -----------------------------------------------------------
  if (args['nats-restart']) {
    R.phase = 'nats-restart';
    const name = CLUSTERS[1];
    const clusterMembers = members.filter((m) => m.cluster === name).length;
    startWindow('natsRestart');
    const down = Date.now();
    log(`NATS restart: ${name}'s server stopped (SIGTERM), started again ${restartDownMs} ms later on the same ports and config`);
    await nats.restart(name, restartDownMs);
    const srv = nats.server(name);
    await waitFor(`${name}'s server and its gateway links to be back`, 60_000, async () => (await nats.missingLinks()).length === 0, 200).catch((err) => log(err.message));
    const linkedMs = Date.now() - down;
    const gossipConns = async () => ((await monitor(srv, '/connz?limit=100000').catch(() => undefined))?.connections ?? []).filter((c) => c.name?.startsWith('meshgate-gossip-')).length;
    await waitFor(`${clusterMembers} members to reconnect to ${name}`, 60_000, async () => (await gossipConns()) >= clusterMembers, 200).catch((err) => log(err.message));
    R.natsRestart = { server: name, downMs: restartDownMs, linkedAfterMs: linkedMs, reconnectedAfterMs: Date.now() - down, members: clusterMembers };
    log(`NATS restart: ${name} linked again after ${fmtMs(linkedMs)}, its ${clusterMembers} members reconnected after ${fmtMs(Date.now() - down)}`);
    await settle('the NATS restart');
    windowDone('natsRestart');
  }

  // ---- phase 4c: pause window -------------------------------------------------------------------
  if (pauseWindowS > 0 && victims.length > 0) {
    R.phase = 'pause';
    const { startT } = startWindow('pause');
    let pauses = 0;
    const who = args['pause-rotate'] ? 'the victims in turn' : victims[0].victim;
    log(`pause window: ${pauseWindowS} s, ${who} SIGSTOPped ${pauseMs} ms every ${pauseEvery} ms`);
    while (Date.now() - startT < pauseWindowS * 1000) {
      const v = args['pause-rotate'] ? victims[pauses % victims.length] : victims[0];
      const at = Date.now();
      v.proc.kill('SIGSTOP');
      await sleep(pauseMs);
      v.proc.kill('SIGCONT');
      pauses++;
      await sleep(Math.max(0, pauseEvery - (Date.now() - at)));
    }
    R.pause = { pauses, who };
    await settle('the pauses');
    windowDone('pause', ` (${pauses} pauses)`);
  }

  // ---- phase 4d: a member's event loop stalls ------------------------------------------------------
  if (stallCount > 0 && victims.length > 0) {
    R.phase = 'stall';
    startWindow('stall');
    const stalled = [];
    for (let i = 0; i < stallCount; i++) {
      const v = victims[i % victims.length];
      log(`stall ${i + 1}/${stallCount}: ${v.victim}'s event loop busy for ${stallMs} ms`);
      const reply = await call(v, { type: 'stall', ms: stallMs }, stallMs + 30_000);
      stalled.push({ id: v.victim, ms: reply.ms });
      await settle(`${v.victim}'s stall`);
    }
    R.stall = { stalls: stalled, ms: stallMs };
    windowDone('stall');
  }

  // ---- phase 5: detection ------------------------------------------------------------------------
  R.phase = 'detect';
  startWindow('detect');
  for (const v of victims) {
    const id = v.victim;
    const observers = new Set(aliveIds().filter((o) => o !== id));
    const t = Date.now();
    killed.set(id, t);
    v.proc.kill('SIGKILL');
    const kill = { id, t, observers: observers.size, deadAt: new Map(), firstSuspectMs: undefined };
    R.kills.push(kill);
    const scan = () => {
      for (const tr of R.transitions) {
        if (tr.subj !== id || tr.t < t) continue;
        if (tr.to === 'suspect' && kill.firstSuspectMs === undefined) kill.firstSuspectMs = tr.t - t;
        if (tr.to === 'dead' && observers.has(tr.obs) && !kill.deadAt.has(tr.obs)) kill.deadAt.set(tr.obs, tr.t - t);
      }
      return kill.deadAt.size >= observers.size;
    };
    await waitFor(`every member to mark ${id} dead`, detectTimeoutMs, async () => scan(), 100).catch((err) => log(err.message));
    scan();
    log(`killed ${id} (SIGKILL): first suspicion ${fmtMs(kill.firstSuspectMs)}, dead at ${kill.deadAt.size}/${observers.size} observers, everywhere after ${kill.deadAt.size >= observers.size ? fmtMs(Math.max(...kill.deadAt.values())) : 'n/a (not everywhere)'}`);
    const firstDead = R.transitions.filter((tr) => tr.subj === id && tr.t >= t && tr.to === 'dead').sort((x, y) => x.t - y.t)[0];
    if (firstDead) log(`  first verdict (${firstDead.obs}, +${fmtMs(firstDead.t - t)}): ${firstDead.why ?? '?'}`);
    await sleep(2_000);
  }

  R.windows.detect.endT = Date.now();
  // Why the servers closed member connections (other than the victims' kills).
  R.closed = {};
  for (const srv of servers) {
    const connz = await monitor(srv, '/connz?state=closed&limit=100000').catch(() => undefined);
    for (const c of connz?.connections ?? []) {
      const id = c.name?.replace(/^meshgate-gossip-/, '');
      if (!c.name?.startsWith('meshgate-gossip-') || killed.has(id)) continue;
      R.closed[c.reason ?? 'unknown'] = (R.closed[c.reason ?? 'unknown'] ?? 0) + 1;
    }
  }
  R.phase = 'done';
  reported = true;
  printReport(false);
  // Workers exit by themselves when asked (so that --cpu-prof profiles get written); the rest is killed.
  await Promise.race([Promise.all(live().map((w) => new Promise((resolve) => (w.proc.once('exit', resolve), w.proc.send({ type: 'exit' }))))), sleep(5_000)]);
  killAll();
  // Targets missed are findings, printed in the table; the exit code says whether the run completed.
  const incomplete =
    R.converged.size < N || R.healthChanges.some((c) => c.seen < c.expected) || R.kills.some((k) => k.deadAt.size < k.observers);
  process.exit(incomplete ? 1 : 0);

  // ---- reporting ----------------------------------------------------------------------------------

  function countFalseDeaths(from, to) {
    let verdicts = 0;
    let suspicions = 0;
    const subjects = new Set();
    for (const tr of R.transitions) {
      if (tr.t < from || tr.t > to) continue;
      const killedAt = killed.get(tr.subj);
      if (killedAt !== undefined && killedAt <= tr.t) continue;
      if (tr.to === 'dead') {
        verdicts++;
        subjects.add(tr.subj);
      } else if (tr.to === 'suspect') suspicions++;
    }
    return { verdicts, subjects: subjects.size, suspicions };
  }

  function statsDiff(a, b) {
    const seconds = (b.t - a.t) / 1000;
    const before = new Map();
    for (const r of a.replies) for (const [id, st] of Object.entries(r.members)) before.set(id, st);
    let sent = 0;
    let received = 0;
    let bytesSent = 0;
    let n = 0;
    const failures = {};
    const drops = {};
    const perWorker = [];
    for (const r of b.replies) {
      const ra = a.replies.find((x) => x.name === r.name);
      for (const [id, st] of Object.entries(r.members)) {
        const p = before.get(id);
        if (!p) continue;
        n++;
        sent += st.sent - p.sent;
        received += st.received - p.received;
        bytesSent += st.bytesSent - p.bytesSent;
        for (const [k, v] of Object.entries(st.failures)) failures[k] = (failures[k] ?? 0) + v - (p.failures[k] ?? 0);
        for (const [k, v] of Object.entries(st.drops)) drops[k] = (drops[k] ?? 0) + v - (p.drops[k] ?? 0);
      }
      if (ra) {
        const cpuMs = (r.cpu.user + r.cpu.system - ra.cpu.user - ra.cpu.system) / 1000;
        perWorker.push({ name: r.name, members: Object.keys(r.members).length, cpuPct: (cpuMs / (seconds * 1000)) * 100, lagP99: r.lag.p99, lagMax: r.lag.max, servicesMs: r.servicesMs, stalls: r.stalls });
      }
    }
    const natsCpu = b.nats.map((v) => v?.cpu).filter((x) => typeof x === 'number');
    const m = Math.max(1, n);
    return { seconds, n, sentPerMemberS: sent / m / seconds, receivedPerMemberS: received / m / seconds, bytesSentPerMemberS: bytesSent / m / seconds, failures, drops, perWorker, natsCpu };
  }

  function printDiagnostics(label, st) {
    const workersOnly = st.perWorker.filter((w) => !w.name.startsWith('victim-'));
    const victimsOnly = st.perWorker.filter((w) => w.name.startsWith('victim-'));
    const sum = (xs, f) => xs.reduce((acc, x) => acc + f(x), 0);
    const maxOf = (xs, f) => (xs.length ? Math.max(...xs.map(f)) : 0);
    console.log(`${label} (${st.seconds.toFixed(1)} s):`);
    console.log(
      `  CPU: ${workersOnly.length} workers ${sum(workersOnly, (w) => w.cpuPct).toFixed(0)} % of a core in all (${workersOnly.map((w) => `${w.cpuPct.toFixed(0)}`).join('/')} %)` +
        (victimsOnly.length ? `, victims ${victimsOnly.map((w) => w.cpuPct.toFixed(1)).join('/')} %` : '') +
        (st.natsCpu.length ? `, nats-servers ${st.natsCpu.map((c) => c.toFixed(0)).join('/')} % (varz at end)` : ''),
    );
    console.log(
      `  event-loop delay: workers p99 ≤ ${maxOf(workersOnly, (w) => w.lagP99).toFixed(0)} ms, max ${maxOf(workersOnly, (w) => w.lagMax).toFixed(0)} ms` +
        (victimsOnly.length ? `; victims p99 ≤ ${maxOf(victimsOnly, (w) => w.lagP99).toFixed(0)} ms, max ${maxOf(victimsOnly, (w) => w.lagMax).toFixed(0)} ms` : ''),
    );
    const stalls = st.perWorker.flatMap((w) => w.stalls.map((x) => ({ ...x, name: w.name }))).sort((x, y) => y.ms - x.ms);
    if (stalls.length) {
      const rel = (t) => `+${((t - (R.t0 ?? t)) / 1000).toFixed(1)} s`;
      console.log(
        `  event-loop stalls ≥ 1 s: ${stalls.length}, ${(stalls.reduce((acc, x) => acc + x.ms, 0) / 1000).toFixed(1)} s in all; longest: ` +
          stalls
            .slice(0, 5)
            .map((x) => `${x.name} ${(x.ms / 1000).toFixed(1)} s from ${rel(x.t)}`)
            .join(', '),
      );
    }
    console.log(`  per member: ${st.sentPerMemberS.toFixed(2)} msgs/s sent, ${st.receivedPerMemberS.toFixed(2)} msgs/s received, ${fmtBytes(st.bytesSentPerMemberS)}/s sent`);
    console.log(`  failed requests by kind: ${fmtCounts(st.failures)}; dropped inbound messages by reason: ${fmtCounts(st.drops)}`);
    const svc = st.perWorker.map((w) => w.servicesMs).filter((x) => x !== undefined);
    if (svc.length) console.log(`  services() cost (N = ${N}): ${Math.min(...svc).toFixed(1)}–${Math.max(...svc).toFixed(1)} ms a call`);
  }

  /** What the suite (bench/membership-suite.mjs) reads: the table's figures as JSON. */
  function summary(partial) {
    const det = R.kills.flatMap((k) => [...k.deadAt.values()]).sort((x, y) => x - y);
    const conv = [...R.converged.values()].sort((x, y) => x - y);
    const falseDeaths = {};
    for (const [name, w] of Object.entries(R.windows)) falseDeaths[name] = countFalseDeaths(w.startT, w.endT ?? Date.now());
    const steady = R.steady ? statsDiff(R.steady.a, R.steady.b) : undefined;
    return {
      partial,
      members: N,
      settings,
      loadAtStart: R.loadAtStart,
      loadAtEnd: machineLoad(),
      convergence: { converged: conv.length, p50: pct(conv, 0.5), p99: pct(conv, 0.99), max: conv.at(-1) },
      detection: {
        n: det.length,
        p50: pct(det, 0.5),
        p99: pct(det, 0.99),
        max: det.at(-1),
        missing: R.kills.reduce((sum, k) => sum + (k.observers - k.deadAt.size), 0),
        times: det,
        kills: R.kills.map((k) => ({ id: k.id, observers: k.observers, marked: k.deadAt.size, everywhereMs: k.deadAt.size >= k.observers ? Math.max(...k.deadAt.values()) : null, firstSuspectMs: k.firstSuspectMs })),
      },
      falseDeaths,
      steady: steady && {
        seconds: steady.seconds,
        sentPerMemberS: steady.sentPerMemberS,
        receivedPerMemberS: steady.receivedPerMemberS,
        bytesSentPerMemberS: steady.bytesSentPerMemberS,
        workerCpuPct: steady.perWorker.filter((w) => !w.name.startsWith('victim-')).reduce((sum, w) => sum + w.cpuPct, 0),
      },
      faults: { blackhole: R.blackhole, natsRestart: R.natsRestart, pause: R.pause, stall: R.stall },
      startupStalls: R.startup ? statsDiff(R.startup.a, R.startup.b).perWorker.flatMap((w) => w.stalls.map((x) => x.ms)).sort((x, y) => y - x).slice(0, 3) : [],
    };
  }

  function printReport(partial) {
    const rows = [];
    const blank = (label, note = 'not run') => [label, '', '', '', '', '', note];
    const conv = [...R.converged.values()].sort((x, y) => x - y);
    rows.push([
      `convergence: start → member sees ${N} alive`,
      fmtMs(pct(conv, 0.5)),
      fmtMs(pct(conv, 0.99)),
      fmtMs(conv.length ? conv[conv.length - 1] : undefined),
      `${conv.length}/${N} members`,
      '—',
      conv.length === N ? '' : R.t0 === undefined ? 'not run' : `${N - conv.length} never converged`,
    ]);
    const missingHealth = R.healthChanges.reduce((sum, c) => sum + (c.expected - c.seen), 0);
    const healthRow = (label, values, judged) => {
      const sorted = [...values].sort((x, y) => x - y);
      const p99 = pct(sorted, 0.99);
      return [
        label,
        fmtMs(pct(sorted, 0.5)),
        fmtMs(p99),
        fmtMs(sorted.length ? sorted[sorted.length - 1] : undefined),
        `${sorted.length} obs, ${R.healthChanges.length} changes${R.healthUnconfirmed ? `, ${R.healthUnconfirmed} NOT in services()` : ''}`,
        judged ? `p99 ≤ ${TARGETS.healthP99Ms} ms` : '',
        sorted.length === 0 ? 'not run' : judged ? verdict(p99 <= TARGETS.healthP99Ms && missingHealth === 0 && R.healthUnconfirmed === 0, missingHealth ? `${missingHealth} never seen` : '') : '',
      ];
    };
    rows.push(healthRow('health change → other member’s services() has it', R.healthLatencies, true));
    const det = R.kills.flatMap((k) => [...k.deadAt.values()]).sort((x, y) => x - y);
    const everywhere = R.kills.map((k) => (k.deadAt.size >= k.observers ? Math.max(...k.deadAt.values()) : Infinity));
    const missingDet = R.kills.reduce((sum, k) => sum + (k.observers - k.deadAt.size), 0);
    rows.push([
      'kill (SIGKILL) → observer marks it dead',
      fmtMs(pct(det, 0.5)),
      fmtMs(pct(det, 0.99)),
      fmtMs(det.length ? det[det.length - 1] : undefined),
      `${det.length} obs, ${R.kills.length} kills`,
      `≤ ${TARGETS.detectMs / 1000} s everywhere`,
      R.kills.length === 0 ? 'not run' : verdict(everywhere.every((e) => e <= TARGETS.detectMs), missingDet ? `${missingDet} never marked dead` : ''),
    ]);
    if (R.kills.length) {
      rows.push(['  … dead everywhere, per kill', R.kills.map((k, i) => fmtMs(everywhere[i])).join(', '), '', '', R.kills.map((k) => k.id).join(', '), '', '']);
      rows.push(['  … first suspicion anywhere, per kill', R.kills.map((k) => fmtMs(k.firstSuspectMs)).join(', '), '', '', '', '', '']);
    }
    const fdRow = (label, window) => {
      if (!window) return blank(label);
      const fd = countFalseDeaths(window.startT, window.endT ?? Date.now());
      return [label, `${fd.verdicts} verdicts`, `${fd.subjects} members`, '', `${fd.suspicions} suspicions`, '0', verdict(fd.verdicts === 0, window.endT === undefined ? 'window cut short' : '')];
    };
    rows.push(fdRow('false deaths, start-up (start → settled)', R.windows.startup));
    rows.push(fdRow(`false deaths, steady window (${steadyS} s)`, R.windows.steady));
    rows.push(fdRow(`false deaths, health changes`, R.windows.health));
    rows.push(fdRow(`false deaths, NATS gateway link ${CLUSTERS[0]}↔${CLUSTERS[CLUSTERS.length - 1]} blackholed ${blackholeS} s`, R.windows.blackhole));
    rows.push(fdRow(`false deaths, NATS server ${CLUSTERS[1]} restarted`, R.windows.natsRestart));
    rows.push(fdRow(`false deaths, pause window (${pauseWindowS} s, ${pauseMs} ms SIGSTOP every ${pauseEvery} ms)`, R.windows.pause));
    rows.push(fdRow(`false deaths, ${stallCount} event-loop stalls of ${stallMs} ms`, R.windows.stall));
    rows.push(fdRow('false deaths, kills (about survivors)', R.windows.detect));
    rows.push(fdRow('false deaths, whole run', R.t0 === undefined ? undefined : { startT: R.t0, endT: R.windows.detect?.endT ?? Date.now() }));
    const steadyStats = R.steady ? statsDiff(R.steady.a, R.steady.b) : undefined;
    if (steadyStats) {
      rows.push([
        'messages / member / s (steady)',
        `${steadyStats.sentPerMemberS.toFixed(2)} sent`,
        `${steadyStats.receivedPerMemberS.toFixed(2)} recv`,
        '',
        `${fmtBytes(steadyStats.bytesSentPerMemberS)}/s sent`,
        '—',
        '',
      ]);
    } else rows.push(blank('messages / member / s (steady)'));

    const header = ['measure', 'p50', 'p99', 'max', 'n', 'target', 'result'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
    const line = (cells) => `| ${cells.map((cell, c) => String(cell).padEnd(widths[c])).join(' | ')} |`;
    console.log('');
    console.log(
      `membership${partial ? ' (PARTIAL: the run did not finish)' : ''}: ${N} members in ${CLUSTERS.length} clusters (${CLUSTERS.join(', ')}), ` +
        `${W} worker processes + ${V} single-member victim processes, NATS super-cluster on loopback; ` +
        `${staggerMs ? `starts spread over ${staggerMs} ms` : 'all started at once'}; ${describeSettings(settings)}; ES256 envelopes; ` +
        `Node ${process.version}, ${os.cpus().length} CPUs, ${describeLoad(R.loadAtStart)} at start, ${describeLoad(machineLoad())} at end`,
    );
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));

    console.log('');
    if (R.startup) printDiagnostics('start-up (start → converged)', statsDiff(R.startup.a, R.startup.b));
    if (steadyStats) {
      printDiagnostics('steady window', steadyStats);
      if (R.steady.slices.length > 1) console.log(`  messages sent / member / s, by 10 s slice: ${R.steady.slices.map((x) => x.toFixed(2)).join(', ')}`);
    }
    if (R.healthStats) printDiagnostics('health changes', statsDiff(R.healthStats.a, R.healthStats.b));
    if (R.closed) console.log(`member connections the NATS servers closed during the run (victims' kills aside): ${fmtCounts(R.closed)}`);
    const fdAll = R.transitions.filter((tr) => tr.to === 'dead' && !(killed.has(tr.subj) && killed.get(tr.subj) <= tr.t));
    if (fdAll.length) {
      const bySubject = new Map();
      for (const tr of fdAll) {
        const e = bySubject.get(tr.subj) ?? { n: 0, first: tr.t, last: tr.t };
        e.n++;
        e.first = Math.min(e.first, tr.t);
        e.last = Math.max(e.last, tr.t);
        bySubject.set(tr.subj, e);
      }
      const rel = (t) => `+${((t - (R.t0 ?? t)) / 1000).toFixed(1)} s`;
      console.log(`false death verdicts: ${fdAll.length} about ${bySubject.size} live members (subject: verdicts, first–last after start):`);
      console.log(
        '  ' +
          [...bySubject]
            .sort((x, y) => x[1].first - y[1].first)
            .map(([id, e]) => `${id}: ${e.n}, ${rel(e.first)}–${rel(e.last)}`)
            .join('; '),
      );
      for (const [id, e] of bySubject) {
        const first = fdAll.find((tr) => tr.subj === id && tr.t === e.first);
        console.log(`  ${id}, first verdict seen, by ${first.obs}: ${first.why ?? '?'}`);
        // The accuser's own reasoning (the others only heard its verdict).
        const own = fdAll.find((tr) => tr.subj === id && tr.why && !tr.why.startsWith('declared dead by'));
        if (own && own !== first) console.log(`  ${id}, verdict reached by ${own.obs} itself (+${((own.t - (R.t0 ?? own.t)) / 1000).toFixed(1)} s): ${own.why}`);
        const suspicion = R.transitions.find((tr) => tr.subj === id && tr.to === 'suspect' && tr.t <= e.first && tr.t >= e.first - 30_000 && tr.obs === (own ?? first).obs);
        if (suspicion) console.log(`  ${id}, ${suspicion.obs}'s suspicion before it (+${((suspicion.t - (R.t0 ?? suspicion.t)) / 1000).toFixed(1)} s): ${suspicion.why ?? '?'}`);
      }
    }
    if (args.json) {
      writeFileSync(args.json, JSON.stringify(summary(partial), null, 1));
      console.log(`(summary written to ${args.json})`);
    }
    if (dumpFile) {
      writeFileSync(dumpFile, JSON.stringify({ t0: R.t0, converged: Object.fromEntries(R.converged), transitions: R.transitions, healthChanges: R.healthChanges, kills: R.kills.map((k) => ({ ...k, deadAt: Object.fromEntries(k.deadAt) })), windows: R.windows }, null, 1));
      console.log(`(observations written to ${dumpFile})`);
    }
  }
}

/** The machine's load: 1-minute load average and, where the kernel has PSI, the share of time some task waited for a CPU (10 s avg). */
function machineLoad() {
  let cpuSome10;
  try {
    cpuSome10 = Number(/avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1]);
  } catch {
    // no PSI here
  }
  return { loadavg1: os.loadavg()[0], cpuPressurePct: Number.isFinite(cpuSome10) ? cpuSome10 : undefined };
}

function describeLoad(l) {
  if (!l) return 'load ?';
  return `load ${l.loadavg1.toFixed(1)}${l.cpuPressurePct !== undefined ? ` (tasks waiting for a CPU ${l.cpuPressurePct.toFixed(0)} % of the time)` : ''}`;
}

function describeSettings(c) {
  return (
    `probe every ${c.probeIntervalMs} ms, timeout ${c.probeTimeoutMs} ms, ${c.indirectChecks} indirect, ` +
    `suspicionMult ${c.suspicionMult ?? 4}, push-pull ${c.pushPullIntervalMs / 1000} s`
  );
}

function verdict(ok, note = '') {
  return (ok ? 'meets' : 'MISSES') + (note ? ` (${note})` : '');
}

function fmtMs(ms) {
  if (ms === undefined || Number.isNaN(ms)) return '—';
  if (ms === Infinity) return 'never';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function fmtBytes(n) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n)} B`;
}

function fmtCounts(counts) {
  const entries = Object.entries(counts).filter(([, v]) => v > 0);
  return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

async function waitFor(what, timeoutMs, check, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
}

// =============================================================================
// Worker: several members in one process

async function runWorker() {
  const { DEFAULT_MEMBERSHIP_CONFIG, EnvelopeSigner, EnvelopeVerifier, Membership, NatsTransport, realTimeSchedule } = await import('../dist/membership/index.js');
  const membershipConfig = membershipSettings(DEFAULT_MEMBERSHIP_CONFIG);
  const { parseSpiffeBundle, serializeSpiffeBundle } = await import('../dist/identity/index.js');
  const clock = { now: () => Date.now() };
  const send = (msg) => {
    if (process.connected) process.send(msg);
  };
  // The parent gone (even SIGKILLed): nothing left to report to.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {}); // the parent decides; it kills us on its way out
  process.on('uncaughtException', (err) => {
    send({ type: 'error', error: String(err?.stack ?? err) });
    setTimeout(() => process.exit(1), 100);
  });

  let name = 'worker';
  let total = 0;
  const local = []; // per member: {id, cluster, membership, counters, status: Map, converged, checkQueued, healthQueued}
  const expectations = new Map(); // changeId → {origin, cluster, value, waiting: Set of local ids}
  let transitionBatch = [];
  let servicesCalls = 0;
  let bundlesRejected = 0;
  let servicesMs = 0;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  // Lifeguard's slow-processing signal, as the gateway runtime gives it (the
  // worst event-loop delay since the member last asked), kept per member here
  // because the members share the event loop and each asks on its own.
  let lastLagTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - lastLagTick - 20);
    lastLagTick = now;
    for (const m of local) if (late > m.lagWorst) m.lagWorst = late;
  }, 20);
  // Stalls: stretches of ≥ 1 s in which a 100 ms timer could not run.
  let stalls = [];
  let lastTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - lastTick - 100;
    lastTick = now;
    if (late >= 1_000) stalls.push({ t: Date.now() - late, ms: late });
  }, 100);

  setInterval(() => {
    if (transitionBatch.length === 0) return;
    send({ type: 'transitions', items: transitionBatch });
    transitionBatch = [];
  }, 50);

  // A member's table is looked at incrementally: the ids its membership events named since the
  // last look (`m.dirty`), read one by one from Membership's member table (`membership.table`,
  // TypeScript-private, read only, like `health` below); every 250 ms, and whenever that table is
  // not there, the whole member list. Reading every member's whole list after every event cost
  // the workers about 6 % of their time at 100 members (CPU profile), time the members then lacked.
  const stateOf = (m, id) => m.membership.table?.get?.(id);
  const whyOf = (m, id) => m.membership.table?.records?.get?.(id)?.why ?? m.membership.members().find((v) => v.id === id)?.why ?? null;
  const checkMembers = (m) => {
    m.checkQueued = false;
    const t = Date.now();
    const full = m.fullCheck || typeof m.membership.table?.get !== 'function';
    m.fullCheck = false;
    const states = full ? m.membership.memberStates() : [...m.dirty].map((id) => stateOf(m, id)).filter(Boolean);
    m.dirty.clear();
    for (const s of states) {
      const before = m.status.get(s.id);
      if (before === s.status) continue;
      if (before === 'alive') m.alive--;
      if (s.status === 'alive') m.alive++;
      m.status.set(s.id, s.status);
      // A member appearing alive is convergence, reported below; everything else is a transition.
      if (!(before === undefined && s.status === 'alive') && s.id !== m.id) {
        // Why the member holds a suspicion or a verdict.
        transitionBatch.push([t, m.id, s.id, before ?? null, s.status, s.status !== 'alive' ? whyOf(m, s.id) : null]);
      }
    }
    if (!m.converged && m.alive >= total) {
      m.converged = true;
      send({ type: 'converged', id: m.id, t });
    }
  };
  // Coalesced: at most one look per member every CHECK_COALESCE_MS (a join
  // storm brings thousands of membership events), so a time is late by that
  // much at most, on top of whatever the event loop is busy with.
  const queueCheck = (m, id, full = false) => {
    if (id !== undefined) m.dirty.add(id);
    if (full) m.fullCheck = true;
    if (m.checkQueued) return;
    m.checkQueued = true;
    setTimeout(() => checkMembers(m), CHECK_COALESCE_MS);
  };

  // When does a member's services() reflect a health change? services() is a
  // pure function of the records the member holds (and its member table), so
  // it reflects the change from the moment the member holds the new record.
  // That moment is read right after each inbound message from Membership's
  // health state (`membership.health`, a TypeScript-private field, read only;
  // O(1)). services() itself rebuilds the whole view (it takes milliseconds at
  // N = 100), and 25 members calling it in one event loop after every message
  // would delay each other's message handling: so services() is called once
  // per member after all of this process's members hold the record, to
  // confirm that it does show the new value (counted, and reported).
  const checkHealth = (m) => {
    m.healthQueued = false;
    for (const [changeId, e] of expectations) {
      if (!e.waiting.has(m.id)) continue;
      const record = m.membership.health?.get(e.origin);
      if (record?.services?.[SERVICE]?.healthy !== e.value) continue;
      e.waiting.delete(m.id);
      e.held.set(m.id, Date.now());
      if (e.waiting.size === 0) setImmediate(() => confirmHealth(changeId));
    }
  };
  const confirmHealth = (changeId) => {
    const e = expectations.get(changeId);
    if (!e) return;
    for (const [id, heldAt] of e.held) {
      const m = local.find((x) => x.id === id);
      const t = Date.now();
      const view = m.membership.services();
      servicesCalls++;
      servicesMs += Date.now() - t;
      const report = view.get(SERVICE)?.get(e.cluster)?.reports.find((r) => r.origin === e.origin);
      send({ type: 'health-seen', changeId, id, t: heldAt, confirmed: report?.healthy === e.value });
    }
    e.held.clear();
  };
  const queueHealth = (m) => {
    if (m.healthQueued || expectations.size === 0) return;
    m.healthQueued = true;
    setImmediate(() => checkHealth(m));
  };

  // Safety nets for what the hooks miss (e.g. a first chain verified off the event loop).
  setInterval(() => {
    for (const m of local) if (m.started) queueCheck(m, undefined, true);
  }, 250);
  setInterval(() => {
    if (expectations.size) for (const m of local) queueHealth(m);
  }, 100);

  process.on('message', async (msg) => {
    try {
      switch (msg.type) {
        case 'init': {
          name = msg.name;
          total = msg.total;
          const rootDer = new Uint8Array(Buffer.from(msg.rootB64, 'base64'));
          const bundles = new Map();
          // One object per trust domain: the verifier re-checks a cached chain whenever the bundle object changes.
          const bundleFor = (td) => {
            if (!td.endsWith(`.${ROOT_DOMAIN}`)) return undefined;
            let b = bundles.get(td);
            if (!b) bundles.set(td, (b = { trustDomain: td, x509Authorities: [rootDer], jwtAuthorities: [] }));
            return b;
          };
          const bundleJson = new Map();
          const ownBundleJson = (td) => {
            if (!bundleJson.has(td)) bundleJson.set(td, serializeSpiffeBundle(bundleFor(td)));
            return bundleJson.get(td);
          };
          await Promise.all(
            msg.members.map(async (info) => {
              const svid = {
                spiffeId: info.svid.spiffeId,
                chain: info.svid.chain.map((b64) => new Uint8Array(Buffer.from(b64, 'base64'))),
                privateKey: createPrivateKey(info.svid.key),
                notBefore: new Date(info.svid.notBefore),
                notAfter: new Date(info.svid.notAfter),
              };
              const inner = await NatsTransport.connect({ servers: [info.nats], federation: FEDERATION, memberId: info.id });
              const m = {
                id: info.id,
                index: info.index,
                cluster: info.cluster,
                status: new Map(),
                alive: 0,
                dirty: new Set(),
                fullCheck: false,
                lagWorst: 0,
                converged: false,
                started: false,
                checkQueued: false,
                healthQueued: false,
                counters: { sent: 0, received: 0, bytesSent: 0, failures: {} },
              };
              const transport = countingTransport(inner, m, () => queueHealth(m));
              m.membership = new Membership({
                self: {
                  id: info.id,
                  cluster: info.cluster,
                  trustDomain: info.trustDomain,
                  federationAddr: `127.0.0.1:${4143 + info.index}`,
                  adminAddr: `127.0.0.1:${9901 + info.index}`,
                },
                transport,
                signer: new EnvelopeSigner({ svid: () => svid, from: info.id }),
                verifier: new EnvelopeVerifier({
                  bundleFor,
                  clock,
                  trustDomainOfCluster: (cluster) => (msg.clusters.includes(cluster) ? `${cluster}.${ROOT_DOMAIN}` : undefined),
                }),
                clock,
                schedule: realTimeSchedule,
                random: Math.random,
                config: membershipConfig,
                eventLoopLag: () => {
                  const worst = m.lagWorst;
                  m.lagWorst = 0;
                  return worst;
                },
                // As the gateway: our domain's bundle travels with the gossip; those heard are parsed
                // (the gateway then stores them; here every domain shares the one static root).
                bundles: {
                  own: () => ({ trustDomain: info.trustDomain, json: ownBundleJson(info.trustDomain) }),
                  accept: (bundle) => {
                    try {
                      parseSpiffeBundle(bundle.json, bundle.trustDomain);
                    } catch {
                      bundlesRejected++;
                    }
                  },
                },
                onEvent: (event) => {
                  if (event.kind === 'member') queueCheck(m, event.update.id);
                },
              });
              local.push(m);
            }),
          );
          // The parent checks that we run with the settings it reports.
          send({ type: 'ready', req: msg.req, config: membershipConfig });
          break;
        }
        case 'start': {
          await Promise.all(
            local.map(async (m) => {
              const at = msg.t0 + Math.round((msg.staggerMs * m.index) / total);
              if (at > Date.now()) await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
              await m.membership.start();
              // Every gateway reports its cluster's services; the health phase changes one replica's.
              await m.membership.setLocalServices({ [SERVICE]: { healthy: 3, total: 3, inFlight: 0, exported: true } });
              m.started = true;
              queueCheck(m, undefined, true);
            }),
          );
          break;
        }
        case 'exit':
          process.exit(0);
          break;
        case 'stall': {
          // A synchronous busy loop: nothing else of this process runs meanwhile (timers, NATS reads,
          // replies), as in a gateway stuck in a long synchronous task; it burns CPU, unlike SIGSTOP.
          const start = performance.now();
          while (performance.now() - start < msg.ms) {
            // busy
          }
          send({ type: 'stalled', req: msg.req, ms: performance.now() - start });
          break;
        }
        case 'stats': {
          const members = {};
          for (const m of local) members[m.id] = { ...m.counters, failures: { ...m.counters.failures }, drops: m.membership.droppedMessages() };
          send({
            type: 'stats',
            req: msg.req,
            name,
            members,
            cpu: process.cpuUsage(),
            lag: { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
            stalls,
            servicesMs: servicesCalls ? servicesMs / servicesCalls : undefined,
            bundlesRejected,
          });
          if (!msg.peek) {
            lag.reset();
            stalls = [];
          }
          break;
        }
        case 'expect': {
          const waiting = new Set(local.map((m) => m.id).filter((id) => id !== msg.origin));
          expectations.set(msg.changeId, { origin: msg.origin, cluster: msg.cluster, value: msg.value, waiting, held: new Map() });
          send({ type: 'ok', req: msg.req });
          break;
        }
        case 'expect-clear': {
          // Those that did get it while others never did: confirm and report them now.
          confirmHealth(msg.changeId);
          expectations.delete(msg.changeId);
          send({ type: 'ok', req: msg.req });
          break;
        }
        case 'set': {
          const m = local.find((x) => x.id === msg.id);
          const t0 = Date.now();
          await m.membership.setLocalServices({ [SERVICE]: { healthy: msg.value, total: Math.max(3, msg.value), inFlight: 0, exported: true } });
          send({ type: 'set-done', req: msg.req, t0, t1: Date.now() });
          break;
        }
      }
    } catch (err) {
      send({ type: 'error', error: String(err?.stack ?? err) });
    }
  });
}

/**
 * The member's NatsTransport with counters around it: messages and bytes each
 * way (a broadcast sent counts once; each copy received counts once), failed
 * requests by kind, and a hook after every inbound message.
 */
function countingTransport(inner, m, afterInbound) {
  const c = m.counters;
  const fail = (err) => {
    const kind = err?.kind ?? 'other';
    c.failures[kind] = (c.failures[kind] ?? 0) + 1;
  };
  return {
    get maxMessageBytes() {
      return inner.maxMessageBytes;
    },
    start(handlers) {
      return inner.start({
        broadcast(data) {
          c.received++;
          handlers.broadcast(data);
          afterInbound();
        },
        request(data) {
          c.received++;
          const result = handlers.request(data);
          Promise.resolve(result).then(
            (reply) => {
              if (reply) {
                c.sent++;
                c.bytesSent += reply.length;
              }
              afterInbound();
            },
            () => afterInbound(),
          );
          return result;
        },
      });
    },
    async broadcast(data) {
      c.sent++;
      c.bytesSent += data.length;
      return inner.broadcast(data);
    },
    async request(memberId, data, timeoutMs) {
      c.sent++;
      c.bytesSent += data.length;
      try {
        const reply = await inner.request(memberId, data, timeoutMs);
        c.received++;
        afterInbound();
        return reply;
      } catch (err) {
        fail(err);
        throw err;
      }
    },
    location() {
      return inner.location();
    },
    answeringServers(timeoutMs) {
      return inner.answeringServers(timeoutMs);
    },
    onStatus(listener) {
      return inner.onStatus(listener);
    },
    stats() {
      return inner.stats();
    },
    close() {
      return inner.close();
    },
  };
}

// Last, so that every helper above is initialised before either role runs.
if (args.role === 'worker') await runWorker();
else await runParent();
