// meshgate's request path against nginx and HAProxy, with the same load tools, in one run:
//   npm run bench:proxy [-- --runs N] [--rows direct,nginx,…] [--duration 10s] [--cpu-prof DIR] [--skip-build]
// Rows (ids for --rows):
//   direct          wrk/hey → nginx backend (1 KiB bodies)
//   nginx           → nginx reverse proxy → backend
//   haproxy         → HAProxy → backend
//   node            → the Node floor: a plain Node proxy on undici's Pool (bench/lib/node-floor.mjs) → backend
//   meshgate        → gateway a's local listener (a's own service) → backend
//   haproxy-2hop    → HAProxy A (HTTP/1.1) → TLS 1.3 + ALPN h2 + client cert → HAProxy B → backend
//   node-2hop       → the Node floor over two hops: plain Node A → mTLS HTTP/2 → plain Node B → backend
//   meshgate-2hop   → gateway a → mTLS HTTP/2 → gateway b's federation listener → backend
// Per row: a check request, a wrk warm-up, hey at a fixed 2,000 req/s (latency), then wrk with 32
// connections on one thread (saturation). The table goes to stdout, progress to stderr; with all the
// rows (and no --cpu-prof) it is also written to docs/benchmarks.md. Every process started here is
// stopped at the end, on failure and on SIGINT/SIGTERM/SIGHUP too.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { ensureTools, runHey, runWrk, toolVersions, UsageError } from './lib/load-tools.mjs';
import { childPids, Processes, readLines, rssKiB, sleep } from './lib/processes.mjs';
import { ALL_GATEWAYS, CLI, gatewayConfig, gatewayNodeOptions, jsonLine, makeSharedRoot, startGateway, startNats } from './lib/federation.mjs';
import { freePorts } from './lib/ports.mjs';
import * as conf from './lib/proxy-configs.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE_FLOOR = fileURLToPath(new URL('./lib/node-floor.mjs', import.meta.url));
const DOC = path.join(ROOT, 'docs/benchmarks.md');

const ROWS = [
  { id: 'direct', label: 'direct to the backend' },
  { id: 'nginx', label: 'nginx as reverse proxy' },
  { id: 'haproxy', label: 'HAProxy' },
  { id: 'node', label: 'Node floor: a plain Node proxy on undici’s Pool' },
  { id: 'meshgate', label: 'meshgate, one gateway (local listener → endpoint)', peers: ['nginx', 'haproxy', 'node'] },
  { id: 'haproxy-2hop', label: 'HAProxy two hops, mTLS HTTP/2 between them (SPIFFE certificates from `meshgate ca`)' },
  { id: 'node-2hop', label: 'Node floor, two hops: plain Node, mTLS HTTP/2 between them (same certificates)' },
  { id: 'meshgate-2hop', label: 'meshgate, two gateways (a → mTLS h2 → b → endpoint)', peers: ['haproxy-2hop', 'node-2hop'] },
];
const NAMES = {
  direct: 'direct', nginx: 'nginx', haproxy: 'HAProxy', node: 'Node floor', meshgate: 'meshgate',
  'haproxy-2hop': 'HAProxy two-hop', 'node-2hop': 'Node two-hop floor', 'meshgate-2hop': 'meshgate two-gateway',
};

const RATE = 2000; // req/s for the latency rows
const RATE_TEXT = RATE.toLocaleString('en');
const HEY_WORKERS = 20; // hey's -q is per worker: 20 × 100 = 2,000 req/s
const WRK_CONNECTIONS = 32;
// Long enough for V8 to finish optimising the request path and grow its young generation: a
// gateway started for the bench serves about 30 % more through two gateways after 12 s of load
// than in its first 5 s, and an operator's gateway has run for days. Every row gets the same.
const WARMUP_S = 10;
const START_TIMEOUT_MS = 30_000;
const ROUTE_TIMEOUT_MS = 30_000; // for gossip to tell a where b's service is
const T0 = performance.now();
const log = (line) => process.stderr.write(`[${String(Math.round((performance.now() - T0) / 1000)).padStart(3)} s] ${line}\n`);

// ---- options -------------------------------------------------------------------------------

function parseOptions() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      rows: { type: 'string', default: ROWS.map((r) => r.id).join(',') },
      duration: { type: 'string', default: '10s' },
      'cpu-prof': { type: 'string' },
      'skip-build': { type: 'boolean', default: false },
      telemetry: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new UsageError(`--runs must be an integer from 1 to 20, not ${JSON.stringify(values.runs)}`);
  const m = /^(\d+)(s|m)?$/.exec(values.duration);
  const seconds = m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : NaN;
  if (!(seconds >= 1 && seconds <= 600)) throw new UsageError(`--duration must be 1s to 10m, like 10s, not ${JSON.stringify(values.duration)}`);
  const ids = values.rows.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !ROWS.some((r) => r.id === id));
  if (unknown.length || ids.length === 0) throw new UsageError(`--rows: unknown ${unknown.join(', ') || '(none given)'}; choose from ${ROWS.map((r) => r.id).join(', ')}`);
  const rows = ROWS.filter((r) => ids.includes(r.id));
  const cpuProf = values['cpu-prof'] ? path.resolve(values['cpu-prof']) : null;
  return { runs, seconds, rows, cpuProf, skipBuild: values['skip-build'], telemetry: values.telemetry, argv: process.argv.slice(2) };
}

// ---- helpers -------------------------------------------------------------------------------

/** One GET: { status, bytes } or { error }. */
function get(address, host, pathname = '/') {
  const [hostname, port] = address.split(':');
  return new Promise((resolve) => {
    const req = http.get({ hostname, port: Number(port), path: pathname, headers: { host }, agent: false, timeout: 2_000 }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length)).on('end', () => resolve({ status: res.statusCode, bytes, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ error: err.code ?? err.message }));
  });
}

const answer = (r) => r.error ?? `${r.status}${r.headers?.['meshgate-error'] ? ` ${r.headers['meshgate-error']}` : ''} (${r.bytes} bytes)`;

/** Bounded wait for a 200 with the full body through `address`. */
async function waitFor200(what, address, host, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let i = 0; Date.now() < deadline; i++) {
    last = await get(address, host);
    if (last.status === 200 && last.bytes === conf.BODY_BYTES) return;
    if (proc?.done) break;
    if (i > 0 && i % 20 === 0) log(`  ${what}: ${answer(last)}; waiting…`);
    await sleep(250);
  }
  const why = proc?.done ? `${proc.name} exited (${proc.how}; see ${proc.logFile})` : `not within ${timeoutMs / 1000} s`;
  throw new Error(`${what}: no 200 with ${conf.BODY_BYTES} bytes through ${address}: ${why}; last answer ${answer(last ?? {})}`);
}


function machineFacts() {
  const model = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // keep Node's count
  }
  return { nproc, model, kernel: `${os.type()} ${os.release()}`, memGiB: (os.totalmem() / 2 ** 30).toFixed(1) };
}

// ---- setting up the paths ------------------------------------------------------------------

class Bench {
  constructor(opts, tools) {
    this.opts = opts;
    this.tools = tools;
    this.procs = new Processes();
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-bench-proxy-'));
    // nginx's worker runs as `nobody` when started by root: it must read the body file.
    chmodSync(this.dir, 0o755);
    this.targets = {}; // row id → { address, host }
    this.rss = {}; // label → pid, read after the run
  }

  has(...ids) {
    return this.opts.rows.some((r) => ids.includes(r.id));
  }

  async cli(...args) {
    await promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 60_000 });
  }

  file(name, text) {
    const f = path.join(this.dir, name);
    writeFileSync(f, text);
    return f;
  }

  logFile(name) {
    return path.join(this.dir, `${name}.log`);
  }

  async nginx(name, config) {
    const file = this.file(`${name}.conf`, config);
    mkdirSync(path.join(this.dir, `${name}-tmp`), { mode: 0o755 }); // nginx makes only the last level of its temp paths
    const args = ['-p', this.dir, '-c', file, '-e', path.join(this.dir, `${name}.error.log`), '-g', 'daemon off;'];
    return this.procs.start(name, this.tools.nginx, args, { logFile: this.logFile(name) });
  }

  haproxy(name, config) {
    const file = this.file(`${name}.cfg`, config);
    return this.procs.start(name, this.tools.haproxy, ['-db', '-f', file], { logFile: this.logFile(name) });
  }

  async setUp() {
    const [backendPort, nginxPort, haproxyPort, hopAPort, hopBPort, floorPort, floorAPort, floorBPort] = await freePorts(8);
    const backend = `127.0.0.1:${backendPort}`;
    mkdirSync(path.join(this.dir, 'www'), { mode: 0o755 });
    writeFileSync(path.join(this.dir, 'www/body.txt'), Buffer.alloc(conf.BODY_BYTES, 'x'));
    chmodSync(path.join(this.dir, 'www/body.txt'), 0o644);

    log('starting the nginx backend…');
    const be = await this.nginx('backend', conf.nginxBackend(this.dir, backendPort));
    await waitFor200('backend', backend, 'hello', START_TIMEOUT_MS, be);
    this.targets.direct = { address: backend, host: 'hello' };

    if (this.has('nginx')) {
      log('starting nginx as reverse proxy…');
      const p = await this.nginx('nginx-proxy', conf.nginxProxy(this.dir, nginxPort, backendPort));
      await waitFor200('nginx proxy', `127.0.0.1:${nginxPort}`, 'hello', START_TIMEOUT_MS, p);
      this.targets.nginx = { address: `127.0.0.1:${nginxPort}`, host: 'hello' };
      this.rss['nginx proxy (worker)'] = () => childPids(p.pid)[0];
    }
    if (this.has('haproxy')) {
      log('starting HAProxy…');
      const p = this.haproxy('haproxy', conf.haproxy(haproxyPort, backendPort));
      await waitFor200('HAProxy', `127.0.0.1:${haproxyPort}`, 'hello', START_TIMEOUT_MS, p);
      this.targets.haproxy = { address: `127.0.0.1:${haproxyPort}`, host: 'hello' };
      this.rss.HAProxy = () => p.pid;
    }
    if (this.has('node')) {
      log('starting the Node floor (a plain Node proxy)…');
      const p = await this.nodeFloor('node-floor', ['one', `127.0.0.1:${floorPort}`, backend]);
      await waitFor200('Node floor', `127.0.0.1:${floorPort}`, 'hello', START_TIMEOUT_MS, p);
      this.targets.node = { address: `127.0.0.1:${floorPort}`, host: 'hello' };
      this.rss['Node floor'] = () => p.pid;
    }
    if (this.has('haproxy-2hop', 'node-2hop', 'meshgate', 'meshgate-2hop')) {
      // The shared-root model (docs/architecture.md, Identity), as meshgate's gateways use: one root, one intermediate per cluster.
      log('making the shared root and one intermediate CA per cluster (meshgate ca init)…');
      await makeSharedRoot(this.dir, ['a', 'b']);
    }
    if (this.has('haproxy-2hop')) {
      log('issuing SVIDs for HAProxy A and B (meshgate ca issue) and starting them…');
      const tls = {};
      await Promise.all(['a', 'b'].map(async (c) => {
        const out = await this.svid(c, 'haproxy');
        // HAProxy wants the certificate chain and the key in one file; it trusts the root from the bundle.
        const pem = readFileSync(path.join(out, 'svid.pem'), 'utf8') + readFileSync(path.join(out, 'svid.key'), 'utf8');
        tls[c] = { certKeyPem: this.file(`haproxy-${c}.pem`, pem), caFile: path.join(out, 'bundle.pem') };
      }));
      const b = this.haproxy('haproxy-b', conf.haproxyHopB(hopBPort, backendPort, tls.b));
      const a = this.haproxy('haproxy-a', conf.haproxyHopA(hopAPort, hopBPort, tls.a));
      await waitFor200('HAProxy two-hop', `127.0.0.1:${hopAPort}`, 'hello', START_TIMEOUT_MS, a);
      if (b.done) throw new Error(`haproxy-b exited (${b.how}); see ${b.logFile}`);
      this.targets['haproxy-2hop'] = { address: `127.0.0.1:${hopAPort}`, host: 'hello' };
      this.rss['HAProxy A'] = () => a.pid;
      this.rss['HAProxy B'] = () => b.pid;
    }
    if (this.has('node-2hop')) {
      log('issuing SVIDs for the Node floor’s hops A and B (meshgate ca issue) and starting them…');
      const [svidA, svidB] = await Promise.all([this.svid('a', 'node-floor'), this.svid('b', 'node-floor')]);
      const b = await this.nodeFloor('node-floor-b', ['hop-b', `127.0.0.1:${floorBPort}`, backend, svidB]);
      const a = await this.nodeFloor('node-floor-a', ['hop-a', `127.0.0.1:${floorAPort}`, `127.0.0.1:${floorBPort}`, svidA]);
      await waitFor200('Node two-hop floor', `127.0.0.1:${floorAPort}`, 'hello', START_TIMEOUT_MS, a);
      this.targets['node-2hop'] = { address: `127.0.0.1:${floorAPort}`, host: 'hello' };
      this.rss['Node floor A'] = () => a.pid;
      this.rss['Node floor B'] = () => b.pid;
    }
    if (this.has('meshgate', 'meshgate-2hop')) await this.setUpGateways(backend);
  }

  /** An X509-SVID of `cluster`'s intermediate for `workload`, from `meshgate ca issue`: its folder. */
  async svid(cluster, workload) {
    const out = path.join(this.dir, `svid-${workload}-${cluster}`);
    await this.cli('ca', 'issue', '--ca', path.join(this.dir, `ca-${cluster}`), '--spiffe-id', `spiffe://${cluster}.test.example/bench/${workload}`, '--out', out);
    return out;
  }

  /** A Node floor process, with the gateway's Node options: only meshgate's own work differs. */
  async nodeFloor(name, args) {
    const p = this.procs.start(name, process.execPath, [...(await gatewayNodeOptions()), NODE_FLOOR, ...args], { logFile: this.logFile(name) });
    await this.procs.waitForLine(p, (l) => l.includes('listening'), '"listening"', START_TIMEOUT_MS);
    return p;
  }

  async setUpGateways(backend) {
    if (this.opts.telemetry) this.telemetry = { otlpEndpoint: await this.otlpSink(), traceSampling: 0.01 };
    log(`starting nats-server and gateways a and b${this.telemetry ? `, exporting traces (1 %) and metrics to ${this.telemetry.otlpEndpoint}` : ''}…`);
    const { url: natsUrl } = await startNats(this.procs, { logFile: this.logFile('nats-server'), bin: this.tools['nats-server'], timeoutMs: START_TIMEOUT_MS });
    const svc = { protocol: 'http', endpoints: [backend] };
    // a has only `hello-local`, so a 200 for `hello` through a has come from b.
    const [a, b] = await Promise.all([
      this.gateway('a', natsUrl, { 'hello-local': svc }),
      this.gateway('b', natsUrl, { hello: { ...svc, export: true, allow: [ALL_GATEWAYS] } }),
    ]);
    this.gatewayLogs = { a: a.proc.logFile, b: b.proc.logFile };
    this.rss['meshgate a'] = () => a.proc.pid;
    this.rss['meshgate b'] = () => b.proc.pid;
    await waitFor200('meshgate a (own service)', a.local, 'hello-local', START_TIMEOUT_MS, a.proc);
    this.targets.meshgate = { address: a.local, host: 'hello-local' };
    if (this.has('meshgate-2hop')) {
      log('waiting for a to see b’s `hello` and to route to it…');
      await this.waitForRemoteService(a, 'hello', 'b');
      await waitFor200('meshgate a → b', a.local, 'hello', ROUTE_TIMEOUT_MS, a.proc);
      this.targets['meshgate-2hop'] = { address: a.local, host: 'hello' };
    }
  }

  /** A collector's OTLP/HTTP receiver that takes everything and keeps nothing but counts, for --telemetry. */
  async otlpSink() {
    this.otlpPosts = { traces: 0, metrics: 0 };
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/v1/traces') this.otlpPosts.traces++;
        if (req.url === '/v1/metrics') this.otlpPosts.metrics++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.closeSink = () => new Promise((resolve) => server.close(resolve));
    return `http://127.0.0.1:${server.address().port}`;
  }

  async gateway(cluster, natsUrl, services) {
    const config = gatewayConfig({ cluster, natsUrl, caDir: path.join(this.dir, `ca-${cluster}`), services, telemetry: this.telemetry });
    const configFile = this.file(`gateway-${cluster}.yaml`, config);
    const node = this.opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', this.opts.cpuProf, '--cpu-prof-name', `gateway-${cluster}-${Date.now()}.cpuprofile`] : [];
    const { proc, local, admin } = await startGateway(this.procs, { name: `gateway ${cluster}`, configFile, logFile: this.logFile(`gateway-${cluster}`), node, timeoutMs: START_TIMEOUT_MS });
    log(`  gateway ${cluster}: local ${local}, admin ${admin}, log ${proc.logFile}`);
    return { proc, local, admin };
  }

  /** Bounded wait until `viewer`'s /debug/services shows `service` in `cluster`, fresh and healthy. */
  async waitForRemoteService(viewer, service, cluster) {
    const deadline = Date.now() + ROUTE_TIMEOUT_MS;
    let last = 'no answer';
    while (Date.now() < deadline && !viewer.proc.done) {
      try {
        const view = await (await fetch(`http://${viewer.admin}/debug/services`, { signal: AbortSignal.timeout(2_000) })).json();
        const entry = view.services?.[service]?.[cluster];
        if (entry && !entry.stale && entry.healthy > 0) return;
        last = JSON.stringify(entry ?? null);
      } catch (err) {
        last = err.message;
      }
      await sleep(250);
    }
    throw new Error(`gateway a does not see a healthy, fresh ${service} in ${cluster} after ${ROUTE_TIMEOUT_MS / 1000} s: ${last}`);
  }

  // ---- measuring -----------------------------------------------------------------------------

  async measure(row) {
    const { address, host } = this.targets[row.id];
    const url = `http://${address}/`;
    const check = await get(address, host);
    if (check.status !== 200 || check.bytes !== conf.BODY_BYTES) throw new Error(`${row.id}: the check request got ${answer(check)}`);
    const { wrk, hey } = this.tools;
    const seconds = this.opts.seconds;
    log(`${row.id}: warm-up ${WARMUP_S} s, hey at ${RATE} req/s for ${seconds} s, wrk ${WRK_CONNECTIONS} connections for ${seconds} s…`);
    await runWrk(this.procs, wrk, { url, host, connections: WRK_CONNECTIONS, seconds: WARMUP_S });
    const fixed = await runHey(this.procs, hey, { url, host, rate: RATE, workers: HEY_WORKERS, seconds });
    const sat = await runWrk(this.procs, wrk, { url, host, connections: WRK_CONNECTIONS, seconds });
    const result = { id: row.id, rps: sat.rps, satP99: sat.p99, p50: fixed.p50, p99: fixed.p99, achieved: fixed.rps, wrkErrors: sat.errors, wrkKinds: sat.kinds, heyErrors: fixed.errors, heyKinds: fixed.kinds };
    log(`  ${f(result.rps, 0)} req/s at saturation (wrk p99 ${f(sat.p99, 2)} ms); at ${RATE}: p50 ${f(result.p50, 2)} ms, p99 ${f(result.p99, 2)} ms, achieved ${f(result.achieved, 0)} req/s; errors wrk ${sat.errors}, hey ${fixed.errors}`);
    return result;
  }

  readRss() {
    const out = [];
    for (const [label, pidOf] of Object.entries(this.rss)) {
      const kib = rssKiB(pidOf());
      if (Number.isFinite(kib)) out.push(`${label} ${(kib / 1024).toFixed(0)} MiB`);
    }
    return out;
  }

  /** Per gateway, its warn/error log lines by message: a gateway that complained under load should say so. */
  gatewayComplaints() {
    return Object.entries(this.gatewayLogs ?? {}).map(([cluster, file]) => {
      const counts = new Map();
      for (const line of readLines(file)) {
        const { level, msg } = jsonLine(line);
        if (['warn', 'error', 'fatal'].includes(level)) counts.set(`${level} "${msg}"`, (counts.get(`${level} "${msg}"`) ?? 0) + 1);
      }
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      return `${cluster} ${total}${total ? ` (${[...counts].map(([k, n]) => `${n}× ${k}`).join(', ')})` : ''}`;
    });
  }

  /** Once, whoever asks first (the run's end or a signal). */
  tearDown({ keep }) {
    this.stopped ??= (async () => {
      // A gateway profiling its CPU writes the profile on exit: give it time to drain and write.
      await this.procs.stopAll((p) => (p.isGateway ? 15_000 : 5_000));
      await this.closeSink?.();
      if (keep) log(`logs and configs kept in ${this.dir}`);
      else rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }
}

// ---- the report ----------------------------------------------------------------------------

const f = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const signed = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(1)}` : '—'); // hey's resolution is 0.1 ms

function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Per row the median of each figure over the runs; errors add up. */
function medians(runs) {
  return Object.keys(runs[0]).reduce((acc, id) => {
    const rs = runs.map((r) => r[id]);
    const m = (k) => median(rs.map((r) => r[k]));
    const kinds = (k) => rs.map((r) => r[k]).filter(Boolean).join('; ');
    acc[id] = {
      id, rps: m('rps'), satP99: m('satP99'), p50: m('p50'), p99: m('p99'), achieved: m('achieved'),
      wrkErrors: rs.reduce((a, r) => a + r.wrkErrors, 0), wrkKinds: kinds('wrkKinds'),
      heyErrors: rs.reduce((a, r) => a + r.heyErrors, 0), heyKinds: kinds('heyKinds'),
    };
    return acc;
  }, {});
}

function table(results, rows) {
  const direct = results.direct;
  const lines = [
    `| path | req/s at saturation | ÷ direct | ratio to peer | p50 ms at ${RATE_TEXT} req/s | p99 ms at ${RATE_TEXT} req/s | p99 over direct, ms | achieved req/s | errors |`,
    '|---|---:|---:|---|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const r = results[row.id];
    const peers = (row.peers ?? []).filter((p) => results[p]).map((p) => `÷ ${NAMES[p]} ${f(r.rps / results[p].rps, 2)}`).join(', ');
    const errors = r.wrkErrors + r.heyErrors;
    const errCell = errors === 0 ? '0' : `**⚠ ${errors}**: ${[r.wrkErrors ? `wrk ${r.wrkKinds}` : '', r.heyErrors ? `hey ${r.heyKinds}` : ''].filter(Boolean).join('; ')}`;
    const label = errors === 0 ? row.label : `⚠ ${row.label}`;
    const overDirect = direct && row.id !== 'direct' ? signed(r.p99 - direct.p99) : '';
    const ratio = direct && row.id !== 'direct' ? f(r.rps / direct.rps, 2) : '';
    lines.push(`| ${label} | ${f(r.rps, 0)} | ${ratio} | ${peers} | ${f(r.p50, 1)} | ${f(r.p99, 1)} | ${overDirect} | ${f(r.achieved, 0)} | ${errCell} |`);
  }
  // hey's workers each wait for their response, so a path slower than 1/(rate per worker) falls behind.
  const short = rows.map((row) => results[row.id]).filter((r) => r.achieved < 0.97 * RATE);
  const saturated = short.filter((r) => r.rps < RATE);
  const notes = saturated.map((r) => `${NAMES[r.id]} saturates below ${RATE_TEXT} req/s (${f(r.rps, 0)} with wrk), so hey achieved ${f(r.achieved, 0)}: its latency at ${RATE_TEXT} req/s is mostly queueing.`);
  const behind = short.filter((r) => !saturated.includes(r));
  if (behind.length) {
    notes.push(`hey fell short of ${RATE_TEXT} req/s on ${behind.map((r) => `${NAMES[r.id]} (${f(r.achieved, 0)})`).join(', ')} although wrk saturates these paths above it: its workers wait for each response and the shared machine delays their timers.`);
  }
  return { text: lines.join('\n'), notes };
}

function methodText(opts) {
  const s = opts.seconds;
  return `- All on loopback, ports chosen free at run time; the configs are generated in a temp directory.
- Backend: nginx (one worker, \`worker_processes 1\`, access log off) serving a 1 KiB file for every path.
- Proxies: nginx (\`worker_processes 1\`, upstream keep-alive), HAProxy 2.x (\`nbthread 1\`, one process per hop),
  meshgate (one \`node dist/cli.js run\` process per gateway with the Node options \`meshgate\` starts with,
  \`--max-semi-space-size=8\`; logs at their default level to a file).
  None writes an access log: meshgate has none, so the others are not charged for one.
  nginx's and the backend's \`keepalive_requests\` are raised so that no row reconnects every 1,000 requests.
- HAProxy two-hop: A takes HTTP/1.1 and forwards over TLS 1.3 with ALPN h2 and a client certificate to B,
  which requires and verifies it (\`verify required\`) and forwards HTTP/1.1 to the backend. Certificates are
  X509-SVIDs from \`meshgate ca init\`/\`ca issue\` at run time: one shared root and one intermediate per cluster,
  as meshgate's two gateways use; both sides verify the chain against the root (\`bundle.pem\`); host names are
  not checked (no \`sni\` or \`verifyhost\` on A's server line), since SPIFFE certificates carry a URI SAN and no DNS name.
- Node floor: \`bench/lib/node-floor.mjs\`, the least a Node proxy does on the same paths, through the same Node
  modules and undici and with the gateway's Node options: one hop is \`http.createServer\` → undici \`Pool.request\` →
  backend; two hops are that server → \`http2.connect\` over TLS 1.3 with a client certificate → \`http2.createSecureServer\`
  (\`requestCert\`, \`rejectUnauthorized\`) → undici → backend, with SVIDs from \`meshgate ca issue\`. No routing,
  identity, retries, limits, membership or logging: what meshgate serves below it is meshgate's own work.
- meshgate: gateways a and b on one nats-server (membership), identity from the same CA folders. The one-gateway
  row goes to a's own service \`hello-local\` (a → backend); the two-gateway row asks a for \`hello\`, which only b
  has and exports, so it crosses a → mTLS HTTP/2 → b → backend. Before loading, each gateway logged "ready", a's
  \`/debug/services\` showed b's \`hello\` healthy, and a request for it through a answered 200 with the full body.
- Per row, in order: one check request, a ${WARMUP_S} s wrk warm-up, then **latency**: \`hey -c ${HEY_WORKERS} -q ${RATE / HEY_WORKERS} -z ${s}s -cpus 1\`
  (hey's \`-q\` is per worker: ${HEY_WORKERS} × ${RATE / HEY_WORKERS} = ${RATE_TEXT} req/s; \`-cpus 1\` like wrk's one thread), p50/p99 and the achieved rate as hey reports them
  (hey prints latencies to 0.1 ms; each worker waits for its response, so a stall delays that worker's next
  requests rather than being charged to them), then **saturation**: \`wrk -t1 -c${WRK_CONNECTIONS} -d${s}s\`, its Requests/sec.
- Errors: wrk's "Non-2xx or 3xx responses" and "Socket errors", and every non-2xx status and error in hey's
  distributions. A row with any is flagged ⚠.
- "÷ direct" and "ratio to peer" divide req/s at saturation; "p99 over direct" subtracts direct's p99 at ${RATE_TEXT} req/s.
- Every process is started before the first row and runs to the end; each row loads one path while the others idle
  (the gateways keep gossiping). The load generators, the backend and the proxies share the machine's CPUs; nothing is pinned. With \`--runs N\`
  the runs are interleaved (every row once per run) and the table shows each figure's median.`;
}

function report({ opts, runs, facts, versions, rss, complaints, started, load }) {
  const final = runs.length === 1 ? runs[0] : medians(runs);
  const main = table(final, opts.rows);
  const perRun = runs.length > 1 ? runs.map((r, i) => `Run ${i + 1}:\n\n${table(r, opts.rows).text}`).join('\n\n') : '';
  const command = `npm run bench:proxy${opts.argv.length ? ` -- ${opts.argv.join(' ')}` : ''}`;
  const what = runs.length > 1 ? `Medians of ${runs.length} runs` : 'One run';
  const notes = [
    ...main.notes,
    rss.length ? `RSS after the run (VmRSS): ${rss.join(', ')}.` : '',
    complaints.length ? `Gateway log lines at warn or above during the run: ${complaints.join('; ')}.` : '',
  ].filter(Boolean);
  const md = `# Benchmarks

This file is written by \`npm run bench:proxy\` (bench/proxy.mjs). Other benches print their tables: see the README.

## The request path against nginx and HAProxy

${what}, ${started.toISOString().slice(0, 10)} (\`${command}\`). The machine is shared with other work, so
the figures are indicative: compare rows of one run, not runs of different days.

- Machine: ${facts.nproc} CPUs (nproc), ${facts.model}, ${facts.memGiB} GiB, ${facts.kernel}; load average ${load.before} before, ${load.after} after.
- Tools: ${Object.entries(versions).map(([k, v]) => `${k} \`${v}\``).join(', ')}.

${main.text}
${notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}${perRun ? `\n${perRun}\n` : ''}
### Method

${methodText(opts)}
`;
  return { md, console: `\n${main.text}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}${perRun ? `\n${perRun}\n` : ''}` };
}

// ---- the run -------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions();
  const needs = { nginx: 'nginx-light', wrk: 'wrk', hey: 'hey' };
  if (opts.rows.some((r) => r.id.startsWith('haproxy'))) needs.haproxy = 'haproxy';
  if (opts.rows.some((r) => r.id.startsWith('meshgate'))) needs['nats-server'] = 'nats-server';
  const tools = ensureTools(needs, log);
  // The Node floor rows run with the gateway's Node options, which come from the build.
  const needsCli = opts.rows.some((r) => ['node', 'haproxy-2hop', 'node-2hop', 'meshgate', 'meshgate-2hop'].includes(r.id));
  if (needsCli && !opts.skipBuild) {
    log('building (npm run build)…');
    try {
      await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 300_000, maxBuffer: 64 * 2 ** 20 });
    } catch (err) {
      throw new Error(`npm run build failed:\n${`${err.stdout ?? ''}${err.stderr ?? ''}`.slice(-4000)}`);
    }
  }
  if (needsCli && !existsSync(CLI)) throw new UsageError(`${path.relative(ROOT, CLI)} is missing: run 'npm run build' (or drop --skip-build)`);
  if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });
  const perRunS = opts.rows.length * (WARMUP_S + 2 * opts.seconds + 1);
  log(`${opts.rows.length} rows × ${opts.runs} run(s): about ${Math.ceil((perRunS * opts.runs) / 60)} min of load after set-up`);

  const started = new Date();
  const load = { before: os.loadavg().map((x) => x.toFixed(2)).join(' ') };
  const bench = new Bench(opts, tools);
  let failed = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      log(`${signal}: stopping every process started here…`);
      bench.tearDown({ keep: true }).finally(() => process.exit(130));
    });
  }
  try {
    await bench.setUp();
    const runs = [];
    for (let i = 0; i < opts.runs; i++) {
      if (opts.runs > 1) log(`-- run ${i + 1} of ${opts.runs}`);
      const results = {};
      for (const row of opts.rows) results[row.id] = await bench.measure(row);
      runs.push(results);
    }
    const rss = bench.readRss();
    const complaints = bench.gatewayComplaints();
    load.after = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const versions = toolVersions(tools);
    const out = report({ opts, runs, facts: machineFacts(), versions, rss, complaints, started, load });
    console.log(out.console);
    if (bench.otlpPosts) log(`OTLP posts received: ${bench.otlpPosts.traces} of traces, ${bench.otlpPosts.metrics} of metrics`);
    if (opts.rows.length === ROWS.length && !opts.cpuProf && !opts.telemetry) {
      mkdirSync(path.dirname(DOC), { recursive: true });
      // The proxy figures replace the file up to the sections other benches keep in it.
      const previous = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
      const kept = previous.indexOf('\n## Membership');
      writeFileSync(DOC, kept >= 0 ? `${out.md.trimEnd()}\n${previous.slice(kept)}` : out.md);
      log(`written to ${path.relative(process.cwd(), DOC) || DOC}`);
    } else {
      log(`${path.relative(ROOT, DOC)} not written: only with all the rows and without --cpu-prof or --telemetry`);
    }
    if (opts.cpuProf) log(`CPU profiles of the gateways go to ${opts.cpuProf} when they exit`);
    failed = false;
  } finally {
    await bench.tearDown({ keep: failed });
  }
}

await main().catch((err) => {
  process.exitCode = err instanceof UsageError ? 2 : 1;
  log(`proxy bench failed: ${err.message}`);
});
