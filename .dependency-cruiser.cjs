// Enforces the layout of src/ (docs/architecture.md, Parts): no cycles between parts, arrows
// one way, and other folders reach a part only through its index.ts.
const part = (name) => `^src/${name}/`;

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'identity-imports-nothing-of-ours',
      severity: 'error',
      from: { path: part('identity') },
      to: { path: '^src/', pathNot: [part('identity'), part('result')] },
    },
    {
      name: 'config-imports-nothing-of-ours',
      severity: 'error',
      from: { path: part('config') },
      to: { path: '^src/', pathNot: [part('config'), part('result')] },
    },
    {
      name: 'result-imports-nothing',
      comment: 'The Result shape every part may use.',
      severity: 'error',
      from: { path: part('result') },
      to: { path: '^src/', pathNot: part('result') },
    },
    {
      name: 'telemetry-imports-nothing-of-ours',
      severity: 'error',
      from: { path: part('telemetry') },
      to: { path: '^src/', pathNot: part('telemetry') },
    },
    {
      name: 'failover-is-pure',
      severity: 'error',
      from: { path: part('failover') },
      to: { path: ['^src/', '^(node:)?(net|tls|http|http2|dgram|fs|child_process)$'], pathNot: [part('failover'), part('result')] },
    },
    {
      name: 'membership-imports-only-identity-and-result',
      severity: 'error',
      from: { path: part('membership') },
      to: { path: '^src/', pathNot: [part('membership'), part('identity'), part('result')] },
    },
    {
      name: 'test-support-stays-out-of-the-product',
      comment: 'A testing/ folder (in-memory network, manual scheduler) serves unit tests only and is not built.',
      severity: 'error',
      from: { path: '^src/', pathNot: '/testing/' },
      to: { path: ['/testing/', '^test/'] },
    },
    {
      name: 'nothing-imports-gateway-or-cli',
      comment: 'The preflight is part of the command: it runs the gateway\'s own probes and sessions once.',
      severity: 'error',
      from: { pathNot: ['^src/gateway/', '^src/preflight/', '^src/[^/]+\\.ts$'] },
      to: { path: ['^src/gateway/', '^src/[^/]+\\.ts$'] },
    },
    {
      name: 'only-the-command-imports-preflight',
      severity: 'error',
      from: { pathNot: ['^src/preflight/', '^src/[^/]+\\.ts$'] },
      to: { path: '^src/preflight/' },
    },
    {
      name: 'gateway-inbound-and-outbound-apart',
      comment: 'The listeners that accept requests and the clients that send them on share only src/gateway/protocol.',
      severity: 'error',
      from: { path: '^src/gateway/inbound/' },
      to: { path: '^src/gateway/outbound/' },
    },
    {
      name: 'gateway-outbound-and-inbound-apart',
      severity: 'error',
      from: { path: '^src/gateway/outbound/' },
      to: { path: '^src/gateway/inbound/' },
    },
    {
      name: 'gateway-proxy-knows-no-sockets',
      comment: 'The request path reaches listeners and upstreams only through the protocol types (Exchange, Forwarder).',
      severity: 'error',
      from: { path: '^src/gateway/proxy/' },
      to: { path: ['^src/gateway/(inbound|outbound|control|admin)/', '^(node:)?(net|tls|http|http2)$'] },
    },
    {
      name: 'gateway-protocol-is-shared-vocabulary',
      severity: 'error',
      from: { path: '^src/gateway/protocol/' },
      to: { path: '^src/gateway/(inbound|outbound|proxy|control|admin)/' },
    },
    {
      name: 'parts-only-through-index',
      comment: 'Another folder may import a part only through its index.ts.',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/([^/]+)/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'cli-only-through-index',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/[^/]+/', pathNot: '^src/[^/]+/index\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
