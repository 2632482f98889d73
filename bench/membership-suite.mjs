// The membership figures the README and docs/benchmarks.md quote, in one run:
// bench/membership.mjs run several times, one configuration each, its progress
// shown as it goes, its figures (--json) gathered into two tables at the end.
//
//   npm run build && node bench/membership-suite.mjs [--out DIR] [--only detect-3,scenarios-20,...]
//
// Runs (each a separate bench/membership.mjs process with its own NATS super-cluster):
//   detect-3       3 members, one victim SIGKILLed; repeated (--repeat-3, default 4) since
//                  one kill gives 2 observations; the first repeat also has a steady window;
//   scenarios-20   20 members, default settings: steady window, then the faults, each its
//                  own false-death window: (a) NATS gateway link us-east↔ap-south blackholed
//                  20 s (links through the bench's fault proxies, server pings 1 s), (b) the
//                  eu-west NATS server restarted (down 1 s), (c) one member SIGSTOPped 300 ms
//                  every 1 s for 60 s, (e) three event-loop stalls of 2 s (one per victim);
//                  then detection (3 victims SIGKILLed);
//   startup-100    100 members started at once ((d): false deaths while they start), steady
//                  window, detection;
//   grid-P-M       20 members at probe interval P ms and suspicionMult M, for P in
//                  {1000, 500, 250} and M in {4, 3} (500/4 is scenarios-20's): a pause window
//                  (--grid-pause s, default 30, 300 ms every 1 s), three 2 s stalls, a 10 s
//                  steady window (messages per member per second at that setting), detection.
// Each run's own table and diagnostics go to DIR/<run>.txt (DIR: --out, default a new folder
// under the system's temp dir), its summary to DIR/<run>.json; the two tables at the end are
// also written as Markdown to DIR/summary.md.
//
// The machine's load matters: the members of a run share 2 cores with whatever else runs.
// Each run's header and the final tables show the load average and, where the kernel has
// it, the share of time some task waited for a CPU (PSI).
//
// Bounded: each run has a --timeout (the bench's own hard stop); the suite has --timeout
// (default 1200 s) after which the run in progress is stopped and what was measured printed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BENCH = fileURLToPath(new URL('./membership.mjs', import.meta.url));
const TARGETS = { detectSmallMs: 3_000, detect100Ms: 5_000 };

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    only: { type: 'string' },
    'repeat-3': { type: 'string', default: '4' },
    'grid-pause': { type: 'string', default: '30' },
    steady: { type: 'string', default: '15' },
    timeout: { type: 'string', default: '1200' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (args.help) {
  console.log('node bench/membership-suite.mjs [--out DIR] [--only RUN,RUN] [--repeat-3 4] [--grid-pause 30] [--steady 15] [--timeout 1200]\n(see the comment at the top of this file)');
  process.exit(0);
}
const int = (name, min) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
  return n;
};
const repeat3 = int('repeat-3', 1);
const gridPause = int('grid-pause', 0);
const steady = int('steady', 1);
const suiteTimeoutMs = int('timeout', 60) * 1000;

const common = ['--changes', '0', '--settle', '5'];
const faults20 = (pauseS) => ['--pause-window', String(pauseS), '--pause-ms', '300', '--pause-every', '1000', '--stalls', '3', '--stall-ms', '2000'];
const RUNS = [];
for (let i = 1; i <= repeat3; i++) {
  RUNS.push({ name: `detect-3${repeat3 > 1 ? `#${i}` : ''}`, group: 'detect-3', args: ['--members', '3', '--victims', '1', '--steady', i === 1 ? String(steady) : '0', '--pause-window', '0', ...common], timeoutS: 150 });
}
RUNS.push({
  name: 'scenarios-20',
  group: 'scenarios-20',
  args: ['--members', '20', '--steady', String(steady), '--blackhole', '20', '--nats-restart', ...faults20(60), ...common],
  timeoutS: 420,
  grid: { probe: 500, mult: 4 },
});
RUNS.push({ name: 'startup-100', group: 'startup-100', args: ['--members', '100', '--steady', String(steady), '--pause-window', '0', ...common], timeoutS: 360 });
for (const probe of [1000, 500, 250]) {
  for (const mult of [4, 3]) {
    if (probe === 500 && mult === 4) continue; // the defaults: scenarios-20
    RUNS.push({
      name: `grid-${probe}-${mult}`,
      group: 'grid',
      args: ['--members', '20', '--steady', '10', '--probe-interval', String(probe), '--suspicion-mult', String(mult), ...faults20(gridPause), ...common],
      timeoutS: 300,
      grid: { probe, mult },
    });
  }
}
const only = args.only?.split(',').map((s) => s.trim());
const selected = only ? RUNS.filter((r) => only.includes(r.name) || only.includes(r.group)) : RUNS;
if (selected.length === 0) {
  console.error(`--only matched no run; runs: ${RUNS.map((r) => r.name).join(', ')}`);
  process.exit(2);
}

const outDir = args.out ?? mkdtempSync(path.join(os.tmpdir(), 'meshgate-membership-suite-'));
mkdirSync(outDir, { recursive: true });
const suiteStart = Date.now();
const log = (msg) => console.error(`[suite ${((Date.now() - suiteStart) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
const results = new Map();
let current;
let stopping = false;

const stop = (why, code) => {
  if (stopping) return;
  stopping = true;
  log(why);
  // The bench stops its own children (NATS, workers) on SIGTERM and prints what it measured.
  if (current && current.exitCode === null) current.kill('SIGTERM');
  setTimeout(() => {
    report();
    process.exit(code);
  }, current ? 3_000 : 0);
};
process.on('SIGINT', () => stop('interrupted (SIGINT)', 130));
process.on('SIGTERM', () => stop('terminated (SIGTERM)', 143));
setTimeout(() => stop(`suite timeout of ${suiteTimeoutMs / 1000} s reached`, 1), suiteTimeoutMs).unref();

log(`${selected.length} runs: ${selected.map((r) => r.name).join(', ')}; output in ${outDir}`);
log(`machine: ${os.cpus().length} CPUs, ${describeLoad(machineLoad())}`);
for (const run of selected) {
  if (stopping) break;
  const jsonFile = path.join(outDir, `${run.name.replace('#', '-')}.json`);
  const txtFile = path.join(outDir, `${run.name.replace('#', '-')}.txt`);
  const argv = [BENCH, ...run.args, '--timeout', String(run.timeoutS), '--json', jsonFile];
  log(`run ${run.name}: node bench/membership.mjs ${run.args.join(' ')} (${describeLoad(machineLoad())})`);
  const t = Date.now();
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    const txt = createWriteStream(txtFile);
    child.stdout.pipe(txt);
    // The bench's progress lines, prefixed with the run's name.
    let partialLine = '';
    child.stderr.on('data', (chunk) => {
      const lines = (partialLine + chunk.toString()).split('\n');
      partialLine = lines.pop();
      for (const line of lines) {
        txt.write(`${line}\n`);
        if (line.trim()) console.error(`  ${run.name} ${line}`);
      }
    });
    child.on('exit', (c, signal) => resolve(c ?? signal));
  });
  current = undefined;
  let summary;
  try {
    summary = JSON.parse(readFileSync(jsonFile, 'utf8'));
  } catch {
    summary = undefined;
  }
  results.set(run.name, { run, code, summary, seconds: (Date.now() - t) / 1000 });
  log(`run ${run.name} done in ${((Date.now() - t) / 1000).toFixed(0)} s (exit ${code}): ${summary ? oneLine(summary) : 'no summary'}`);
}
if (!stopping) {
  report();
  process.exit(0);
}

// =============================================================================

function oneLine(s) {
  const fd = s.falseDeaths;
  return (
    `detection p50 ${fmtMs(s.detection.p50)} p99 ${fmtMs(s.detection.p99)} (${s.detection.n} obs${s.detection.missing ? `, ${s.detection.missing} never` : ''}); ` +
    `false deaths ${Object.entries(fd)
      .map(([w, x]) => `${w} ${x.verdicts}`)
      .join(', ')}` +
    (s.steady ? `; ${s.steady.sentPerMemberS.toFixed(2)} msgs/s, ${fmtBytes(s.steady.bytesSentPerMemberS)}/s sent per member` : '')
  );
}

function machineLoad() {
  let psi;
  try {
    psi = Number(/avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1]);
  } catch {
    // no PSI here
  }
  return { loadavg1: os.loadavg()[0], cpuPressurePct: Number.isFinite(psi) ? psi : undefined };
}

function describeLoad(l) {
  return `load ${l.loadavg1.toFixed(1)}${l.cpuPressurePct !== undefined ? `, CPU pressure ${l.cpuPressurePct.toFixed(0)} %` : ''}`;
}

function fmtMs(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function fmtBytes(n) {
  return n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n)} B`;
}

/** Detection figures over the runs of a group (detect-3 is several runs). */
function detectionOf(group) {
  const runs = [...results.values()].filter((r) => r.run.group === group && r.summary);
  if (runs.length === 0) return undefined;
  const kills = runs.flatMap((r) => r.summary.detection.kills);
  const times = runs.flatMap((r) => r.summary.detection.times).sort((a, b) => a - b);
  return {
    n: times.length,
    missing: runs.reduce((sum, r) => sum + r.summary.detection.missing, 0),
    p50: pct(times, 0.5),
    p99: pct(times, 0.99),
    worstEverywhere: Math.max(...kills.map((k) => k.everywhereMs ?? Infinity)),
    runs: runs.length,
    loads: runs.map((r) => r.summary.loadAtStart),
  };
}

/** Nearest-rank percentile of sorted numbers (as bench/membership.mjs). */
function pct(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function table(header, rows) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells) => `| ${cells.map((cell, c) => String(cell).padEnd(widths[c])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function report() {
  const get = (name) => results.get(name)?.summary;
  const fdCell = (s, win) => {
    const w = s?.falseDeaths?.[win];
    return w ? `${w.verdicts} (${w.suspicions} suspicions)` : 'not run';
  };
  const verdict = (ok) => (ok === undefined ? '' : ok ? 'meets' : 'MISSES');
  const rows = [];
  for (const [group, label, target] of [
    ['detect-3', '3 members', TARGETS.detectSmallMs],
    ['scenarios-20', '20 members', TARGETS.detectSmallMs],
    ['startup-100', '100 members', TARGETS.detect100Ms],
  ]) {
    const d = detectionOf(group);
    rows.push([
      `detection (SIGKILL → dead at each observer), ${label}`,
      d ? `p50 ${fmtMs(d.p50)}, p99 ${fmtMs(d.p99)}` : 'not run',
      d ? `${d.n} obs${d.runs > 1 ? ` in ${d.runs} runs` : ''}${d.missing ? `, ${d.missing} NEVER` : ''}` : '',
      `p99 ≤ ${target / 1000} s`,
      verdict(d && d.p99 <= target && d.missing === 0),
    ]);
  }
  const s20 = get('scenarios-20');
  const s100 = get('startup-100');
  const fdRow = (label, s, win, n) => {
    const w = s?.falseDeaths?.[win];
    return [label, fdCell(s, win), n, '0', verdict(w ? w.verdicts === 0 : undefined)];
  };
  rows.push(fdRow('(a) false deaths: NATS link us-east↔ap-south blackholed 20 s', s20, 'blackhole', '20 members'));
  rows.push(fdRow('(b) false deaths: NATS server eu-west restarted', s20, 'natsRestart', '20 members'));
  rows.push(fdRow('(c) false deaths: one member SIGSTOPped 300 ms every 1 s, 60 s', s20, 'pause', '20 members'));
  rows.push(fdRow('(d) false deaths: 100 members started at once', s100, 'startup', '100 members'));
  rows.push(fdRow('(e) false deaths: 2 s event-loop stalls (3, one per victim)', s20, 'stall', '20 members'));
  for (const [label, s] of [
    ['3', get('detect-3#1') ?? get('detect-3')],
    ['20', s20],
    ['100', s100],
  ]) {
    rows.push([
      `steady: messages and bytes per member per second, ${label} members`,
      s?.steady ? `${s.steady.sentPerMemberS.toFixed(2)} sent, ${s.steady.receivedPerMemberS.toFixed(2)} received` : 'not run',
      s?.steady ? `${fmtBytes(s.steady.bytesSentPerMemberS)}/s sent (${s.steady.seconds.toFixed(0)} s window)` : '',
      '—',
      '',
    ]);
  }
  const targets = table(['measure', 'result', 'n / detail', 'target', 'verdict'], rows);

  const gridRows = [];
  for (const r of results.values()) {
    if (!r.run.grid || !r.summary) continue;
    const s = r.summary;
    const fd = s.falseDeaths;
    const all = Object.values(fd).reduce((sum, w) => sum + w.verdicts, 0);
    gridRows.push([
      `${r.run.grid.probe} ms`,
      String(r.run.grid.mult),
      fmtMs(s.detection.p50),
      fmtMs(s.detection.p99),
      fd.pause ? `${fd.pause.verdicts}` : '—',
      fd.stall ? `${fd.stall.verdicts}` : '—',
      fd.startup ? `${fd.startup.verdicts}` : '—',
      String(all),
      s.steady ? `${s.steady.sentPerMemberS.toFixed(1)}` : '—',
      describeLoad(s.loadAtStart),
    ]);
  }
  gridRows.sort((a, b) => parseInt(b[0]) - parseInt(a[0]) || Number(b[1]) - Number(a[1]));
  const grid = table(
    ['probe interval', 'suspicionMult', 'detection p50', 'detection p99', 'false deaths: pauses', 'false deaths: 2 s stalls', 'false deaths: start-up', 'false deaths: whole run', 'msgs/member/s', 'load at start'],
    gridRows,
  );
  const header =
    `membership suite: ${results.size} runs in ${((Date.now() - suiteStart) / 1000).toFixed(0)} s on ${os.cpus().length} CPUs, Node ${process.version}; ` +
    `load now ${describeLoad(machineLoad())}; run loads: ${[...results.values()].map((r) => `${r.run.name} ${r.summary ? r.summary.loadAtStart.loadavg1.toFixed(1) : '?'}`).join(', ')}`;
  const notes =
    `Grid runs: 20 members, a ${gridPause} s pause window (one member SIGSTOPped 300 ms every 1 s), three 2 s stalls, 3 SIGKILLs; ` +
    `500 ms / 4 is scenarios-20 (60 s pause window, plus the blackhole and NATS restart, counted in its whole-run figure).`;
  console.log('');
  console.log(header);
  console.log(targets);
  console.log('');
  console.log('trade-off: probe interval × suspicion multiplier (20 members)');
  console.log(grid);
  console.log(notes);
  console.log(`(each run's table and diagnostics: ${outDir}/<run>.txt)`);
  writeFileSync(path.join(outDir, 'summary.md'), `${header}\n\n${targets}\n\n${grid}\n\n${notes}\n`);
}
