// The external tools of the proxy bench: finding them (installing the missing ones with apt-get
// when root, as scripts/lib.sh does), their versions, and running wrk and hey with parsed results.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

// Debian's sbin directories are not on every user's PATH, but nginx and haproxy live there.
const SEARCH = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];

export function findTool(name) {
  for (const dir of SEARCH) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Each tool's path by name; `packages` maps a tool to its Debian package. Missing ones are
 * installed with apt-get when we are root, otherwise the exact command is thrown.
 */
export function ensureTools(packages, log) {
  const missing = Object.keys(packages).filter((t) => !findTool(t));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => packages[t]))];
    const command = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
    if (process.getuid?.() !== 0 || !findTool('apt-get')) {
      throw new UsageError(`missing: ${missing.join(', ')}; run 'sudo ${command}' and retry`);
    }
    log(`installing ${pkgs.join(', ')} (apt-get)…`);
    const apt = (args) => execFileSync('apt-get', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
    try {
      apt(['install', '-y', '--no-install-recommends', ...pkgs]);
    } catch {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', ...pkgs]);
    }
  }
  const found = {};
  for (const t of Object.keys(packages)) {
    found[t] = findTool(t);
    if (!found[t]) throw new Error(`${t} is still missing after installing ${packages[t]}`);
  }
  return found;
}

export class UsageError extends Error {}

/** The first line of a command's output, stdout or stderr (nginx -v writes to stderr), whatever its exit code. */
function firstLine(file, args) {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}

function debianVersion(pkg) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** Versions of the tools found, for the report. */
export function toolVersions(tools) {
  const v = { node: process.version };
  if (tools.nginx) v.nginx = firstLine(tools.nginx, ['-v']).replace(/^nginx version: /, '');
  if (tools.haproxy) v.haproxy = firstLine(tools.haproxy, ['-v']).replace(/ - https:.*$/, '');
  if (tools.wrk) v.wrk = firstLine(tools.wrk, ['-v']).replace(/ Copyright.*$/, '');
  // hey has no version flag: the package's version, when dpkg knows it.
  if (tools.hey) v.hey = debianVersion('hey') ? `hey ${debianVersion('hey')} (Debian package)` : 'hey (version unknown)';
  if (tools['nats-server']) v['nats-server'] = firstLine(tools['nats-server'], ['--version']);
  v.openssl = firstLine('openssl', ['version']);
  return v;
}

// ---- wrk ------------------------------------------------------------------------------------

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
}

/** wrk's text report → { rps, p50, p99 (ms), errors, kinds }. */
export function parseWrk(output) {
  const num = (re) => Number(re.exec(output)?.[1] ?? NaN);
  const pct = (p) => durationMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(output)?.[1] ?? '');
  const non2xx = num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const kinds = [];
  if (non2xx) kinds.push(`${non2xx} non-2xx/3xx`);
  let errors = non2xx;
  if (socket) {
    ['connect', 'read', 'write', 'timeout'].forEach((k, i) => {
      const n = Number(socket[i + 1]);
      if (n) kinds.push(`${n} socket ${k}`);
      errors += n;
    });
  }
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (!Number.isFinite(rps)) throw new Error(`wrk gave no Requests/sec:\n${output.slice(-2000)}`);
  return { rps, p50: pct(50), p99: pct(99), requests: num(/(\d+) requests in/), errors, kinds: kinds.join(', ') };
}

export async function runWrk(procs, wrk, { url, host, connections, seconds }) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `Host: ${host}`, url];
  const { code, output } = await procs.run('wrk', wrk, args, (seconds + 30) * 1000);
  if (code !== 0) throw new Error(`wrk exited ${code}:\n${output.slice(-2000)}`);
  return parseWrk(output);
}

// ---- hey ------------------------------------------------------------------------------------

/** hey's summary → { rps (achieved), p50, p99 (ms), errors, kinds }: anything but a 2xx is an error. */
export function parseHey(output) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? NaN);
  if (!Number.isFinite(rps)) throw new Error(`hey gave no Requests/sec:\n${output.slice(-2000)}`);
  const pct = (p) => Number(new RegExp(`^\\s+${p}% in ([\\d.]+) secs`, 'm').exec(output)?.[1] ?? NaN) * 1000;
  const section = (title) => (new RegExp(`${title}:\\n((?:[ \\t]+\\[.*\\n?)*)`).exec(output)?.[1] ?? '').trim();
  let ok = 0;
  let errors = 0;
  const kinds = [];
  for (const [, status, n] of section('Status code distribution').matchAll(/\[(\d+)\]\s+(\d+) responses/g)) {
    if (status.startsWith('2')) ok += Number(n);
    else (errors += Number(n)), kinds.push(`${n}× ${status}`);
  }
  for (const [, n, what] of section('Error distribution').matchAll(/\[(\d+)\]\s+(.*)/g)) {
    errors += Number(n);
    kinds.push(`${n}× ${what.slice(0, 80)}`);
  }
  return { rps, p50: pct(50), p99: pct(99), requests: ok + errors, errors, kinds: kinds.join(', ') };
}

/** A fixed rate for `seconds`: `workers` workers at `rate / workers` req/s each (hey's -q is per worker). */
export async function runHey(procs, hey, { url, host, rate, workers, seconds }) {
  const args = ['-c', String(workers), '-q', String(rate / workers), '-z', `${seconds}s`, '-cpus', '1', '-host', host, url];
  const { code, output } = await procs.run('hey', hey, args, (seconds + 60) * 1000);
  if (code !== 0) throw new Error(`hey exited ${code}:\n${output.slice(-2000)}`);
  return parseHey(output);
}
