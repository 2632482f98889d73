// Proxy cost of one gateway and of the cross-cluster hop, against our target: two gateways
// (mTLS HTTP/2 between them) add ≤ 1 ms p99 over direct at 2,000 req/s.   Run:
//   npm run build && node bench/federation.mjs [--rate 2000] [--seconds 5] [--connections 64]
// The table goes to stdout, progress to stderr.
// Three loopback paths in one run, so that the ratios compare like with like:
//   (a) direct:       load generator → backend (HTTP/1.1)
//   (b) one gateway:  → gateway A's local listener (Host: hello-local, A's own service) → backend
//   (c) two gateways: → A (Host: hello) → mTLS HTTP/2 → gateway B's federation listener → backend;
//                     `hello` is B's alone, exported; A learns of it by gossip over one shared NATS.
// Modes, each after a warm-up in the same mode: "fixed" is an open loop at RATE req/s on a fixed
// timetable, latency measured from each request's *scheduled* time so that a stall is charged to
// every request it delayed (no coordinated omission; the 1 ms timer tick adds ≤ ~1 ms to every
// path alike, which "p99 − (a)" cancels); "saturation" is a closed loop of CONNECTIONS workers.
// 1 KiB bodies read in full, HTTP/1.1 keep-alive, pipelining 1. req/s and percentiles count 2xx
// only; anything else is an error, counted per row. The backend (this file with --backend) runs in
// a child process so that its CPU is not the generator's. All children are stopped on every exit.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ALL_GATEWAYS, gatewayConfig, jsonLine, listening, makeSharedRoot, startGateway, startNats } from './lib/federation.mjs';
import { Processes, readLines } from './lib/processes.mjs';

const SELF = fileURLToPath(import.meta.url);
// Defaults are the target's; a small machine may need --rate below (c)'s saturation to see the hop's cost.
const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    backend: { type: 'boolean' }, // internal: run as the backend child
  },
});
for (const k of ['rate', 'seconds', 'connections']) {
  if (Number(opts[k]) > 0) continue;
  console.error(`--${k} must be a positive number, not ${JSON.stringify(opts[k])}`);
  process.exit(2);
}
const RATE = Number(opts.rate);
const RUN_MS = Number(opts.seconds) * 1000;
const WARMUP_MS = 1_000;
const CONNECTIONS = Number(opts.connections);
const MAX_REQUESTS = 500_000; // per saturation row, whatever the time bound says
const REQUEST_TIMEOUT_MS = 10_000; // undici's head and body timeouts: no request outlives it
const START_TIMEOUT_MS = 20_000;
const ROUTE_WAIT_MS = 30_000; // for gossip to tell A where `hello` is
const log = (line) => process.stderr.write(`${line}\n`);

function backend() {
  const body = Buffer.alloc(1024, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
  });
  server.keepAliveTimeout = 60_000; // outlive the clients' idle pools: they close first
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'backend listening', port: server.address().port })));
}

// ---- load generation ---------------------------------------------------------------------

/** One request; null when it got a 2xx, else what went wrong. */
async function issue(pool, host) {
  try {
    const { statusCode, headers, body } = await pool.request({ path: '/', method: 'GET', headers: { host } });
    await body.arrayBuffer(); // the latency runs to the body's end, as a client sees it
    if (statusCode >= 200 && statusCode < 300) return null;
    return `${statusCode}${headers['meshgate-error'] ? ` ${headers['meshgate-error']}` : ''}`;
  } catch (err) {
    return err.code ?? err.message;
  }
}

const newStats = () => ({ latencies: [], errors: new Map(), t0: performance.now(), end: 0 });

function record(stats, error, ms) {
  if (error === null) stats.latencies.push(ms);
  else stats.errors.set(error, (stats.errors.get(error) ?? 0) + 1);
  stats.end = performance.now();
}

function openLoop(pool, host, ms) {
  const stats = newStats();
  const total = Math.floor((RATE * ms) / 1000);
  let sent = 0;
  let finished = 0;
  return new Promise((resolve) => {
    const tick = () => {
      // Send all that the timetable says is due by now, each timed from its own slot.
      const due = Math.min(total, Math.floor(((performance.now() - stats.t0) * RATE) / 1000) + 1);
      for (; sent < due; sent++) {
        const scheduled = stats.t0 + (sent * 1000) / RATE;
        issue(pool, host).then((error) => {
          record(stats, error, performance.now() - scheduled);
          if (++finished === total) resolve(stats);
        });
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

async function closedLoop(pool, host, ms) {
  const stats = newStats();
  let started = 0;
  const worker = async () => {
    while (performance.now() < stats.t0 + ms && started++ < MAX_REQUESTS) {
      const t = performance.now();
      record(stats, await issue(pool, host), performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return stats;
}

function summarize(stats) {
  const sorted = Float64Array.from(stats.latencies).sort();
  const at = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN);
  const errors = [...stats.errors.values()].reduce((a, b) => a + b, 0);
  const kinds = [...stats.errors].map(([k, n]) => `${n}× ${k}`).join(', ');
  return { rps: sorted.length / (Math.max(stats.end - stats.t0, 1) / 1000), p50: at(0.5), p99: at(0.99), errors, kinds };
}

const MODES = [
  { name: 'fixed', label: `at ${RATE} req/s`, run: openLoop },
  { name: 'saturation', label: `at saturation (${CONNECTIONS} connections)`, run: closedLoop },
];

async function measurePath(id, address, host) {
  const pool = new Pool(`http://${address}`, { connections: CONNECTIONS, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  const rows = [];
  try {
    for (const mode of MODES) {
      log(`warming ${id} ${mode.label}…`);
      await mode.run(pool, host, WARMUP_MS);
      log(`running ${id} ${mode.label}…`);
      // The generator's own event-loop delay: when it is large, it, not the path, made the latency.
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const row = { id, mode: mode.name, ...summarize(await mode.run(pool, host, RUN_MS)) };
      delay.disable();
      log(`  ${row.rps.toFixed(0)} req/s, p99 ${row.p99.toFixed(2)} ms, ${row.errors} errors; generator loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`);
      rows.push(row);
    }
    return rows;
  } finally {
    await pool.close();
  }
}

/** Bounded wait until `host` answers 2xx through `address`: null when it does, else the last answer. */
async function waitForRoute(address, host) {
  const pool = new Pool(`http://${address}`, { connections: 1, headersTimeout: 2_000, bodyTimeout: 2_000 });
  const deadline = performance.now() + ROUTE_WAIT_MS;
  let last = 'no answer';
  try {
    for (let i = 0; performance.now() < deadline; i++) {
      if ((last = await issue(pool, host)) === null) return null;
      if (i % 12 === 0) log(`  ${host} through A: ${last}; waiting ≤ ${Math.round((deadline - performance.now()) / 1000)} s more…`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return last;
  } finally {
    await pool.close();
  }
}

// ---- the run -----------------------------------------------------------------------------

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-bench-'));
  const procs = new Processes();
  const logFile = (name) => path.join(dir, `${name}.log`);
  const cleanup = () => procs.stopAll(() => 3_000).finally(() => rmSync(dir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => (log(`${signal}: stopping`), cleanup().finally(() => process.exit(130))));
  }
  try {
    log('making the shared root and one intermediate CA per cluster…');
    await makeSharedRoot(dir, ['a', 'b']);

    log('starting the backend, nats-server and gateways a and b…');
    const be = procs.start('backend', process.execPath, [SELF, '--backend'], { logFile: logFile('backend') });
    const backendAddr = `127.0.0.1:${jsonLine(await procs.waitForLine(be, (l) => l.includes('backend listening'), 'listening', START_TIMEOUT_MS)).port}`;
    const { url: natsUrl } = await startNats(procs, { logFile: logFile('nats-server'), timeoutMs: START_TIMEOUT_MS });
    const svc = { protocol: 'http', endpoints: [backendAddr] };
    const gateway = async (cluster, services) => {
      const configFile = path.join(dir, `gateway-${cluster}.yaml`);
      writeFileSync(configFile, gatewayConfig({ cluster, natsUrl, caDir: path.join(dir, `ca-${cluster}`), services }));
      const gw = await startGateway(procs, { name: `gateway ${cluster}`, configFile, logFile: logFile(`gateway-${cluster}`), timeoutMs: START_TIMEOUT_MS });
      const fed = readLines(gw.proc.logFile).find(listening('federation'));
      log(`gateway ${cluster}: local ${gw.local}, federation ${fed ? jsonLine(fed).address : '(not listening)'}`);
      return gw.local;
    };
    // A has only `hello-local`: a 2xx for `hello` through A has crossed to B.
    const [a] = await Promise.all([gateway('a', { 'hello-local': svc }), gateway('b', { hello: { ...svc, export: true, allow: [ALL_GATEWAYS] } })]);

    const rows = [...(await measurePath('(a)', backendAddr, 'hello')), ...(await measurePath('(b)', a, 'hello-local'))];
    log('waiting for A to route `hello` to B…');
    const unavailable = await waitForRoute(a, 'hello');
    if (unavailable === null) rows.push(...(await measurePath('(c)', a, 'hello')));
    else log(`(c) unavailable: A still answers ${unavailable} for \`hello\` after ${ROUTE_WAIT_MS / 1000} s`);
    printTable(rows, unavailable);
  } finally {
    await cleanup();
  }
}

function printTable(rows, unavailable) {
  const names = { '(a)': '(a) direct', '(b)': '(b) one gateway', '(c)': '(c) two gateways' };
  const f = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
  const delta = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : '—');
  console.log(
    `\nmeshgate federation bench: 1 KiB bodies, HTTP/1.1 keep-alive, ${CONNECTIONS} connections, ${RUN_MS / 1000} s per row ` +
      `after ${WARMUP_MS / 1000} s warm-up; fixed = open loop at ${RATE} req/s (latency from the scheduled time), ` +
      `saturation = closed loop; node ${process.version}, ${os.cpus().length} CPUs for everything\n`,
  );
  console.log('| path | mode | req/s | p50 ms | p99 ms | errors | req/s ÷ (a) | p99 − (a) ms |\n|---|---|---:|---:|---:|---|---:|---:|');
  for (const r of rows) {
    const base = rows.find((x) => x.id === '(a)' && x.mode === r.mode);
    const errors = r.errors ? `**${r.errors}** (${r.kinds})` : '0';
    console.log(`| ${names[r.id]} | ${r.mode} | ${f(r.rps, 0)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${errors} | ${f(r.rps / base.rps, 2)} | ${delta(r.p99 - base.p99)} |`);
  }
  if (unavailable !== null) console.log(`| ${names['(c)']} | — | unavailable: A answers ${unavailable} for \`hello\` | | | | | |`);
  // An open loop that falls behind its timetable measures queueing, not the path's cost.
  for (const r of rows.filter((x) => x.mode === 'fixed' && x.rps < 0.97 * RATE)) {
    console.log(`\nNote: ${names[r.id]} served ${f(r.rps, 0)} of ${RATE} req/s offered: saturated, so its latency is mostly queueing.`);
  }
  const [a, c] = ['(a)', '(c)'].map((id) => rows.find((r) => r.id === id && r.mode === 'fixed'));
  const verdict = c ? `${delta(c.p99 - a.p99)} ms: ${c.p99 - a.p99 <= 1 && c.errors === 0 ? 'met' : 'missed'}` : 'not measured';
  const at = RATE === 2000 ? '' : ` (the target is set at 2000 req/s; this run offered ${RATE})`;
  console.log(`\nTarget: (c) adds ≤ 1 ms p99 over (a) at 2000 req/s with 0 errors${at} → ${verdict}`);
}

// Last, so that every const above is initialized when main() runs.
if (opts.backend) backend();
else await main().catch((err) => ((process.exitCode = 1), log(`federation bench failed: ${err.message}`)));
