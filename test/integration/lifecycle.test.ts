import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { gatewayConfig, httpRequest, metricWith, runCli, useHarness, waitUntil, writeConfig } from '../harness/index.js';

const h = useHarness();

describe('cli - config errors', () => {
  it('exits 2 and names the field for a typo and a bad endpoint', async () => {
    const dir = await h.tempDir();
    const file = await writeConfig(
      dir,
      [
        'federation: acme',
        'cluster: us-east',
        'services:',
        '  payments:',
        '    endpoints: ["127.0.0.1:8080", "127.0.0.1:abc"]',
        '    exprot: true',
        '',
      ].join('\n'),
    );

    for (const command of ['check', 'run']) {
      const result = await runCli([command, '--config', file]);
      expect(result.code, result.output).toBe(2);
      expect(result.output).toContain('config error: services.payments.endpoints[1]: "127.0.0.1:abc" is not host:port');
      expect(result.output).toContain('config error: services.payments: unknown key "exprot" (did you mean "export"?)');
    }
  });

  it('exits 2 and names the field for an allow pattern that is no SPIFFE ID pattern', async () => {
    const dir = await h.tempDir();
    const file = await writeConfig(dir, gatewayConfig({ payments: { endpoints: ['127.0.0.1:8080'], export: true, allow: ['spiffe://*.acme.example/ok/*', 'spiffe://acme.example/a//b'] } }));
    for (const command of ['check', 'run']) {
      const result = await runCli([command, '--config', file]);
      expect(result.code, result.output).toBe(2);
      expect(result.output).toMatch(/config error: services\.payments\.allow\[1\]: \S/);
    }
  });

  it('exits 2 for a missing file and for an unknown flag, naming them', async () => {
    const missing = await runCli(['run', '--config', '/nonexistent/meshgate.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain('/nonexistent/meshgate.yaml');

    const flag = await runCli(['run', '--confg', 'x.yaml']);
    expect(flag.code).toBe(2);
    expect(flag.output).toContain('--confg');
  });

  it('check --offline prints a summary of a valid config and exits 0', async () => {
    const result = await runCli(['check', '--offline', '--config', 'examples/quickstart.yaml']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('hello: http, 2 endpoints');
  });

  it('version prints the package version', async () => {
    const result = await runCli(['version']);
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/^meshgate \d+\.\d+\.\d+/);
  });

  it('exits 1 when a listener cannot be bound', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    h.onCleanup(() => new Promise<void>((r) => blocker.close(() => r())));
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = await h.tempDir();
    const file = await writeConfig(dir, gatewayConfig({}, { listeners: { local: `127.0.0.1:${port}`, admin: '127.0.0.1:0' } }));

    const result = await runCli(['run', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.output).toContain('EADDRINUSE');
  });
});

describe('gateway - graceful drain', () => {
  it('on SIGTERM stops accepting, lets an in-flight request finish, and exits 0', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }, { limits: { drainTimeout: '10s' } }));

    const slow = gw.request('web', '/slow?ms=1500', { timeoutMs: 10_000 });
    await waitUntil(() => backend.requests.count === 1, { timeoutMs: 5_000, what: 'the slow request to reach the backend' });
    gw.process.kill('SIGTERM');
    await gw.process.waitForLine((l) => l.includes('"draining"'), 5_000);

    const refused = await httpRequest(`${gw.localUrl}/`, { headers: { host: 'web' } }).catch((err: NodeJS.ErrnoException) => err.code);
    const finished = await slow;
    const exit = await gw.process.waitForExit(10_000);

    expect(refused).toBe('ECONNREFUSED');
    expect(finished.status).toBe(200);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('cuts off requests still running at the drain timeout and still exits 0', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }, { limits: { drainTimeout: '300ms' } }));

    const stuck = gw.request('web', '/slow?ms=20000', { timeoutMs: 15_000 }).catch((err: NodeJS.ErrnoException) => err.code);
    await waitUntil(() => backend.requests.count === 1, { timeoutMs: 5_000, what: 'the request to reach the backend' });
    gw.process.kill('SIGTERM');

    expect(await gw.process.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    expect(await stuck).toBe('ECONNRESET');
  });
});

describe('gateway - hostile clients on the local listener', () => {
  it('answers 431 to oversized headers and keeps serving', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }, { limits: { maxHeaderBytes: 8192 } }));

    const big = await gw.request('web', '/echo', { headers: { 'x-big': 'a'.repeat(16_384) } });
    const fine = await gw.request('web', '/echo');

    expect(big.status).toBe(431);
    expect(big.headers['meshgate-error']).toBe('header-too-large');
    expect(fine.status).toBe(200);
    expect(await metricWith(gw, 'meshgate_client_errors_total', { reason: 'header-too-large' })).toBe(1);
  });

  it('answers hostile admin paths and odd request targets without falling over', async () => {
    const backend = await h.httpBackend();
    const gw = await h.gateway(gatewayConfig({ web: { endpoints: [backend.address] } }));

    for (const path of ['/debug/__proto__', '/debug/constructor', '/debug/valueOf']) {
      expect((await httpRequest(`${gw.adminUrl}${path}`)).status).toBe(404);
    }
    const [host, port] = gw.localAddress.split(':');
    const star = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), host, () => socket.write('OPTIONS * HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n'));
      h.onCleanup(() => socket.destroy());
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString()));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
    expect(star).toMatch(/^HTTP\/1\.1 400 /);
    expect(star).toContain('meshgate-error: bad-request');
    const upload = await gw.request('web', '/upload', { method: 'POST', body: 'x'.repeat(1000), headers: { expect: '100-continue' } });
    expect(upload.status).toBe(200);
    expect((await httpRequest(`${gw.adminUrl}/live`)).status).toBe(200);
  });

  it('closes a connection whose headers never finish, and one that sends nothing', async () => {
    const gw = await h.gateway(gatewayConfig({}, { limits: { headersTimeout: '500ms' } }));
    const [host, port] = gw.localAddress.split(':');

    const slowloris = async (first: string) => {
      const socket = net.connect(Number(port), host);
      h.onCleanup(() => socket.destroy());
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString()));
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      if (first) socket.write(first);
      await new Promise((r) => socket.once('close', r));
      return answer;
    };

    const partial = await slowloris('GET / HTTP/1.1\r\nHost: web\r\nX-Slow: ');
    const silent = await slowloris('');

    expect(partial).toMatch(/^HTTP\/1\.1 408 /);
    expect(silent).toBe('');
    expect(await metricWith(gw, 'meshgate_client_errors_total', { reason: 'headers-timeout' })).toBe(2);
  });
});
