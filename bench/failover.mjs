// Failover and latency split, against our target: all endpoints of a service die at once →
// 0 failed idempotent requests, ≥ 99 % of traffic served remotely within 1 s; failback without
// flapping.   Run:  npm run build && node bench/failover.mjs     (tables on stdout, progress on stderr)
// Loopback only, one shared nats-server, gateways from dist/cli.js, as in bench/federation.mjs.
//   A: gateways a and b both serve `hello` (a: 2 endpoints, b: 1). An open loop at 500 req/s goes
//      through a; after 3 s both of a's endpoints are SIGKILLed at once, restarted 8 s later on the
//      same ports, and the load runs on until a's failback gate is steady again (+ 2 s).
//   C: a's one endpoint sits behind a 50 ms delay proxy, b's is fast, and a's `failover.order` is
//      [any], so one tier holds both and peak-EWMA alone decides; a closed loop of 16 shows the split.
// Every request records which backend answered (the backends' `x-backend` header).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ALL_GATEWAYS, gatewayConfig, jsonLine, makeSharedRoot, startGateway, startNats } from './lib/federation.mjs';
import { killGroup, Processes, sleep } from './lib/processes.mjs';

const SELF = fileURLToPath(import.meta.url);
const { values: opts } = parseArgs({ options: { backend: { type: 'string' }, port: { type: 'string', default: '0' } } });
const [RATE, KILL_AFTER_MS, DOWN_MS, AFTER_STEADY_MS, BUCKET_MS] = [500, 3_000, 8_000, 2_000, 200]; // scenario A
const STEADY_CAP_MS = 45_000; // failback: checks pass, then a 10 s hold (+ ≤ 1 s jitter) and a 10 s ramp
const [C_WORKERS, C_MS, DELAY_MS] = [16, 5_000, 50]; // scenario C
const RUN_CAP_MS = 115_000; // the whole run, whatever hangs
const ALLOW = [ALL_GATEWAYS];
const START_TIMEOUT_MS = 20_000;
const HEALTH = { path: '/healthz', interval: '500ms' };
const log = (line) => process.stderr.write(`${line}\n`);

// A backend child: 200 with its name in `x-backend`. A fixed --port lets a restart take the same one.
function backend(name, port) {
  const body = Buffer.from(`hello from ${name}\n`);
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-backend': name }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'backend listening', port: server.address().port })));
}

// ---- child processes ------------------------------------------------------------------------

let logs = 0; // a fresh log file per start: a restarted backend must not be taken as listening by its predecessor's line

async function startBackend(ctx, name, port = 0) {
  const proc = ctx.procs.start(`backend ${name}`, process.execPath, [SELF, '--backend', name, '--port', String(port)], { logFile: path.join(ctx.dir, `backend-${name}-${logs++}.log`) });
  const { port: bound } = jsonLine(await ctx.procs.waitForLine(proc, (l) => l.includes('backend listening'), 'listening', START_TIMEOUT_MS));
  return { name, proc, port: bound, addr: `127.0.0.1:${bound}` };
}

async function startFedGateway(ctx, federation, cluster, services) {
  const configFile = path.join(ctx.dir, `${federation}-${cluster}.yaml`);
  writeFileSync(configFile, gatewayConfig({ federation, cluster, natsUrl: ctx.natsUrl, caDir: path.join(ctx.dir, `ca-${cluster}`), services }));
  return startGateway(ctx.procs, { name: `gateway ${cluster}`, configFile, logFile: path.join(ctx.dir, `${federation}-${cluster}.log`), timeoutMs: START_TIMEOUT_MS });
}

// SIGTERM lets gateways leave the membership and drain; SIGKILL when they take too long.
const stopAll = (ctx, xs) => Promise.all(xs.map((x) => ctx.procs.stop(x.proc, 3_000)));

const getJson = async (gw, page) => (await fetch(`http://${gw.admin}${page}`)).json();

/** Polls until `test` holds (true) or `ms` pass (false). */
async function until(test, ms, every = 250) {
  for (const end = performance.now() + ms; performance.now() < end; await sleep(every)) if (await test().catch(() => false)) return true;
  return false;
}

// Only once a's checks pass and b's endpoint is known healthy: a balancer built earlier would see
// its local tier down, fail over at start-up and sit out a failback hold.
async function waitHealthy(a, localCount) {
  const ok = await until(async () => {
    const eps = Object.values((await getJson(a, '/debug/endpoints')).hello ?? {});
    const b = (await getJson(a, '/debug/services')).services?.hello?.b;
    return eps.filter((e) => e.state === 'healthy').length === localCount && b?.healthy >= 1 && !b.stale;
  }, 30_000);
  if (!ok) throw new Error(`a never saw its ${localCount} endpoint(s) and b's hello healthy within 30 s`);
}

// ---- requests ----------------------------------------------------------------------------

async function one(pool) {
  try {
    const { statusCode, headers, body } = await pool.request({ path: '/', method: 'GET', headers: { host: 'hello' } });
    await body.arrayBuffer();
    const ok = statusCode >= 200 && statusCode < 300;
    return { ok, backend: headers['x-backend'], error: ok ? undefined : `${statusCode} ${headers['meshgate-error'] ?? ''}`.trim() };
  } catch (err) {
    return { ok: false, error: err.code ?? err.message };
  }
}

const newPool = (addr, connections) => new Pool(`http://${addr}`, { connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
const isLocal = (r) => r.backend?.startsWith('a');

/** Open loop at RATE on a fixed timetable (no coordinated omission); returns stop() → records. */
function openLoop(pool) {
  const [records, pending, t0] = [[], new Set(), performance.now()];
  let [sent, running] = [0, true];
  const tick = () => {
    if (!running) return;
    for (const due = Math.floor(((performance.now() - t0) * RATE) / 1000) + 1; sent < due; sent++) {
      const at = t0 + (sent * 1000) / RATE;
      const p = one(pool).then((r) => records.push({ at, ms: performance.now() - at, ...r }));
      pending.add(p);
      p.finally(() => pending.delete(p));
    }
    setTimeout(tick, 1);
  };
  tick();
  return async () => ((running = false), await Promise.all(pending), records);
}

const quantile = (xs, q) => (xs.length ? Float64Array.from(xs).sort()[Math.ceil(q * xs.length) - 1] : NaN);
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');

// ---- scenario A: all local endpoints die at once -------------------------------------------

async function scenarioA(ctx) {
  log('A: starting backends a1, a2, b1 and gateways a and b…');
  let [a1, a2, b1] = await Promise.all(['a1', 'a2', 'b1'].map((n) => startBackend(ctx, n)));
  const svc = (...eps) => ({ hello: { protocol: 'http', endpoints: eps.map((e) => e.addr), healthCheck: HEALTH, export: true, allow: ALLOW } });
  const [a, b] = await Promise.all([startFedGateway(ctx, 'fo-a', 'a', svc(a1, a2)), startFedGateway(ctx, 'fo-a', 'b', svc(b1))]);
  await waitHealthy(a, 2);

  // The failback phase over time, from a's own explanation: it says when each step happened.
  const phases = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const phase = await getJson(a, '/debug/routes?service=hello').then((r) => r.failback?.phase, () => undefined);
      if (phase && phase !== phases.at(-1)?.phase) phases.push({ phase, at: performance.now() });
      await sleep(250);
    }
  })();

  log(`A: ${RATE} req/s through a; SIGKILL of a1 and a2 in ${KILL_AFTER_MS / 1000} s…`);
  const pool = newPool(a.local, 128);
  const stopLoad = openLoop(pool);
  await sleep(KILL_AFTER_MS);
  // Sessions to b open on first use: none yet means the failover also pays for b's TLS handshake.
  const sessions = Object.values(await getJson(a, '/debug/remotes')).reduce((n, r) => n + (r.sessions ?? 0), 0);
  log(`A: SIGKILL a1 and a2 now; a holds ${sessions} session(s) to b's gateway`);
  const [killAt, killEpoch] = [performance.now(), Date.now()];
  killGroup(a1.proc.pid, 'SIGKILL');
  killGroup(a2.proc.pid, 'SIGKILL');
  await sleep(DOWN_MS);
  log('A: restarting a1 and a2 on the same ports…');
  [a1, a2] = await Promise.all([startBackend(ctx, 'a1', a1.port), startBackend(ctx, 'a2', a2.port)]);
  const restartAt = performance.now();
  const steady = await until(async () => phases.at(-1)?.phase === 'steady' && phases.at(-1).at > restartAt, STEADY_CAP_MS);
  log(`A: failback ${steady ? 'steady' : `not steady after ${STEADY_CAP_MS / 1000} s`}; ${AFTER_STEADY_MS / 1000} s more…`);
  await sleep(AFTER_STEADY_MS);
  const records = (await stopLoad()).sort((x, y) => x.at - y.at);
  polling = false;
  await poller;
  await pool.close();
  const events = (await getJson(a, '/debug/events?service=hello')).events ?? [];
  await stopAll(ctx, [a, b, a1, a2, b1]);
  reportA({ records, killAt, killEpoch, restartAt, phases, events, steady });
}

function reportA({ records, killAt, killEpoch, restartAt, phases, events, steady }) {
  const failed = records.filter((r) => !r.ok);
  const kinds = new Map();
  for (const r of failed) kinds.set(r.error, (kinds.get(r.error) ?? 0) + 1);
  // 200 ms buckets of *scheduled* time from the kill to the restart; failover is done at the start of
  // the first bucket from which every bucket is ≥ 99 % served by b (a failure counts against it).
  const buckets = [];
  for (const r of records.filter((x) => x.at >= killAt && x.at < restartAt)) {
    const b = (buckets[Math.floor((r.at - killAt) / BUCKET_MS)] ??= { n: 0, remote: 0 });
    b.n++;
    if (r.ok && r.backend?.startsWith('b')) b.remote++;
  }
  let k = buckets.length;
  while (k > 0 && buckets[k - 1].remote >= 0.99 * buckets[k - 1].n) k--;
  const failoverMs = k < buckets.length ? k * BUCKET_MS : NaN;
  const first = buckets.slice(0, 5).map((b) => `${Math.round((100 * b.remote) / b.n)}%`).join(' ');
  const soon = records.filter((r) => r.at >= killAt && r.at < killAt + 1_000).map((r) => r.ms);
  // Failback is complete after the last request since the restart that a did not serve itself.
  const after = records.filter((r) => r.at >= restartAt);
  const last = after.findLastIndex((r) => !isLocal(r));
  const allLocalMs = last === after.length - 1 ? NaN : last < 0 ? 0 : after[last].at - restartAt;
  const firstLocal = after.find(isLocal);
  const count = (kind) => events.filter((e) => e.kind === kind).length;
  const sinceKill = (e) => `${e.kind}${e.target ? ` ${e.target}` : ''} +${((Date.parse(e.time) - killEpoch) / 1000).toFixed(2)}`;
  const s = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'not reached before the load stopped');

  console.log(`\n## A: all of a's endpoints of \`hello\` SIGKILLed at once (${RATE} req/s open loop through a; node ${process.version}, ${os.cpus().length} CPUs)\n`);
  console.log('| measure | value |\n|---|---|');
  console.log(`| requests sent | ${records.length} |`);
  console.log(`| failed (non-2xx or error), total | ${failed.length}${kinds.size ? ` (${[...kinds].map(([e, n]) => `${n}× ${e}`).join(', ')})` : ''} |`);
  console.log(`| failed after the kill | ${failed.filter((r) => r.at >= killAt).length} |`);
  console.log(`| kill → ≥ 99 % served by b and staying so (${BUCKET_MS} ms buckets) | ${Number.isFinite(failoverMs) ? `${failoverMs} ms` : 'never'} (first buckets: ${first}) |`);
  console.log(`| latency, requests scheduled in the 1st s after the kill: p50 / p99 / max | ${f0(quantile(soon, 0.5))} / ${f0(quantile(soon, 0.99))} / ${f0(Math.max(...soon))} ms |`);
  console.log(`| restart → first answer from a's backends | ${firstLocal ? s(firstLocal.at - restartAt) : 'never'} |`);
  console.log(`| restart → all traffic local again | ${s(allLocalMs)} |`);
  console.log(`| a's failback phase (/debug/routes), s from the restart | ${phases.map((p) => `${p.phase} ${((p.at - restartAt) / 1000).toFixed(1)}`).join(' → ')}${steady ? '' : ' (never steady)'} |`);
  console.log(`| a's /debug/events for hello, s from the kill | ${events.map(sinceKill).join(', ') || 'none'} |`);
  const [nFo, nFb] = [count('failover'), count('failback')];
  const verdict = (ok) => (ok ? 'met' : 'missed');
  console.log(
    `\nTarget: 0 failed idempotent requests → ${failed.length} failed: ${verdict(failed.length === 0)}; ` +
      `≥ 99 % served remotely within 1 s → ${Number.isFinite(failoverMs) ? `${failoverMs} ms` : 'never'}: ${verdict(failoverMs <= 1_000)}; ` +
      `failback without flapping → ${nFo} failover, ${nFb} failback (expect 1, 1): ${verdict(nFo === 1 && nFb === 1)}`,
  );
}

// ---- scenario C: a slow local endpoint against a fast remote one ---------------------------

/** Forwards to `target`, delaying every chunk coming back by DELAY_MS (order kept: equal timers fire in order). */
function delayProxy(target) {
  const [host, port] = target.split(':');
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ port: Number(port), host, noDelay: true });
    client.pipe(upstream);
    upstream.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), DELAY_MS));
    upstream.on('end', () => setTimeout(() => client.end(), DELAY_MS));
    const kill = () => (client.destroy(), upstream.destroy());
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, addr: `127.0.0.1:${server.address().port}` })));
}

async function scenarioC(ctx) {
  log(`C: backends a1 (behind a ${DELAY_MS} ms delay proxy) and b1; a's hello has failover.order [any]…`);
  const [a1, b1] = await Promise.all([startBackend(ctx, 'a1'), startBackend(ctx, 'b1')]);
  const proxy = await delayProxy(a1.addr);
  const svc = (addr, extra = {}) => ({ hello: { protocol: 'http', endpoints: [addr], healthCheck: HEALTH, export: true, allow: ALLOW, ...extra } });
  const [a, b] = await Promise.all([startFedGateway(ctx, 'fo-c', 'a', svc(proxy.addr, { failover: { order: ['any'] } })), startFedGateway(ctx, 'fo-c', 'b', svc(b1.addr))]);
  await waitHealthy(a, 1);
  log(`C: closed loop of ${C_WORKERS} for ${C_MS / 1000} s through a…`);
  const pool = newPool(a.local, C_WORKERS);
  const [records, t0] = [[], performance.now()];
  const worker = async () => {
    while (performance.now() < t0 + C_MS) {
      const at = performance.now();
      records.push({ at, ...(await one(pool)), ms: performance.now() - at });
    }
  };
  await Promise.all(Array.from({ length: C_WORKERS }, worker));
  await pool.close();
  const routes = await getJson(a, '/debug/routes?service=hello').catch(() => ({}));
  await stopAll(ctx, [a, b, a1, b1]);
  proxy.server.close();

  const sides = [[`local (a1, +${DELAY_MS} ms)`, records.filter((r) => r.ok && isLocal(r))], ['remote (b1)', records.filter((r) => r.ok && r.backend?.startsWith('b'))]];
  const failed = records.filter((r) => !r.ok).length;
  console.log(`\n## C: latency split, a's endpoint ${DELAY_MS} ms slower, order [any] (closed loop, ${C_WORKERS} concurrent, ${C_MS / 1000} s)\n`);
  console.log('| side | requests | share | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|');
  for (const [name, rs] of sides) {
    const ms = rs.map((r) => r.ms);
    console.log(`| ${name} | ${rs.length} | ${((100 * rs.length) / records.length).toFixed(1)} % | ${f0(quantile(ms, 0.5))} | ${f0(quantile(ms, 0.99))} |`);
  }
  if (failed) console.log(`| failed | ${failed} | | | |`);
  // The split second by second shows whether peak-EWMA converges or oscillates.
  const perSecond = [];
  for (const r of records) (perSecond[Math.floor((r.at - t0) / 1000)] ??= []).push(r);
  console.log(`\nlocal share per second: ${perSecond.map((rs) => `${Math.round((100 * rs.filter(isLocal).length) / rs.length)}%`).join(' ')}`);
  const targets = (routes.tiers ?? []).flatMap((t) => t.targets.map((x) => `${t.name}/${x.key} rtt ${x.load?.rttMs?.toFixed?.(1)} ms`));
  console.log(`a's /debug/routes after the run: ${targets.join('; ') || JSON.stringify(routes).slice(0, 200)}`);
  if (sides[1][1].length === 0) console.log(`\nEvery request went local: with order [any], a does not yet weigh its ${DELAY_MS} ms slower endpoint against cluster b.`);
}

// ---- the run -----------------------------------------------------------------------------

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-failover-'));
  const procs = new Processes();
  const cleanup = () => procs.stopAll(() => 3_000).finally(() => rmSync(dir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => (log(`${signal}: stopping`), cleanup().finally(() => process.exit(130))));
  }
  const cap = setTimeout(() => (log(`run cap of ${RUN_CAP_MS / 1000} s reached: stopping`), cleanup().finally(() => process.exit(1))), RUN_CAP_MS);
  try {
    log('making the shared root and one intermediate CA per cluster…');
    await makeSharedRoot(dir, ['a', 'b']);
    const { url: natsUrl } = await startNats(procs, { logFile: path.join(dir, 'nats-server.log'), timeoutMs: START_TIMEOUT_MS });
    // Each scenario has its own federation name (subjects), so that C's gateways never meet A's departed ones.
    await scenarioA({ dir, procs, natsUrl });
    await scenarioC({ dir, procs, natsUrl });
  } finally {
    clearTimeout(cap);
    await cleanup();
  }
}

if (opts.backend) backend(opts.backend, Number(opts.port));
else await main().catch((err) => ((process.exitCode = 1), log(`failover bench failed: ${err.stack ?? err.message}`)));
