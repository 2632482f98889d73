// A NATS super-cluster for benches: one single-node NATS cluster per name on
// free loopback ports, linked by `gateway {}` blocks (each lists all the
// others), as meshgate clusters link their NATS.
//
// With `proxied`, every gateway link goes through a fault proxy run in this
// process (./fault-proxy.mjs), so that a bench can blackhole the link between
// two clusters while the others stay up. Servers gossip each other's gateway
// URLs and may dial any URL heard for a peer, so each server advertises its
// proxy as its only address; the proxy tells links apart by the gateway name in
// the CONNECT line the dialing server sends first (as the test harness does:
// test/harness/nats-topologies.ts).
//
// `pings` ({interval, max}) sets the servers' ping_interval/ping_max (clients,
// gateways alike): short pings make a server notice a blackholed link in
// seconds, as in the test harness; without it, NATS's defaults (2 min, 2).
//
// A server can be restarted on the same ports with the same config. An exit
// that was not asked for calls `onExit(server, code, tail)`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gatewayNameOfConnectLine, startFaultProxy } from './fault-proxy.mjs';
import { freePort } from './ports.mjs';
import { sleep } from './processes.mjs';

const STOP_GRACE_MS = 3_000;

export async function startNatsSuperCluster(names, { bin, dir, proxied = false, pings, onExit = () => {} }) {
  const servers = [];
  for (const name of names) servers.push({ name, client: await freePort(), monitor: await freePort(), gateway: await freePort(), tail: [], restarts: 0 });
  if (proxied) {
    for (const s of servers) s.proxy = await startFaultProxy({ host: '127.0.0.1', port: s.gateway }, { classify: gatewayNameOfConnectLine });
  }
  const dial = (s) => s.proxy?.address ?? `127.0.0.1:${s.gateway}`;
  for (const s of servers) {
    const conf = [
      `server_name: ${JSON.stringify(s.name)}`,
      `listen: "127.0.0.1:${s.client}"`,
      `http: "127.0.0.1:${s.monitor}"`,
      ...(pings ? [`ping_interval: ${JSON.stringify(pings.interval)}`, `ping_max: ${pings.max}`] : []),
      'gateway {',
      `  name: ${JSON.stringify(s.name)}`,
      `  listen: "127.0.0.1:${s.gateway}"`,
      ...(s.proxy ? [`  advertise: "${dial(s)}"`] : []),
      '  reject_unknown_cluster: true',
      '  gateways: [',
      ...servers.filter((o) => o !== s).map((o) => `    { name: ${JSON.stringify(o.name)}, urls: ["nats://${dial(o)}"] }`),
      '  ]',
      '}',
    ].join('\n');
    s.confFile = path.join(dir, `${s.name}.conf`);
    writeFileSync(s.confFile, conf + '\n');
  }

  const spawnServer = (s) => {
    // Own process group: a Ctrl-C reaches the bench, which then stops the servers itself.
    const child = spawn(bin, ['-c', s.confFile], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    s.proc = child;
    s.expectExit = false;
    const keep = (chunk) => {
      s.tail.push(...chunk.toString().split('\n').filter(Boolean));
      if (s.tail.length > 30) s.tail.splice(0, s.tail.length - 30);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('exit', (code, signal) => {
      if (!s.expectExit) onExit(s, code ?? signal, s.tail.join('\n'));
    });
  };
  for (const s of servers) spawnServer(s);

  const monitor = async (s, endpoint) => {
    const res = await fetch(`http://127.0.0.1:${s.monitor}${endpoint}`, { signal: AbortSignal.timeout(2_000) });
    return res.json();
  };
  const byName = (name) => {
    const s = servers.find((x) => x.name === name);
    if (!s) throw new Error(`no NATS server ${JSON.stringify(name)} (have ${names.join(', ')})`);
    return s;
  };
  /** What is still missing for every server to be healthy and linked both ways to every other ([] when none). */
  const missingLinks = async () => {
    const missing = [];
    for (const s of servers) {
      const health = await monitor(s, '/healthz').catch(() => undefined);
      if (health?.status !== 'ok') {
        missing.push(`${s.name} not healthy`);
        continue;
      }
      const gz = await monitor(s, '/gatewayz').catch(() => ({}));
      for (const o of servers) {
        if (o === s) continue;
        if (!gz.outbound_gateways?.[o.name]?.connection) missing.push(`${s.name}→${o.name}`);
        if (!(gz.inbound_gateways?.[o.name]?.length > 0)) missing.push(`${s.name}←${o.name}`);
      }
    }
    return missing;
  };
  const stop = async (s) => {
    s.expectExit = true;
    const child = s.proc;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  return {
    servers,
    monitor,
    missingLinks,
    server: byName,
    /** Both directions of the gateway link between clusters a and b ('pass' or 'blackhole'; needs `proxied`). */
    setLink(a, b, mode) {
      const sa = byName(a);
      const sb = byName(b);
      if (!sa.proxy || !sb.proxy) throw new Error('gateway links are not proxied: start the super-cluster with { proxied: true }');
      sb.proxy.mode(a, mode); // a's connections into b
      sa.proxy.mode(b, mode); // b's connections into a
    },
    /** Stops server `name` (SIGTERM, SIGKILL after 3 s), waits `downMs`, starts it again on the same ports and config. */
    async restart(name, downMs) {
      const s = byName(name);
      await stop(s);
      await sleep(downMs);
      s.restarts++;
      spawnServer(s);
    },
    /** Synchronous: for exit paths. */
    killAll() {
      for (const s of servers) {
        s.expectExit = true;
        try {
          if (s.proc && s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    async close() {
      await Promise.all(servers.map(stop));
      await Promise.all(servers.filter((s) => s.proxy).map((s) => s.proxy.close()));
    },
  };
}
