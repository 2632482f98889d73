// Child processes of a bench: each in its own process group (so that nginx's worker goes with its
// master), output to its own log file (never the console, never a pipe the bench must drain), and
// every one stopped at the end, on failure too: stopAll() politely, then SIGKILL to the group; and a
// synchronous SIGKILL of every group left when the bench's own process exits.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

const POLL_MS = 100;

export class Processes {
  #live = new Set();

  constructor() {
    process.on('exit', () => this.#live.forEach((p) => killGroup(p.pid, 'SIGKILL'))); // last resort
  }

  /** Starts `command` with stdout and stderr appended to `logFile`. */
  start(name, command, args, { logFile, env } = {}) {
    const fd = openSync(logFile ?? '/dev/null', 'a');
    let child;
    try {
      child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    } finally {
      closeSync(fd); // the child has its own copy
    }
    const proc = { name, pid: child.pid, logFile, done: false, how: undefined };
    proc.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal));
      child.once('error', (err) => resolve(err.message)); // e.g. spawn ENOENT
    }).then((how) => {
      Object.assign(proc, { done: true, how });
      this.#live.delete(proc);
      return how;
    });
    if (child.pid !== undefined) this.#live.add(proc);
    return proc;
  }

  /** Runs `command` to its end (at most `timeoutMs`) and returns its combined output and exit code. */
  async run(name, command, args, timeoutMs) {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = { name, pid: child.pid, done: false };
    if (child.pid !== undefined) this.#live.add(proc);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s) => (output += s));
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), timeoutMs);
    const code = await new Promise((resolve) => {
      child.once('close', (c, signal) => resolve(c ?? signal));
      child.once('error', (err) => resolve(err.message));
    });
    clearTimeout(timer);
    this.#live.delete(proc);
    return { code, output };
  }

  /** Resolves with the first log line that passes `test`; rejects when the process exits or time runs out. */
  async waitForLine(proc, test, what, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = readLines(proc.logFile);
      const found = lines.find(test);
      if (found !== undefined) return found;
      const why = proc.done ? `exited (${proc.how})` : Date.now() > deadline ? `${timeoutMs} ms passed` : null;
      if (why) throw new Error(`${proc.name}: ${why} before ${what}; last output:\n${lines.slice(-15).join('\n')}`);
      await sleep(POLL_MS);
    }
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader is gone. */
  async stop(proc, graceMs = 5_000) {
    if (!proc.done) {
      killGroup(proc.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), graceMs);
      await proc.exited;
      clearTimeout(timer);
    }
    killGroup(proc.pid, 'SIGKILL'); // whatever the leader left behind in its group
  }

  /** Stops every live process; `graceMs(proc)` says how long each may take. */
  stopAll(graceMs = () => 5_000) {
    return Promise.all([...this.#live].map((p) => this.stop(p, graceMs(p))));
  }
}

export function killGroup(pid, signal) {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

export function readLines(file) {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** Resident set size in KiB from /proc (Linux), or NaN. */
export function rssKiB(pid) {
  const line = readLines(`/proc/${pid}/status`).find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.split(/\s+/)[1]) : NaN;
}

/** The children of `pid` (Linux): for nginx's worker. */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
