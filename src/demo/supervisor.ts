/**
 * Every process the demo starts, and the guarantee that none outlives it.
 *
 * Each child runs in its own process group (so that a terminal's Ctrl-C
 * reaches only the demo, which then stops things in order), and is reported
 * to a reaper: a tiny `sh` holding the read end of a pipe from us. When the
 * demo ends in any way, including SIGKILL or a crash, the kernel closes that
 * pipe, the reaper's `read` sees end-of-file and it SIGKILLs every group still
 * registered. Linux's PR_SET_PDEATHSIG is not reachable from Node.js, and
 * nats-server cannot watch a pipe itself, so one reaper watches for all.
 * A clean stop signals the groups itself (SIGTERM, then SIGKILL after a
 * grace period); a synchronous 'exit' hook SIGKILLs whatever is left.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** Reads "+ PGID" and "- PGID" lines; at end of input SIGKILLs the groups still listed and removes $1 (the keys). */
const REAPER_SCRIPT = `trap '' INT TERM HUP QUIT
live=' '
while read -r op id; do
  case $op in
    +) live="$live$id " ;;
    -) next=' '; for p in $live; do [ "$p" = "$id" ] || next="$next$p "; done; live=$next ;;
  esac
done
for p in $live; do kill -KILL -"$p" 2>/dev/null; done
[ -n "$1" ] && rm -rf "$1"
exit 0`;

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One child the supervisor started. */
export interface Supervised {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Set once it has exited. */
  exit: ChildExit | undefined;
  readonly exited: Promise<ChildExit>;
}

export interface StartOptions {
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
}

export class Supervisor {
  private readonly live = new Set<Supervised>();
  private readonly reaper: ChildProcess;

  /** `removeOnCrash`: a folder the reaper deletes if the demo dies without cleaning up (the CA keys). */
  constructor(removeOnCrash = '') {
    this.reaper = spawn('/bin/sh', ['-c', REAPER_SCRIPT, 'meshgate-demo-reaper', removeOnCrash], {
      detached: true, // its own group: a Ctrl-C or a group kill aimed at the demo must not take it first
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.reaper.on('error', () => {}); // without /bin/sh the exit hook below still runs on every clean or crashing exit
    this.reaper.stdin?.on('error', () => {});
    this.reaper.unref();
    (this.reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    process.on('exit', () => {
      for (const p of this.live) killGroup(p.pid, 'SIGKILL');
    });
  }

  /** The reaper's pid, for tests and the log. */
  get reaperPid(): number | undefined {
    return this.reaper.pid;
  }

  /** Starts a program in its own process group, its output appended to `logFile`. */
  start(name: string, command: string, args: readonly string[], opts: StartOptions): Supervised {
    return this.track(name, opts.logFile, (fd) => spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env }));
  }

  /** Starts a Node.js module of ours with an IPC channel (it exits when the channel closes, and the reaper covers it too). */
  fork(name: string, modulePath: string, args: readonly string[], opts: StartOptions): Supervised {
    return this.track(name, opts.logFile, (fd) => fork(modulePath, [...args], { detached: true, stdio: ['ignore', fd, fd, 'ipc'], env: opts.env ?? process.env }));
  }

  private track(name: string, logFile: string, launch: (fd: number) => ChildProcess): Supervised {
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = launch(fd);
    } finally {
      closeSync(fd); // the child has its own copy
    }
    const pid = child.pid;
    if (pid === undefined) {
      // spawn reports ENOENT and the like asynchronously; the pid is missing at once.
      throw new Error(`could not start ${name}`);
    }
    this.tell(`+ ${pid}`);
    child.on('error', () => {}); // a failed kill() of a process that just exited
    const proc: Supervised = {
      name,
      pid,
      child,
      logFile,
      exit: undefined,
      exited: new Promise<ChildExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))).then((exit) => {
        proc.exit = exit;
        this.live.delete(proc);
        // Only the group leader is known to be gone; anything it left in its group goes now.
        killGroup(pid, 'SIGKILL');
        this.tell(`- ${pid}`);
        return exit;
      }),
    };
    this.live.add(proc);
    return proc;
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader has exited. */
  async stop(proc: Supervised, graceMs = 3_000): Promise<ChildExit> {
    if (proc.exit) return proc.exit;
    killGroup(proc.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), graceMs);
    try {
      return await proc.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL, as a crash would; resolves once it has exited. */
  kill(proc: Supervised): Promise<ChildExit> {
    killGroup(proc.pid, 'SIGKILL');
    return proc.exited;
  }

  /** Stops every live child at once. */
  async stopAll(graceMs = 3_000): Promise<void> {
    await Promise.all([...this.live].map((p) => this.stop(p, graceMs)));
  }

  /** Pids of the children still running. */
  livePids(): number[] {
    return [...this.live].map((p) => p.pid);
  }

  /** Ends the reaper (after stopAll: nothing is left for it to kill) and waits, at most `timeoutMs`, until it has removed the keys and exited. */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.reaper.exitCode !== null || this.reaper.signalCode !== null || this.reaper.pid === undefined) return;
    const exited = new Promise<void>((resolve) => this.reaper.once('exit', () => resolve()));
    this.reaper.ref(); // keep the event loop alive until it is gone
    this.reaper.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  private tell(line: string): void {
    const stdin = this.reaper.stdin;
    if (stdin && !stdin.destroyed && stdin.writable) stdin.write(`${line}\n`);
  }
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already
  }
}
