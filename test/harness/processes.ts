/**
 * Child processes that tests can wait on, signal, pause and measure, and that
 * cannot outlive the test run:
 *  - they stay in our process group, so a Ctrl-C in the terminal reaches them;
 *  - a process 'exit' hook SIGKILLs any still running when the test worker exits;
 *  - a tiny reaper (`sh`, blocked reading a pipe from us) SIGKILLs the child when
 *    that pipe closes, which happens even if the worker itself is SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sleep, withTimeout } from './wait.js';

export interface SpawnTrackedOptions {
  /** Name used in error messages; defaults to the command's basename. */
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep at most this much combined output (the newest part). */
  outputCapBytes?: number;
  /** Start the reaper that kills the child if this process dies (default true). */
  dieWithParent?: boolean;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type LineMatcher = string | RegExp | ((line: string) => boolean);

export interface WaitForLineOptions {
  /** Also match lines printed before this call (default true, so nothing is missed). */
  includeExisting?: boolean;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Set once the process has exited. */
  readonly exitStatus: ExitStatus | undefined;
  /** Combined stdout and stderr, the newest ~200 KB. */
  output(): string;
  /** The last `lines` lines of output, for error messages. */
  tail(lines?: number): string;
  /** Resolves with the first line matching; rejects on timeout or exit, with the output tail. */
  waitForLine(match: LineMatcher, timeoutMs: number, opts?: WaitForLineOptions): Promise<string>;
  waitForExit(timeoutMs: number): Promise<ExitStatus>;
  /** Sends a signal; a no-op once the process has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Resident set size in bytes, from /proc/<pid>/status. */
  rss(): Promise<number>;
  /** SIGCONT, SIGTERM, and SIGKILL if still running after `graceMs`. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

const DEFAULT_OUTPUT_CAP = 200 * 1024;
const MAX_KEPT_LINES = 5_000;
const STOP_GRACE_MS = 3_000;
const AFTER_KILL_MS = 5_000;

interface SpawnRecord {
  readonly pid: number;
  readonly name: string;
  /** argv joined by NUL, as in /proc/<pid>/cmdline. */
  readonly cmdline: string;
  /** Set once the child is reaped; the record then holds nothing else of it. */
  exited: boolean;
}

/** Every process ever spawned here, for the exit hook and leak checks. */
const spawned: SpawnRecord[] = [];
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only thing that works here.
  process.on('exit', () => {
    for (const r of spawned) {
      if (!r.exited) {
        try {
          process.kill(r.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

export async function spawnTracked(
  cmd: string,
  args: readonly string[] = [],
  opts: SpawnTrackedOptions = {},
): Promise<ManagedProcess> {
  installExitHook();
  const name = opts.name ?? path.basename(cmd);
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`could not start ${name} (${cmd}): ${err.message}`, { cause: err })));
  });
  const proc = new ManagedProcessImpl(name, child, opts.outputCapBytes ?? DEFAULT_OUTPUT_CAP);
  // Later 'error' events (a failed kill) must not crash the test worker.
  child.on('error', () => {});
  const record: SpawnRecord = { pid: proc.pid, name, cmdline: [cmd, ...args].join('\0'), exited: false };
  spawned.push(record);
  if (proc.exitStatus) record.exited = true;
  else child.once('exit', () => (record.exited = true));
  if (opts.dieWithParent !== false) proc.attachReaper(startReaper(proc.pid));
  return proc;
}

/**
 * `sh` waits for EOF on a pipe whose other end only we hold; EOF means we died,
 * and it kills the child. Killed by us as soon as the child exits, so it never
 * acts on a recycled pid.
 */
function startReaper(pid: number): ChildProcess {
  const reaper = spawn('/bin/sh', ['-c', 'read _unused; kill -KILL "$1" 2>/dev/null', 'meshgate-test-reaper', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  reaper.on('error', () => {
    // Without /bin/sh we still have the exit hook; nothing else to do.
  });
  reaper.stdin?.on('error', () => {});
  return reaper;
}

/** Processes spawned here that are still running: leaks, once every test has torn down. */
export async function leakedProcesses(): Promise<Array<{ pid: number; name: string }>> {
  const leaks: Array<{ pid: number; name: string }> = [];
  for (const r of spawned) {
    if (r.exited) continue; // reaped: certainly gone
    let cmdline: string;
    try {
      cmdline = (await readFile(`/proc/${r.pid}/cmdline`, 'utf8')).replace(/\0$/, '');
    } catch {
      continue; // no such process
    }
    if (cmdline === r.cmdline) leaks.push({ pid: r.pid, name: r.name });
  }
  return leaks;
}

/** Pids of every process spawned by this module (live or not). */
export function spawnedPids(): number[] {
  return spawned.map((r) => r.pid);
}

class ManagedProcessImpl implements ManagedProcess {
  readonly pid: number;
  exitStatus: ExitStatus | undefined;
  private readonly chunks: string[] = [];
  private size = 0;
  private readonly lines: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly exitListeners = new Set<(status: ExitStatus) => void>();
  private reaper: ChildProcess | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly cap: number,
  ) {
    if (child.pid === undefined) throw new Error(`${name} has no pid after spawning`);
    this.pid = child.pid;
    this.capture(child.stdout);
    this.capture(child.stderr);
    child.on('exit', (code, signal) => {
      this.exitStatus = { code, signal };
      this.killReaper();
      for (const listener of [...this.exitListeners]) listener(this.exitStatus);
    });
  }

  attachReaper(reaper: ChildProcess): void {
    this.reaper = reaper;
    if (this.exitStatus !== undefined) this.killReaper();
  }

  private killReaper(): void {
    if (this.reaper && this.reaper.exitCode === null && this.reaper.signalCode === null) {
      this.reaper.kill('SIGKILL');
    }
  }

  private capture(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (text: string) => {
      this.append(text);
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.addLine(line.replace(/\r$/, ''));
    });
    stream.on('end', () => {
      if (partial) this.addLine(partial);
      partial = '';
    });
  }

  private append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    // Compact only once well over the cap, so appends stay cheap.
    if (this.size > this.cap * 1.5) {
      const joined = this.chunks.join('').slice(-this.cap);
      this.chunks.length = 0;
      this.chunks.push(joined);
      this.size = joined.length;
    }
  }

  private addLine(line: string): void {
    this.lines.push(line);
    if (this.lines.length > MAX_KEPT_LINES * 1.5) this.lines.splice(0, this.lines.length - MAX_KEPT_LINES);
    for (const listener of [...this.lineListeners]) listener(line);
  }

  output(): string {
    const joined = this.chunks.join('');
    return joined.length > this.cap ? joined.slice(-this.cap) : joined;
  }

  tail(lines = 40): string {
    const text = this.output().split('\n').slice(-lines).join('\n');
    return `--- last output of ${this.name} (pid ${this.pid}${this.describeExit()}) ---\n${text}\n--- end of output ---`;
  }

  private describeExit(): string {
    if (!this.exitStatus) return ', running';
    const { code, signal } = this.exitStatus;
    return signal ? `, killed by ${signal}` : `, exited with code ${code}`;
  }

  waitForLine(match: LineMatcher, timeoutMs: number, opts: WaitForLineOptions = {}): Promise<string> {
    const test = toPredicate(match);
    const what = `a line matching ${describeMatcher(match)} from ${this.name} (pid ${this.pid})`;
    if (opts.includeExisting !== false) {
      const found = this.lines.find(test);
      if (found !== undefined) return Promise.resolve(found);
    }
    let onLine: ((line: string) => void) | undefined;
    let onExit: (() => void) | undefined;
    const found = new Promise<string>((resolve, reject) => {
      onLine = (line) => {
        if (test(line)) resolve(line);
      };
      onExit = () => {
        // Let the pipes drain so a line printed just before exit still counts.
        setImmediate(() => reject(new Error(`${this.name} (pid ${this.pid}) exited while waiting for ${what}\n${this.tail()}`)));
      };
      this.lineListeners.add(onLine);
      if (this.exitStatus) onExit();
      else this.exitListeners.add(onExit);
    });
    return withTimeout(found, timeoutMs, what, () => this.tail()).finally(() => {
      if (onLine) this.lineListeners.delete(onLine);
      if (onExit) this.exitListeners.delete(onExit);
    });
  }

  waitForExit(timeoutMs: number): Promise<ExitStatus> {
    if (this.exitStatus) return Promise.resolve(this.exitStatus);
    let onExit: ((status: ExitStatus) => void) | undefined;
    const exited = new Promise<ExitStatus>((resolve) => {
      onExit = resolve;
      this.exitListeners.add(onExit);
    });
    return withTimeout(exited, timeoutMs, `${this.name} (pid ${this.pid}) to exit`, () => this.tail()).finally(() => {
      if (onExit) this.exitListeners.delete(onExit);
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitStatus) return;
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  pause(): void {
    this.kill('SIGSTOP');
  }

  resume(): void {
    this.kill('SIGCONT');
  }

  async rss(): Promise<number> {
    let status: string;
    try {
      status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the RSS of ${this.name} (pid ${this.pid}${this.describeExit()}): ${String(err)}\n${this.output().slice(-3000)}`);
    }
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!m) throw new Error(`no VmRSS in /proc/${this.pid}/status of ${this.name}${this.describeExit()}`);
    return Number(m[1]) * 1024;
  }

  async stop(graceMs = STOP_GRACE_MS): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    // A stopped process cannot act on SIGTERM: wake it first.
    this.kill('SIGCONT');
    this.kill('SIGTERM');
    try {
      return await this.waitForExit(graceMs);
    } catch {
      this.kill('SIGKILL');
      return await this.waitForExit(AFTER_KILL_MS);
    } finally {
      // Give the pipes a moment so the last lines are in output().
      await sleep(0);
    }
  }
}

function toPredicate(match: LineMatcher): (line: string) => boolean {
  if (typeof match === 'string') return (line) => line.includes(match);
  if (match instanceof RegExp) {
    return (line) => {
      match.lastIndex = 0; // a /g or /y regexp would otherwise remember the last position
      return match.test(line);
    };
  }
  return match;
}

function describeMatcher(match: LineMatcher): string {
  if (typeof match === 'string') return JSON.stringify(match);
  if (match instanceof RegExp) return String(match);
  return match.name ? `predicate ${match.name}` : 'a predicate';
}
