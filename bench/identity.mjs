// X509-SVID issuance and verification throughput, against our target of
// ≥ 1,000 SVIDs issued per second on one core.
//
//   npm run build && node bench/identity.mjs
//
// Each operation runs one at a time (awaited in turn), so at most one core is
// busy even where Node hands work to its thread pool (key generation). Each
// row is bounded by time and by iterations, whichever comes first.
import { generateKeyPairSync } from 'node:crypto';
import { CertificateAuthority, verifyX509Svid } from '../dist/identity/index.js';

const DURATION_MS = 2_000;
const MAX_ITERATIONS = 20_000;
const WARMUP_ITERATIONS = 50;
const ISSUE_TARGET_PER_S = 1_000;
// More leaves than x509-verify's parse cache holds, so "distinct" never hits it.
const DISTINCT_LEAVES = 2_000;

async function measure(operation) {
  for (let i = 0; i < WARMUP_ITERATIONS; i++) await operation(i);
  const start = performance.now();
  let iterations = 0;
  while (iterations < MAX_ITERATIONS && performance.now() - start < DURATION_MS) {
    await operation(iterations);
    iterations++;
  }
  const seconds = (performance.now() - start) / 1000;
  return { iterations, seconds, perSecond: iterations / seconds };
}

const now = new Date();
const td = 'us-east.acme.example';
const root = await CertificateAuthority.createRoot({ trustDomain: 'acme.example', now });
const intermediate = await root.createIntermediate({ trustDomain: td, now });
const bundle = { trustDomain: td, x509Authorities: [root.rootDer], jwtAuthorities: [] };
const bundleFor = (domain) => (domain === td ? bundle : undefined);
const id = (i) => `spiffe://${td}/ns/bench/sa/w${i}`;
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const oneSvid = await intermediate.issueX509Svid({ spiffeId: id(0), now });
const manySvids = [];
for (let i = 0; i < DISTINCT_LEAVES; i++) manySvids.push(await intermediate.issueX509Svid({ spiffeId: id(i), now }));

const rows = [
  ['issue X509-SVID (new P-256 key)', await measure((i) => intermediate.issueX509Svid({ spiffeId: id(i), now })), ISSUE_TARGET_PER_S],
  ['sign X509-SVID (given public key)', await measure((i) => intermediate.signX509Svid({ spiffeId: id(i), now, publicKey })), undefined],
  ['verify X509-SVID, same chain', await measure(() => verifyX509Svid(oneSvid.chain, bundleFor, now)), undefined],
  ['verify X509-SVID, distinct leaves', await measure((i) => verifyX509Svid(manySvids[i % DISTINCT_LEAVES].chain, bundleFor, now)), undefined],
];

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const header = ['operation', 'per second', 'iterations', 'seconds', 'target', 'result'];
const lines = rows.map(([name, r, target]) => [
  name,
  fmt(r.perSecond),
  fmt(r.iterations),
  r.seconds.toFixed(2),
  target === undefined ? '—' : `≥ ${fmt(target)}/s`,
  target === undefined ? '' : r.perSecond >= target ? `meets (${(r.perSecond / target).toFixed(1)}×)` : `MISSES (${(r.perSecond / target).toFixed(2)}×)`,
]);
const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
const row = (cells) => `| ${cells.map((cell, c) => (c === 0 || c === 5 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ')} |`;

console.log(`identity: X509-SVIDs, ECDSA P-256, chain leaf → intermediate → root (Node ${process.version}, ${DURATION_MS / 1000} s or ${fmt(MAX_ITERATIONS)} iterations per row)`);
console.log(row(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const l of lines) console.log(row(l));
