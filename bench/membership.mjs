// Membership (SWIM/Lifeguard over NATS, signed envelopes) at federation scale,
// against DESIGN's targets: a killed gateway is marked dead everywhere ≤ 3 s;
// a health change reaches every cluster ≤ 500 ms p99; 0 false deaths.
//
//   npm run build && node bench/membership.mjs [--members 100] [--steady 60] [--timeout 300]
//
// What runs: three nats-servers on free loopback ports, one single-node NATS
// cluster per meshgate cluster, linked as a super-cluster by `gateway {}`
// blocks; N `Membership` instances with real `NatsTransport`s, each connected
// to its own cluster's server, signing every message with its own gateway
// X509-SVID (one shared root, one intermediate per cluster, made at start)
// and verifying everyone else's. DESIGN defaults: probe 1 s, timeout 500 ms,
// 3 indirect probes, push-pull 30 s.
//
// Several members share a process (a 2-core machine cannot run 100 Node
// processes): `--workers` processes (default 4) hold all but `--victims`
// members; each victim (default 3, one per cluster) is a process of its own
// holding one member, so that "a killed gateway" is exactly what DESIGN
// means: SIGKILL of a gateway process, no leave, its NATS connection dropped
// by the kernel. Victims are also the members paused (SIGSTOP/SIGCONT) in the
// pause window. Workers are this same script forked with `--role worker`.
//
// Phases, in order, each printed as it ends:
//   1. convergence: all members start at once (t0); per member, the time until
//      its member table holds N members alive (itself included);
//   2. steady window (`--steady` s): nothing happens; any `dead` verdict is a
//      false death; messages, bytes, CPU and event-loop delay are sampled;
//   3. health changes (`--changes`, default 10): one member (a different one
//      each time, rotating over clusters) calls setLocalServices() with a new
//      healthy count; per observer, the time until its services() shows that
//      member's report with the new value;
//   4. pause window (`--pause-window` s, default 30; 0 skips it): DESIGN's
//      "one member paused 300 ms at a time": a victim is SIGSTOPped for
//      `--pause-ms` every `--pause-every` ms, rotating over the victims;
//      any `dead` verdict about anyone is a false death;
//   5. detection: victims are SIGKILLed one at a time; per surviving member,
//      the time from the kill until its table says `dead`.
// Observations are timestamped in the worker with Date.now() when they are
// made (same machine, same clock) and sent to this process over IPC.
//
// Bounded: `--timeout` (default 300 s) ends the run, prints what was measured
// and exits 1. nats-servers and workers are killed on every exit path
// (normal, error, timeout, SIGINT/SIGTERM); workers also exit when this
// process's IPC channel closes.
import { fork, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, accessSync, constants as fsConstants } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const SERVICE = 'payments';
const FEDERATION = 'bench';
const CLUSTERS = ['us-east', 'eu-west', 'ap-south'];
const ROOT_DOMAIN = 'bench.example';
const TARGETS = { detectMs: 3_000, healthP99Ms: 500, falseDeaths: 0 };

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'parent' },
    members: { type: 'string', default: '100' },
    workers: { type: 'string', default: '4' },
    victims: { type: 'string', default: '3' },
    steady: { type: 'string', default: '60' },
    changes: { type: 'string', default: '10' },
    'pause-window': { type: 'string', default: '30' },
    'pause-ms': { type: 'string', default: '300' },
    'pause-every': { type: 'string', default: '1500' },
    'converge-timeout': { type: 'string', default: '90' },
    'detect-timeout': { type: 'string', default: '30' },
    timeout: { type: 'string', default: '300' },
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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
        '  [--pause-window 30] [--pause-ms 300] [--pause-every 1500] [--converge-timeout 90] [--detect-timeout 30] [--timeout 300]',
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

  const { CertificateAuthority } = await import('../dist/identity/index.js');
  const { gatewaySpiffeId } = await import('../dist/membership/index.js');

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
  process.on('uncaughtException', (err) => bail(`failed: ${err?.stack ?? err}`, 1));
  process.on('unhandledRejection', (err) => bail(`failed: ${err?.stack ?? err}`, 1));
  const hardTimer = setTimeout(() => bail(`hard timeout of ${timeoutMs / 1000} s reached; figures so far:`, 1), timeoutMs);
  hardTimer.unref();

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
    healthLatencies: [], // ms, per observer per change
    healthChanges: [], // {id, changer, seen, expected, maxMs, timedOut}
    kills: [], // {id, t, deadAt: Map obs → ms, observers, firstSuspectMs}
    natsCpu: undefined,
    serviceCallMs: [],
  };

  // ---- NATS super-cluster --------------------------------------------------------------
  const natsBin = findNatsServer();
  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-bench-membership-'));
  const servers = [];
  for (const name of CLUSTERS) servers.push({ name, client: await freePort(), monitor: await freePort(), gateway: await freePort() });
  for (const s of servers) {
    const conf = [
      `server_name: ${JSON.stringify(s.name)}`,
      `listen: "127.0.0.1:${s.client}"`,
      `http: "127.0.0.1:${s.monitor}"`,
      // Server-side pings: a silent dead link is found within ~3 s (the harness's setting).
      'ping_interval: "1s"',
      'ping_max: 3',
      'gateway {',
      `  name: ${JSON.stringify(s.name)}`,
      `  listen: "127.0.0.1:${s.gateway}"`,
      '  reject_unknown_cluster: true',
      '  gateways: [',
      ...servers.filter((o) => o !== s).map((o) => `    { name: ${JSON.stringify(o.name)}, urls: ["nats://127.0.0.1:${o.gateway}"] }`),
      '  ]',
      '}',
    ].join('\n');
    const file = path.join(tmpDir, `${s.name}.conf`);
    writeFileSync(file, conf + '\n');
    const child = spawn(natsBin, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    s.proc = child;
    s.tail = [];
    const keep = (chunk) => {
      s.tail.push(...chunk.toString().split('\n').filter(Boolean));
      if (s.tail.length > 30) s.tail.splice(0, s.tail.length - 30);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', (code, signal) => {
      if (R.phase !== 'done') bail(`nats-server ${s.name} exited (${code ?? signal}):\n${s.tail.join('\n')}`, 1);
    });
  }
  const monitor = async (s, endpoint) => {
    const res = await fetch(`http://127.0.0.1:${s.monitor}${endpoint}`, { signal: AbortSignal.timeout(2_000) });
    return res.json();
  };
  await waitFor('nats-servers to be healthy and their gateways linked', 20_000, async () => {
    for (const s of servers) {
      const health = await monitor(s, '/healthz').catch(() => undefined);
      if (health?.status !== 'ok') return false;
      const gz = await monitor(s, '/gatewayz');
      for (const o of servers) {
        if (o === s) continue;
        if (!gz.outbound_gateways?.[o.name]?.connection) return false;
        if (!(gz.inbound_gateways?.[o.name]?.length > 0)) return false;
      }
    }
    return true;
  });
  log(`NATS super-cluster up: ${servers.map((s) => `${s.name}@127.0.0.1:${s.client}`).join(', ')} (${natsBin})`);

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
    const child = fork(SELF, ['--role', 'worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
          for (const [t, obs, subj, from, to] of msg.items) R.transitions.push({ t, obs, subj, from, to });
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

  await Promise.all(
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
  log(`${workers.length} processes ready: ${workers.filter((w) => !w.victim).map((w) => `${w.name} (${w.members.length} members)`).join(', ')}${V ? `, ${V} victims (1 member each)` : ''}; every member connected to its cluster's NATS`);

  // ---- phase 1: convergence ------------------------------------------------------------------
  R.phase = 'converge';
  R.t0 = Date.now();
  await Promise.all(workers.map((w) => w.proc.send({ type: 'start', t0: R.t0 })));
  await waitFor(`every member to see ${N} alive`, convergeTimeoutMs, async () => R.converged.size >= N, 100).catch((err) => {
    log(`${err.message}: ${R.converged.size} of ${N} converged`);
  });
  log(`convergence: ${R.converged.size}/${N} members saw ${N} alive; last after ${fmtMs(Math.max(0, ...R.converged.values()))}`);
  if (R.converged.size < N) {
    // Let the stragglers finish in the steady window; their times are still recorded.
  }
  await sleep(2_000);

  // ---- phase 2: steady window ------------------------------------------------------------------
  const snapshot = async () => {
    const replies = await Promise.all(live().map((w) => call(w, { type: 'stats' })));
    const nats = await Promise.all(servers.map((s) => monitor(s, '/varz').catch(() => undefined)));
    return { t: Date.now(), replies, nats };
  };
  if (steadyS > 0) {
    R.phase = 'steady';
    const a = await snapshot();
    log(`steady window: ${steadyS} s of nothing`);
    await sleep(steadyS * 1000);
    const b = await snapshot();
    R.steady = { startT: a.t, endT: b.t, a, b };
    log(`steady window done: ${countFalseDeaths(a.t, b.t).verdicts} false death verdict(s)`);
  }

  // ---- phase 3: health changes ---------------------------------------------------------------
  R.phase = 'health';
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
      seen.set(msg.id, msg.t);
      if (seen.size >= observers.size) done();
    };
    healthWaiters.add(waiter);
    const set = await call(workerOf.get(changer.id), { type: 'set', id: changer.id, value });
    const timedOut = await Promise.race([allSeen.then(() => false), sleep(5_000).then(() => true)]);
    healthWaiters.delete(waiter);
    await Promise.all(live().map((w) => call(w, { type: 'expect-clear', changeId })));
    const lat = [...seen.values()].map((t) => Math.max(0, t - set.t0));
    R.healthLatencies.push(...lat);
    R.healthChanges.push({ changer: changer.id, seen: seen.size, expected: observers.size, maxMs: Math.max(0, ...lat), timedOut, setMs: set.t1 - set.t0 });
    log(`health change ${changeId}/${changes} by ${changer.id}: ${seen.size}/${observers.size} observers, slowest ${fmtMs(Math.max(0, ...lat))}${timedOut ? ' (TIMED OUT after 5 s)' : ''}`);
    await sleep(500 + Math.random() * 500);
  }

  // ---- phase 4: pause window -------------------------------------------------------------------
  const victims = workers.filter((w) => w.victim);
  if (pauseWindowS > 0 && victims.length > 0) {
    R.phase = 'pause';
    const startT = Date.now();
    let pauses = 0;
    log(`pause window: ${pauseWindowS} s, a victim SIGSTOPped ${pauseMs} ms every ${pauseEvery} ms, in turn`);
    while (Date.now() - startT < pauseWindowS * 1000) {
      const v = victims[pauses % victims.length];
      v.proc.kill('SIGSTOP');
      await sleep(pauseMs);
      v.proc.kill('SIGCONT');
      pauses++;
      await sleep(pauseEvery - pauseMs);
    }
    // Let verdicts caused by the last pause arrive before closing the window.
    await sleep(2_000);
    R.pause = { startT, endT: Date.now(), pauses };
    log(`pause window done: ${pauses} pauses, ${countFalseDeaths(startT, R.pause.endT).verdicts} false death verdict(s)`);
  }

  // ---- phase 5: detection ------------------------------------------------------------------------
  R.phase = 'detect';
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
    await sleep(2_000);
  }

  R.phase = 'done';
  reported = true;
  printReport(false);
  killAll();
  // Targets missed are findings, printed in the table; the exit code says whether the run completed.
  process.exit(R.converged.size < N ? 1 : 0);

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
    for (const r of a.replies) for (const [id, s] of Object.entries(r.members)) before.set(id, s);
    let sent = 0;
    let received = 0;
    let bytesSent = 0;
    let n = 0;
    const failures = {};
    const drops = {};
    const perWorker = [];
    for (const r of b.replies) {
      const ra = a.replies.find((x) => x.name === r.name);
      for (const [id, s] of Object.entries(r.members)) {
        const p = before.get(id);
        if (!p) continue;
        n++;
        sent += s.sent - p.sent;
        received += s.received - p.received;
        bytesSent += s.bytesSent - p.bytesSent;
        for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v - (p.failures[k] ?? 0);
        for (const [k, v] of Object.entries(s.drops)) drops[k] = (drops[k] ?? 0) + v - (p.drops[k] ?? 0);
      }
      if (ra) {
        const cpuMs = (r.cpu.user + r.cpu.system - ra.cpu.user - ra.cpu.system) / 1000;
        perWorker.push({ name: r.name, members: Object.keys(r.members).length, cpuPct: (cpuMs / (seconds * 1000)) * 100, lagP99: r.lag.p99, lagMax: r.lag.max, servicesMs: r.servicesMs });
      }
    }
    const natsCpu = b.nats.map((v) => v?.cpu).filter((x) => typeof x === 'number');
    return { seconds, n, sentPerMemberS: sent / n / seconds, receivedPerMemberS: received / n / seconds, bytesSentPerMemberS: bytesSent / n / seconds, failures, drops, perWorker, natsCpu };
  }

  function printReport(partial) {
    const rows = [];
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
    const hl = [...R.healthLatencies].sort((x, y) => x - y);
    const hlP99 = pct(hl, 0.99);
    const missingHealth = R.healthChanges.reduce((sum, c) => sum + (c.expected - c.seen), 0);
    rows.push([
      'health change → every other member’s services()',
      fmtMs(pct(hl, 0.5)),
      fmtMs(hlP99),
      fmtMs(hl.length ? hl[hl.length - 1] : undefined),
      `${hl.length} obs, ${R.healthChanges.length} changes`,
      `p99 ≤ ${TARGETS.healthP99Ms} ms`,
      hl.length === 0 ? 'not run' : verdict(hlP99 <= TARGETS.healthP99Ms && missingHealth === 0, missingHealth ? `${missingHealth} never seen` : ''),
    ]);
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
      rows.push([
        '  … dead everywhere (max over observers), per kill',
        R.kills.map((k, i) => fmtMs(everywhere[i])).join(', '),
        '',
        '',
        R.kills.map((k) => k.id).join(', '),
        '',
        '',
      ]);
      rows.push(['  … first suspicion anywhere, per kill', R.kills.map((k) => fmtMs(k.firstSuspectMs)).join(', '), '', '', '', '', '']);
    }
    const fdRow = (label, window) => {
      if (!window) return [label, '', '', '', '', '0', 'not run'];
      const fd = countFalseDeaths(window.startT, window.endT);
      return [label, `${fd.verdicts} verdicts`, `${fd.subjects} members`, '', `${fd.suspicions} suspicions`, '0', verdict(fd.verdicts === 0)];
    };
    rows.push(fdRow(`false deaths, steady window (${steadyS} s)`, R.steady));
    rows.push(fdRow(`false deaths, pause window (${pauseWindowS} s, ${pauseMs} ms SIGSTOPs every ${pauseEvery} ms)`, R.pause));
    rows.push(fdRow('false deaths, whole run', R.t0 === undefined ? undefined : { startT: R.t0, endT: Date.now() }));
    let steadyStats;
    if (R.steady) {
      steadyStats = statsDiff(R.steady.a, R.steady.b);
      rows.push([
        'messages / member / s (steady)',
        `${steadyStats.sentPerMemberS.toFixed(2)} sent`,
        `${steadyStats.receivedPerMemberS.toFixed(2)} recv`,
        '',
        `${fmtBytes(steadyStats.bytesSentPerMemberS)}/s sent`,
        '—',
        '',
      ]);
    } else rows.push(['messages / member / s (steady)', '', '', '', '', '—', 'not run']);

    const header = ['measure', 'p50', 'p99', 'max', 'n', 'DESIGN target', 'result'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
    const line = (cells) => `| ${cells.map((cell, c) => String(cell).padEnd(widths[c])).join(' | ')} |`;
    console.log('');
    console.log(
      `membership${partial ? ' (PARTIAL: run did not finish)' : ''}: ${N} members in ${CLUSTERS.length} clusters (${CLUSTERS.join(', ')}), ` +
        `${W} worker processes + ${V} single-member victim processes, NATS super-cluster on loopback; ` +
        `probe 1 s / 500 ms / 3 indirect, push-pull 30 s; ES256 envelopes; Node ${process.version}, ${os.cpus().length} CPUs`,
    );
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));

    if (steadyStats) {
      const s = steadyStats;
      console.log('');
      console.log(`steady window diagnostics (${s.seconds.toFixed(1)} s, ${s.n} members):`);
      for (const w of s.perWorker) {
        console.log(
          `  ${w.name.padEnd(22)} ${String(w.members).padStart(3)} members  CPU ${w.cpuPct.toFixed(1).padStart(5)} %  event-loop delay p99 ${w.lagP99.toFixed(1)} ms, max ${w.lagMax.toFixed(1)} ms` +
            (w.servicesMs !== undefined ? `  services() ${w.servicesMs.toFixed(2)} ms/call` : ''),
        );
      }
      if (s.natsCpu.length) console.log(`  nats-server CPU (varz, at end of window): ${s.natsCpu.map((c) => `${c.toFixed(1)} %`).join(', ')}`);
      console.log(`  failed requests by kind: ${fmtCounts(s.failures)}`);
      console.log(`  dropped inbound messages by reason: ${fmtCounts(s.drops)}`);
    }
    const fdAll = R.transitions.filter((tr) => tr.to === 'dead' && !(killed.has(tr.subj) && killed.get(tr.subj) <= tr.t));
    if (fdAll.length) {
      console.log('');
      console.log(`false death verdicts (${fdAll.length}; first 10, time after start, observer ← subject):`);
      for (const tr of fdAll.slice(0, 10)) console.log(`  +${((tr.t - (R.t0 ?? tr.t)) / 1000).toFixed(2)} s  ${tr.obs} ← ${tr.subj} (was ${tr.from})`);
    }
  }
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

function findNatsServer() {
  const executable = (file) => {
    try {
      accessSync(file, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    throw new Error(`NATS_SERVER_BIN=${fromEnv} is not an executable file`);
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, 'nats-server'))) return path.join(dir, 'nats-server');
  }
  if (executable('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  throw new Error('nats-server not found: install it with "apt-get install nats-server" or set NATS_SERVER_BIN');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// =============================================================================
// Worker: several members in one process

async function runWorker() {
  const { EnvelopeSigner, EnvelopeVerifier, Membership, NatsTransport, realTimeSchedule } = await import('../dist/membership/index.js');
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
  let servicesMs = 0;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();

  setInterval(() => {
    if (transitionBatch.length === 0) return;
    send({ type: 'transitions', items: transitionBatch });
    transitionBatch = [];
  }, 50);

  const checkMembers = (m) => {
    m.checkQueued = false;
    const t = Date.now();
    let alive = 0;
    for (const s of m.membership.memberStates()) {
      if (s.status === 'alive') alive++;
      const before = m.status.get(s.id);
      if (before === s.status) continue;
      m.status.set(s.id, s.status);
      // A member appearing alive is convergence, reported below; everything else is a transition.
      if (!(before === undefined && s.status === 'alive') && s.id !== m.id) transitionBatch.push([t, m.id, s.id, before ?? null, s.status]);
    }
    if (!m.converged && alive >= total) {
      m.converged = true;
      send({ type: 'converged', id: m.id, t });
    }
  };
  const queueCheck = (m) => {
    if (m.checkQueued) return;
    m.checkQueued = true;
    setImmediate(() => checkMembers(m));
  };

  const checkHealth = (m) => {
    m.healthQueued = false;
    let view;
    for (const [changeId, e] of expectations) {
      if (!e.waiting.has(m.id)) continue;
      const t = Date.now();
      if (!view) {
        view = m.membership.services();
        servicesCalls++;
        servicesMs += Date.now() - t;
      }
      const report = view.get(SERVICE)?.get(e.cluster)?.reports.find((r) => r.origin === e.origin);
      if (report?.healthy === e.value) {
        e.waiting.delete(m.id);
        // The time the call began: the state was already there.
        send({ type: 'health-seen', changeId, id: m.id, t });
      }
    }
  };
  const queueHealth = (m) => {
    if (m.healthQueued || expectations.size === 0) return;
    m.healthQueued = true;
    setImmediate(() => checkHealth(m));
  };

  // Safety nets for what the hooks miss (e.g. a first chain verified off the event loop).
  setInterval(() => {
    for (const m of local) if (m.started) queueCheck(m);
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
                cluster: info.cluster,
                status: new Map(),
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
                config: { probeIntervalMs: 1_000, probeTimeoutMs: 500, indirectChecks: 3, pushPullIntervalMs: 30_000 },
                onEvent: (event) => {
                  if (event.kind === 'member') queueCheck(m);
                },
              });
              local.push(m);
            }),
          );
          send({ type: 'ready', req: msg.req });
          break;
        }
        case 'start': {
          await Promise.all(
            local.map(async (m) => {
              await m.membership.start();
              // Every gateway reports its cluster's services; the health phase changes one replica's.
              await m.membership.setLocalServices({ [SERVICE]: { healthy: 3, total: 3, inFlight: 0, exported: true } });
              m.started = true;
              queueCheck(m);
            }),
          );
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
            servicesMs: servicesCalls ? servicesMs / servicesCalls : undefined,
          });
          lag.reset();
          break;
        }
        case 'expect': {
          expectations.set(msg.changeId, { origin: msg.origin, cluster: msg.cluster, value: msg.value, waiting: new Set(local.map((m) => m.id).filter((id) => id !== msg.origin)) });
          send({ type: 'ok', req: msg.req });
          break;
        }
        case 'expect-clear': {
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
