/**
 * Gateway processes started from the built CLI (`dist/cli.js`), exactly as an
 * operator runs them. Configs bind port 0; the gateway's `listening` log lines
 * say where it landed, so no port is guessed and none can be raced for.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { getJson, httpRequest, type HttpRequestOptions, type HttpResponse } from './http-client.js';
import { spawnTracked, type ManagedProcess } from './processes.js';
import { waitUntil } from './wait.js';

export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

const START_TIMEOUT_MS = 20_000;

export interface GatewayProcess {
  readonly process: ManagedProcess;
  readonly configPath: string;
  /** `127.0.0.1:PORT` of the local (app-facing) listener. */
  readonly localAddress: string;
  readonly localUrl: string;
  readonly adminUrl: string;
  /** `127.0.0.1:PORT` of the mTLS federation listener; undefined without `identity:`. */
  readonly federationAddress: string | undefined;
  /** A request on the local listener with `Host: <service>`. */
  request(service: string, pathAndQuery: string, opts?: HttpRequestOptions): Promise<HttpResponse>;
  /** The structured log lines printed so far. */
  logs(): Record<string, unknown>[];
}

/** A minimal config: every listener on a free loopback port. */
export function gatewayConfig(services: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    federation: 'test',
    cluster: 'c1',
    listeners: { local: '127.0.0.1:0', admin: '127.0.0.1:0', federation: '127.0.0.1:0' },
    services,
    ...extra,
  };
}

export function assertBuilt(): void {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run "npm run build" first (npm test does)`);
}

export async function writeConfig(dir: string, config: unknown, name = 'gateway.yaml'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof config === 'string' ? config : stringify(config));
  return file;
}

type Spawn = typeof spawnTracked;

/**
 * `spawn` should register the process for teardown before anything can fail.
 * `startTimeoutMs` bounds each step of the start (first listener, ready, /ready).
 */
export async function startGateway(configPath: string, spawn: Spawn = spawnTracked, startTimeoutMs = START_TIMEOUT_MS): Promise<GatewayProcess> {
  assertBuilt();
  const proc = await spawn(process.execPath, [CLI_PATH, 'run', '--config', configPath], { name: 'meshgate' });
  const addressOf = async (listener: string) => {
    const line = await proc.waitForLine((l) => l.includes('"listening"') && l.includes(`"listener":"${listener}"`), startTimeoutMs);
    return String((JSON.parse(line) as { address: string }).address);
  };
  const localAddress = await addressOf('local');
  const adminAddress = await addressOf('admin');
  const adminUrl = `http://${adminAddress}`;
  // Listeners bind first; identity, health checks and membership come before 'ready'.
  await proc.waitForLine((l) => l.includes('"msg":"ready"'), startTimeoutMs);
  // A fresh process on a busy machine may take a while to answer its first admin request.
  await waitUntil(() => getJson(`${adminUrl}/ready`, 5_000).then(() => true), {
    what: `${adminUrl}/ready to answer 200`,
    timeoutMs: startTimeoutMs,
    intervalMs: 100,
    abortIf: () => (proc.exitStatus ? 'the gateway exited' : undefined),
    detail: () => proc.tail(),
  });
  const federationLine = proc
    .output()
    .split('\n')
    .find((l) => l.includes('"listening"') && l.includes('"listener":"federation"'));
  const federationAddress = federationLine ? String((JSON.parse(federationLine) as { address: string }).address) : undefined;
  return {
    process: proc,
    configPath,
    localAddress,
    localUrl: `http://${localAddress}`,
    adminUrl,
    federationAddress,
    request: (service, pathAndQuery, opts = {}) =>
      httpRequest(`http://${localAddress}${pathAndQuery}`, { ...opts, headers: { host: service, ...opts.headers } }),
    logs: () =>
      proc
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Runs the CLI to completion (check, version, a run that must fail) and returns its exit and output. */
export async function runCli(args: readonly string[], timeoutMs = 20_000) {
  assertBuilt();
  const proc = await spawnTracked(process.execPath, [CLI_PATH, ...args], { name: 'meshgate' });
  try {
    const status = await proc.waitForExit(timeoutMs);
    return { ...status, output: proc.output() };
  } finally {
    await proc.stop();
  }
}
