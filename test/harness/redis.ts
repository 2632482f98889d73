/**
 * Real Redis servers from Debian's `redis-server` package, on loopback ports,
 * and its own client, `redis-cli`: the database and the app of the TCP
 * service tests.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Harness } from './scope.js';
import type { ManagedProcess } from './processes.js';

const START_TIMEOUT_MS = 15_000;
const CLI_TIMEOUT_MS = 15_000;

export const REDIS_NOT_FOUND_MESSAGE = 'redis-server and redis-cli are needed for the TCP service tests: apt-get install redis-server (scripts/test.sh installs it)';

export interface RedisServer {
  readonly port: number;
  /** `127.0.0.1:PORT`, as a service endpoint. */
  readonly address: string;
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (nothing is saved). */
  restart(): Promise<void>;
}

function findTool(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin'])) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not in this folder
    }
  }
  throw new Error(REDIS_NOT_FOUND_MESSAGE);
}

export async function startRedis(h: Harness, name: string): Promise<RedisServer> {
  const bin = findTool('redis-server');
  const port = await h.freePort();
  let proc: ManagedProcess | undefined;
  const start = async () => {
    // No persistence, no protected mode prompts: a throwaway server for one test.
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', await h.tempDir('meshgate-redis-')];
    proc = await h.spawn(bin, args, { name: `redis ${name}` });
    await proc.waitForLine(/Ready to accept connections/, START_TIMEOUT_MS);
  };
  await start();
  return {
    port,
    address: `127.0.0.1:${port}`,
    async stop() {
      await proc?.stop();
    },
    restart: start,
  };
}

/** Runs `redis-cli` against 127.0.0.1:port and resolves with its output, trimmed; rejects when it fails. */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  const bin = findTool('redis-cli');
  return new Promise((resolve, reject) => {
    execFile(bin, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      // redis-cli prints connection errors and still exits 0 in some versions: its words decide too.
      if (err || /^(Could not connect|Error:)/m.test(out)) reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${out || (err as Error).message}`));
      else resolve(out);
    });
  });
}
