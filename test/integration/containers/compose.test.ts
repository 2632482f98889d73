/**
 * docker-compose.yml as a user runs it, on the local images: up, every gateway healthy,
 * the generator's traffic answered in every cluster; us-east's demo services stopped,
 * us-east's traffic answered by another cluster with no failed request; down with its
 * volume. Runs `docker compose` when installed, else Debian's `docker-compose` 1.29.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, waitUntil } from '../../harness/index.js';
import { mustRun, run } from './docker.js';

const env = inject('containers');
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLUSTERS = ['us-east', 'us-west', 'eu-west'] as const;

/** One report line of docker/compose/traffic.mjs. */
interface Report {
  via: string;
  ok: number;
  failed: number;
  shares: Record<string, number>;
  line: string;
}
const REPORT = /^traffic via (\S+): (\d+) ok, (\d+) failed.*\| (.*)$/;

function parseReports(logs: string): Report[] {
  const out: Report[] = [];
  for (const line of logs.split('\n')) {
    const m = REPORT.exec(line.trim());
    if (!m) continue;
    const shares: Record<string, number> = {};
    for (const [, cluster, pct] of (m[4] as string).matchAll(/(\S+) (\d+)%/g)) shares[cluster as string] = Number(pct);
    out.push({ via: m[1] as string, ok: Number(m[2]), failed: Number(m[3]), shares, line: line.trim() });
  }
  return out;
}

describe.skipIf(env.skip !== undefined || env.composeSkip !== undefined)('docker-compose.yml', () => {
  const project = `meshgate-ctest-${process.pid}`;
  const timings: Record<string, number> = {};
  let composeEnv: NodeJS.ProcessEnv;
  let upStarted = 0;
  const compose = (...args: string[]) => [...env.compose, '-p', project, '-f', 'docker-compose.yml', ...args];
  const composeRun = (args: string[], timeoutMs = 120_000) => mustRun(compose(...args), { cwd: ROOT, env: composeEnv, timeoutMs });
  const containerOf = async (service: string) => (await composeRun(['ps', '-q', service])).trim();
  const reports = async () => parseReports(await mustRun(['docker', 'logs', await containerOf('traffic')]));
  const seconds = (ms: number) => Math.round(ms / 100) / 10;

  beforeAll(async () => {
    composeEnv = {
      ...process.env,
      NATS_IMAGE: env.images.nats,
      NODE_IMAGE: env.images.node,
      MESHGATE_IMAGE: env.images.meshgate,
      // us-east's published ports, free ones so nothing on this machine is in the way.
      MESHGATE_LOCAL_PORT: String(await freePort()),
      MESHGATE_ADMIN_PORT: String(await freePort()),
    };
    upStarted = Date.now();
    // Returns once the generator is created, i.e. after the gateways reported healthy.
    await composeRun(['up', '-d', '--no-build'], 300_000);
    timings.up = Date.now() - upStarted;
  });

  afterAll(async () => {
    const downStarted = Date.now();
    const down = await run(compose('down', '-v', '--remove-orphans', '-t', '10'), { cwd: ROOT, env: composeEnv, timeoutMs: 180_000 });
    timings.down = Date.now() - downStarted;
    console.log(`[compose] ${Object.entries(timings).map(([k, v]) => `${k} ${seconds(v)} s`).join(', ')}`);
    expect(down.code, down.stderr).toBe(0);
    // Nothing of the project is left: no container, no volume (the trust it made).
    const left = await mustRun(['docker', 'ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`]);
    const volumes = await mustRun(['docker', 'volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
    expect(left.trim()).toBe('');
    expect(volumes.trim()).toBe('');
  });

  it('comes up healthy, serves in every cluster, and fails us-east over with no failed request', async () => {
    for (const c of CLUSTERS) {
      const id = await containerOf(`${c}-gateway`);
      const health = (await mustRun(['docker', 'inspect', '--format', '{{.State.Health.Status}}', id])).trim();
      expect(health, `${c}-gateway`).toBe('healthy');
    }
    const trustExit = (await mustRun(['docker', 'inspect', '--format', '{{.State.ExitCode}}', await containerOf('trust')])).trim();
    expect(trustExit).toBe('0');

    // Every cluster answers the generator's requests through its own gateway.
    const servedEverywhere = (rs: Report[]) => CLUSTERS.every((c) => rs.some((r) => r.via === c && r.ok > 0 && r.failed === 0 && r.shares[c] === 100));
    const steady = await waitUntil(async () => {
      const rs = await reports();
      return servedEverywhere(rs) ? rs.length : undefined;
    }, { timeoutMs: 90_000, intervalMs: 1_000, what: 'generator traffic answered in every cluster' });
    timings['traffic in every cluster'] = Date.now() - upStarted;

    const stopStarted = Date.now();
    await composeRun(['stop', 'us-east-hello-1', 'us-east-hello-2']);
    // Failed over: us-east's answers come from the other clusters only, three reports in a row.
    await waitUntil(async () => {
      const viaUsEast = (await reports()).slice(steady).filter((r) => r.via === 'us-east');
      return viaUsEast.length >= 3 && viaUsEast.slice(-3).every((r) => r.ok > 0 && r.shares['us-east'] === 0);
    }, { timeoutMs: 90_000, intervalMs: 1_000, what: "us-east's traffic answered by other clusters" });
    timings.failover = Date.now() - stopStarted;

    const after = (await reports()).slice(steady);
    const failing = after.filter((r) => r.failed > 0);
    expect(failing.map((r) => r.line)).toEqual([]);
    const last = after.filter((r) => r.via === 'us-east').at(-1)!;
    // us-west shares us-east's region, so it takes the traffic (failover.order: local, region, any).
    expect(last.shares['us-west']).toBe(100);
  });
});
