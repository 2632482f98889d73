// What every bench that runs meshgate needs: nats-server, the shared-root CAs (one root, one
// intermediate per cluster: docs/architecture.md, Identity), and gateways started from the
// built CLI on loopback, their addresses read from their log lines.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { findTool } from './load-tools.mjs';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
/** An `allow` pattern that admits every gateway of the bench federation. */
export const ALL_GATEWAYS = 'spiffe://*.test.example/meshgate/gateway/*/*';
const START_TIMEOUT_MS = 20_000;

/** A JSON log line as an object; {} for any other line. */
export function jsonLine(line) {
  try {
    return line.startsWith('{') ? JSON.parse(line) : {};
  } catch {
    return {}; // a line cut short by a crash
  }
}
export const listening = (listener) => (line) => line.includes('"msg":"listening"') && line.includes(`"listener":"${listener}"`);

/** `nats-server`: $NATS_SERVER_BIN, else the PATH and the sbin folders. */
export function findNatsServer() {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  const found = findTool('nats-server');
  if (!found) throw new Error('nats-server not found: install it with "apt-get install nats-server" or set NATS_SERVER_BIN');
  return found;
}

/** One nats-server on a port it picks (-p -1: none is guessed or raced for); resolves with its URL once ready. */
export async function startNats(procs, { logFile, bin = findNatsServer(), timeoutMs = START_TIMEOUT_MS }) {
  const proc = procs.start('nats-server', bin, ['-a', '127.0.0.1', '-p', '-1'], { logFile });
  const line = await procs.waitForLine(proc, (l) => l.includes('Listening for client connections on'), 'its client port', timeoutMs);
  await procs.waitForLine(proc, (l) => l.includes('Server is ready'), '"Server is ready"', timeoutMs);
  return { proc, url: `nats://${line.split(' on ').pop().trim()}` };
}

/** `meshgate ca init`: the root of test.example and one intermediate per cluster, in `dir`/root and `dir`/ca-<cluster>. */
export async function makeSharedRoot(dir, clusters) {
  const cli = (...args) => promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 30_000 });
  await cli('ca', 'init', '--trust-domain', 'test.example', '--out', path.join(dir, 'root'));
  await Promise.all(clusters.map((c) => cli('ca', 'init', '--trust-domain', `${c}.test.example`, '--parent', path.join(dir, 'root'), '--out', path.join(dir, `ca-${c}`))));
}

/** The config of a gateway of `cluster` whose CA is the shared root's intermediate in `caDir`; `clusters` are all of the bench's. */
export function gatewayConfig({ federation = 'bench', cluster, clusters = ['a', 'b'], natsUrl, caDir, services, telemetry }) {
  return stringify({
    federation,
    cluster,
    replica: 'r1',
    nats: { servers: [natsUrl] },
    // Shared root: the other domains need no bundle.
    identity: { trustDomain: `${cluster}.test.example`, ca: caDir, federation: clusters.filter((c) => c !== cluster).map((c) => ({ trustDomain: `${c}.test.example` })) },
    // Loopback, port 0 everywhere: the addresses are read from the log (the federation listener's default is 0.0.0.0:4143).
    listeners: { local: '127.0.0.1:0', federation: '127.0.0.1:0', admin: '127.0.0.1:0' },
    limits: { drainTimeout: '1s' },
    ...(telemetry && { telemetry }),
    services,
  });
}

/** The Node options a gateway starts with, from the build (read when needed: the benches build first). */
export async function gatewayNodeOptions() {
  return (await import('../../dist/config/index.js')).GATEWAY_NODE_OPTIONS;
}

/**
 * Starts `meshgate run --config configFile` as `meshgate` starts itself (its Node options, from
 * dist) and resolves once it is ready, with its local and admin addresses. `node` are extra
 * Node.js flags (e.g. --cpu-prof).
 */
export async function startGateway(procs, { name, configFile, logFile, node = [], timeoutMs = START_TIMEOUT_MS }) {
  const proc = procs.start(name, process.execPath, [...(await gatewayNodeOptions()), ...node, CLI, 'run', '--config', configFile], { logFile });
  proc.isGateway = true;
  const local = jsonLine(await procs.waitForLine(proc, listening('local'), 'the local listener', timeoutMs)).address;
  const admin = jsonLine(await procs.waitForLine(proc, listening('admin'), 'the admin listener', timeoutMs)).address;
  await procs.waitForLine(proc, (l) => l.includes('"msg":"ready"'), '"ready"', timeoutMs);
  return { proc, local, admin };
}
