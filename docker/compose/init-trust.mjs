// One-shot: the demo federation's trust, made once into the pki volume: a shared root and
// one intermediate per cluster under it (`meshgate ca init`, then `--parent`). Kept as
// they are on later starts. The gateways run as OWNER (the image's user), so the files
// are handed to it; a real federation keeps the root's key offline, not beside the
// intermediates.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.PKI_DIR ?? '/var/lib/meshgate/pki';
const domain = process.env.TRUST_DOMAIN ?? 'demo.example';
const clusters = (process.env.CLUSTERS ?? 'us-east,us-west,eu-west').split(',');
const [uid, gid] = (process.env.OWNER ?? '1000:1000').split(':').map(Number);
const cli = process.env.MESHGATE_CLI ?? '/app/dist/cli.js';

const ca = (...args) => execFileSync(process.execPath, [cli, 'ca', 'init', ...args], { stdio: 'inherit' });
const made = (out) => existsSync(path.join(out, 'ca.pem'));

const root = path.join(dir, 'root');
if (made(root)) console.log(`trust: keeping the root in ${root}`);
else ca('--trust-domain', domain, '--out', root);
for (const cluster of clusters) {
  const out = path.join(dir, cluster);
  if (made(out)) console.log(`trust: keeping ${cluster}'s intermediate in ${out}`);
  else ca('--trust-domain', `${cluster}.${domain}`, '--parent', root, '--out', out);
}

const chownTree = (p) => {
  chownSync(p, uid, gid);
  if (statSync(p).isDirectory()) for (const name of readdirSync(p)) chownTree(path.join(p, name));
};
chownTree(dir);
console.log(`trust: ready in ${dir} (root ${domain}; intermediates ${clusters.join(', ')})`);
