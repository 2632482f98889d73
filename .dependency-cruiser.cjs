// Enforces DESIGN.md "Parts": no cycles, arrows one way, and other folders
// reach a part only through its index.ts.
const part = (name) => `^src/${name}/`;

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'identity-imports-nothing-of-ours',
      severity: 'error',
      from: { path: part('identity') },
      to: { path: '^src/', pathNot: part('identity') },
    },
    {
      name: 'config-imports-nothing-of-ours',
      severity: 'error',
      from: { path: part('config') },
      to: { path: '^src/', pathNot: part('config') },
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
      to: { path: ['^src/', '^(node:)?(net|tls|http|http2|dgram|fs|child_process)$'], pathNot: part('failover') },
    },
    {
      name: 'membership-imports-only-identity',
      severity: 'error',
      from: { path: part('membership') },
      to: { path: '^src/', pathNot: [part('membership'), part('identity')] },
    },
    {
      name: 'nothing-imports-gateway-or-cli',
      severity: 'error',
      from: { pathNot: ['^src/gateway/', '^src/[^/]+\\.ts$'] },
      to: { path: ['^src/gateway/', '^src/[^/]+\\.ts$'] },
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
