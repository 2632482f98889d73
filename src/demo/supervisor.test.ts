// Real (tiny) processes: the reaper is a shell script, and only running it shows it works.
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from './supervisor.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-supervisor-test-'));
  dirs.push(dir);
  return dir;
}

/** Whether a process is running (not gone, not a zombie). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(test: () => boolean, ms = 5_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (test()) return true;
  return test();
}

describe('Supervisor', () => {
  it('its reaper SIGKILLs every registered process group once the pipe from the demo closes, and removes the keys', async () => {
    const dir = tempDir();
    const keys = path.join(dir, 'ca');
    mkdirSync(keys);
    const supervisor = new Supervisor(keys);
    const logFile = path.join(dir, 'child.log');
    // A leader and a grandchild in its group, as nginx's master and worker would be.
    const child = supervisor.start('sleepers', '/bin/sh', ['-c', 'sleep 60 & echo $!; exec sleep 60'], { logFile });
    expect(await until(() => readFileSync(logFile, 'utf8').trim() !== '')).toBe(true);
    const grandchild = Number(readFileSync(logFile, 'utf8').trim());
    expect(running(grandchild)).toBe(true);

    await supervisor.close(); // what the kernel does when the demo dies, whatever killed it

    expect((await child.exited).signal).toBe('SIGKILL');
    expect(await until(() => !running(grandchild))).toBe(true);
    expect(existsSync(keys)).toBe(false);
  });

  it('stop() sends SIGTERM to the group and SIGKILL after the grace period', async () => {
    const dir = tempDir();
    const supervisor = new Supervisor();
    const stubborn = supervisor.start('stubborn', '/bin/sh', ['-c', "trap '' TERM; while :; do sleep 0.05; done"], { logFile: path.join(dir, 'stubborn.log') });
    const polite = supervisor.start('polite', '/bin/sh', ['-c', 'exec sleep 60'], { logFile: path.join(dir, 'polite.log') });
    expect(await supervisor.stop(polite, 5_000)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await supervisor.stop(stubborn, 300)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(supervisor.livePids()).toEqual([]);
    await supervisor.close();
  });
});
