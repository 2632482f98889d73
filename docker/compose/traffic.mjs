// The demo's traffic generator: RATE requests a second to SERVICE through each gateway
// in GATEWAYS, and every REPORT_SECONDS one line per gateway with the answers' share
// per cluster (from the service's x-cluster header) and the failures, e.g.
//   traffic via us-east: 20 ok, 0 failed | us-east 100% us-west 0% eu-west 0%
import http from 'node:http';

const gateways = (process.env.GATEWAYS ?? 'us-east=us-east-gateway:4140')
  .split(',')
  .map((entry) => {
    const [name, address] = entry.split('=');
    const i = address.lastIndexOf(':');
    return { name, host: address.slice(0, i), port: Number(address.slice(i + 1)) };
  });
const clusters = (process.env.CLUSTERS ?? 'us-east,us-west,eu-west').split(',');
const service = process.env.SERVICE ?? 'hello';
const rate = Number(process.env.RATE ?? 10);
const reportMs = Number(process.env.REPORT_SECONDS ?? 2) * 1000;
const agent = new http.Agent({ keepAlive: true });

/** One GET through a gateway: the cluster that answered, or why it failed. */
function call(gw) {
  return new Promise((resolve) => {
    const req = http.get({ host: gw.host, port: gw.port, path: '/', headers: { host: service }, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve(res.statusCode === 200 ? { cluster: String(res.headers['x-cluster']) } : { failure: `${res.statusCode} ${res.headers['meshgate-error'] ?? ''}`.trim() }),
      );
      res.on('error', (err) => resolve({ failure: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ failure: err.code ?? err.message }));
  });
}

const tallies = new Map(gateways.map((gw) => [gw.name, { ok: 0, byCluster: new Map(), failures: new Map() }]));
for (const gw of gateways) {
  setInterval(async () => {
    const outcome = await call(gw);
    const t = tallies.get(gw.name);
    if (outcome.cluster !== undefined) {
      t.ok++;
      t.byCluster.set(outcome.cluster, (t.byCluster.get(outcome.cluster) ?? 0) + 1);
    } else t.failures.set(outcome.failure, (t.failures.get(outcome.failure) ?? 0) + 1);
  }, 1000 / rate);
}

setInterval(() => {
  for (const [name, t] of tallies) {
    const failed = [...t.failures.values()].reduce((a, b) => a + b, 0);
    const shares = clusters.map((c) => `${c} ${t.ok ? Math.round((100 * (t.byCluster.get(c) ?? 0)) / t.ok) : 0}%`).join(' ');
    const why = failed ? ` (${[...t.failures].map(([reason, n]) => `${reason} ×${n}`).join(', ')})` : '';
    console.log(`traffic via ${name}: ${t.ok} ok, ${failed} failed${why} | ${shares}`);
    tallies.set(name, { ok: 0, byCluster: new Map(), failures: new Map() });
  }
}, reportMs);

console.log(`traffic: ${rate} requests/s to ${service} through ${gateways.map((g) => `${g.name} (${g.host}:${g.port})`).join(', ')}`);
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
