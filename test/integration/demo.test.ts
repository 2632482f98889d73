/**
 * `meshgate demo` from the built CLI: the scripted story holds (the command CI
 * runs), and no process it started outlives it: not after a clean end, not
 * after SIGTERM, not after SIGKILL (which only the demo's reaper can answer).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, useHarness, waitUntil, type ManagedProcess } from '../harness/index.js';

const h = useHarness();

interface ProcId {
  readonly pid: number;
  readonly startTime: string;
  readonly command: string;
}

/** pid → [parent pid, state, start time] for every process, from /proc (Linux). */
function processTable(): Map<number, { ppid: number; state: string; startTime: string }> {
  const table = new Map<number, { ppid: number; state: string; startTime: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command sits in parentheses and may hold spaces: the fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { state: fields[0] ?? '?', ppid: Number(fields[1]), startTime: fields[19] ?? '' });
    } catch {
      // gone while we looked
    }
  }
  return table;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '?';
  }
}

/** Records every descendant of `root` seen while it runs (pid and start time, so a reused pid is not mistaken for it). */
function watchDescendants(root: number): { seen: Map<number, ProcId>; stop(): void } {
  const seen = new Map<number, ProcId>();
  const look = () => {
    const table = processTable();
    const mine = new Set([root]);
    // Parents come before their children often but not always: repeat until nothing is added.
    for (let added = true; added; ) {
      added = false;
      for (const [pid, p] of table) {
        if (!mine.has(pid) && mine.has(p.ppid)) {
          mine.add(pid);
          added = true;
          // Read again each time: right after fork() a child still shows its parent's command line, until it
          // execs; an exiting one (a zombie) shows none, and keeps the one we saw.
          const command = commandOf(pid);
          if (command !== '?' && command !== '') seen.set(pid, { pid, startTime: p.startTime, command });
        }
      }
    }
  };
  look();
  const timer = setInterval(look, 200);
  return { seen, stop: () => clearInterval(timer) };
}

/** The recorded processes still running (a zombie has ended). */
function stillRunning(procs: Iterable<ProcId>): ProcId[] {
  const table = processTable();
  return [...procs].filter((p) => {
    const now = table.get(p.pid);
    return now !== undefined && now.startTime === p.startTime && now.state !== 'Z';
  });
}

async function startDemo(args: string[]): Promise<{ demo: ManagedProcess; tmp: string; tree: ReturnType<typeof watchDescendants> }> {
  // The demo's work folder goes under a temp dir of the test's own, removed after it.
  const tmp = await h.tempDir('meshgate-demo-test-');
  const demo = await h.spawn(process.execPath, [CLI_PATH, 'demo', ...args], { name: 'meshgate demo', env: { ...process.env, TMPDIR: tmp } });
  const tree = watchDescendants(demo.pid);
  h.onCleanup(() => tree.stop(), 'stop watching the demo');
  return { demo, tmp, tree };
}

const KINDS = ['nats-server', 'services-process.js', 'app-process.js', 'cli.js run', 'meshgate-demo-reaper'];

describe('meshgate demo', () => {
  it('--script --duration 90: every step of the story holds, it exits 0, writes the chart and leaves no process behind', { timeout: 180_000 }, async () => {
    const { demo, tmp, tree } = await startDemo(['--script', '--duration', '90']);
    const exit = await demo.waitForExit(150_000);
    tree.stop();
    const out = demo.output();
    expect(exit, out.slice(-4_000)).toEqual({ code: 0, signal: null });
    const summary = out.slice(out.lastIndexOf('summary ('));
    for (const name of ['failover', 'failback', 'latency', 'gateway-killed']) expect(summary).toMatch(new RegExp(`step \\d ${name}: PASSED; failed requests \\d+ of \\d+ \\(idempotent: 0\\); traffic moved `));
    const chart = /chart of traffic share per cluster over time: (\S+)/.exec(summary)?.[1];
    expect(chart && path.dirname(chart).startsWith(tmp)).toBe(true);
    expect(readFileSync(chart as string, 'utf8')).toMatch(/^<svg[\s\S]*<polygon[\s\S]*<\/svg>\n$/);
    // Every kind of child was started, and none is left; the keys went with them.
    const commands = [...tree.seen.values()].map((p) => p.command);
    for (const kind of KINDS) expect(commands.some((c) => c.includes(kind)), `${kind} among ${commands.join('\n')}`).toBe(true);
    expect(stillRunning(tree.seen.values())).toEqual([]);
    expect(existsSync(path.join(path.dirname(chart as string), 'ca'))).toBe(false);
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal} to the demo alone: every process it started stops`, { timeout: 120_000 }, async () => {
      const { demo, tree } = await startDemo(['--script', '--duration', '120']);
      // Everything runs once the app does (and before step 1 kills us-east's services): three nats-servers, services and gateways, the app and the reaper.
      await demo.waitForLine(/starting the app/, 90_000);
      const missing = () => KINDS.filter((k) => ![...tree.seen.values()].some((p) => p.command.includes(k)));
      await waitUntil(() => missing().length === 0, {
        what: 'every kind of child to be seen',
        timeoutMs: 20_000,
        detail: () => `missing: ${missing().join(', ')}; seen:\n${[...tree.seen.values()].map((p) => p.command.slice(0, 120)).join('\n')}\n${demo.tail(10)}`,
      });
      tree.stop();
      const children = stillRunning(tree.seen.values());
      expect(children.length, children.map((p) => p.command).join('\n')).toBeGreaterThanOrEqual(11);
      demo.kill(signal);
      const exit = await demo.waitForExit(30_000);
      if (signal === 'SIGTERM') {
        expect(exit.code).not.toBeNull(); // it handled the signal and exited by itself
        expect(demo.output()).toContain('stopping (SIGTERM)');
      } else {
        expect(exit.signal).toBe('SIGKILL');
      }
      await waitUntil(() => stillRunning(children).length === 0, {
        what: `the demo's children to be gone after ${signal}`,
        timeoutMs: 15_000,
        intervalMs: 200,
        detail: () => stillRunning(children).map((p) => `${p.pid} ${p.command}`).join('\n'),
      });
      const workDir = /work folder (\S+)/.exec(demo.output())?.[1] as string;
      // The reaper also removes the keys when the demo could not.
      await waitUntil(() => !existsSync(path.join(workDir, 'ca')), { what: 'the CA keys to be removed', timeoutMs: 5_000 });
    });
  }
});
