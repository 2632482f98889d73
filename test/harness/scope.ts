/**
 * useHarness(): the one entry point a test file needs. Everything started
 * through the returned object is registered for teardown, and a vitest
 * afterEach tears it all down after every test, passed or failed, newest
 * first. A failing teardown step does not stop the others; all failures are
 * reported together.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions, NatsConnection } from 'nats';
import { afterEach } from 'vitest';
import { startH2cBackend, startHttpBackend, type BackendHandler, type HttpBackend, type HttpBackendOptions } from './backends.js';
import { CleanupStack, type CleanupFn } from './cleanup.js';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions, type FaultTarget } from './fault-proxy.js';
import { startGrpcBackend, type GrpcBackend, type GrpcBackendOptions } from './grpc-backend.js';
import { createEchoClient, type EchoClient, type GrpcClientOptions } from './grpc-client.js';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats.js';
import { connectNats } from './nats-client.js';
import {
  startNatsHubWithLeaves,
  startNatsSuperCluster,
  type NatsHubWithLeaves,
  type NatsSuperCluster,
  type TopologyOptions,
} from './nats-topologies.js';
import { startGateway, writeConfig, type GatewayProcess } from './gateway-process.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';
import { freePort } from './ports.js';
import { spawnTracked, type ManagedProcess, type SpawnTrackedOptions } from './processes.js';

export interface Harness {
  /** Runs `fn` at teardown (newest first). */
  onCleanup(fn: CleanupFn, label?: string): void;
  /** A fresh directory under the OS temp dir, removed at teardown. */
  tempDir(prefix?: string): Promise<string>;
  freePort(): Promise<number>;
  /** A child process, stopped at teardown (SIGCONT, SIGTERM, SIGKILL after 3 s). */
  spawn(cmd: string, args?: readonly string[], opts?: SpawnTrackedOptions): Promise<ManagedProcess>;
  natsServer(opts?: NatsServerOptions): Promise<NatsServer>;
  natsSuperCluster(names: readonly string[], opts?: TopologyOptions): Promise<NatsSuperCluster>;
  natsHubWithLeaves(leafNames: readonly string[], opts?: TopologyOptions & { hubName?: string }): Promise<NatsHubWithLeaves>;
  /** A nats.js connection, closed at teardown. */
  natsConnect(serversOrOptions: string | string[] | ConnectionOptions): Promise<NatsConnection>;
  httpBackend(handlerOrOptions?: BackendHandler | HttpBackendOptions): Promise<HttpBackend>;
  h2cBackend(handlerOrOptions?: BackendHandler | HttpBackendOptions): Promise<HttpBackend>;
  grpcBackend(opts?: GrpcBackendOptions): Promise<GrpcBackend>;
  /** An Echo client for 'host:port', closed at teardown. */
  grpcClient(target: string, opts?: GrpcClientOptions): EchoClient;
  faultProxy(target: FaultTarget, opts?: FaultProxyOptions): Promise<FaultProxy>;
  /** An OTLP/HTTP receiver that keeps the spans and metrics it is sent. */
  otlpReceiver(): Promise<OtlpReceiver>;
  /** A gateway process from the built CLI, with this config (an object is written as YAML) and these extra environment variables. */
  gateway(config: unknown, env?: Readonly<Record<string, string>>): Promise<GatewayProcess>;
}

/** Call once at the top of a test file (outside describe/it). */
export function useHarness(): Harness {
  const stack = new CleanupStack();
  afterEach(async () => {
    await stack.runOrThrow('test teardown');
  });

  /** Starts something and registers its teardown before handing it out. */
  async function track<T>(label: string, start: () => Promise<T>, teardown: (thing: T) => unknown): Promise<T> {
    const thing = await start();
    stack.add(() => teardown(thing), label);
    return thing;
  }

  return {
    onCleanup(fn, label) {
      stack.add(fn, label);
    },

    async tempDir(prefix = 'meshgate-test-') {
      const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
      stack.add(() => rm(dir, { recursive: true, force: true }), `remove ${dir}`);
      return dir;
    },

    freePort,

    spawn(cmd, args = [], opts = {}) {
      return track(`process ${opts.name ?? path.basename(cmd)}`, () => spawnTracked(cmd, args, opts), (p) => p.stop());
    },

    natsServer(opts = {}) {
      return track(`nats-server ${opts.name ?? 'nats'}`, () => startNatsServer(opts), (s) => s.close());
    },

    natsSuperCluster(names, opts = {}) {
      return track(`NATS super-cluster ${names.join(',')}`, () => startNatsSuperCluster(names, opts), (c) => c.close());
    },

    natsHubWithLeaves(leafNames, opts = {}) {
      return track(`NATS hub with leaves ${leafNames.join(',')}`, () => startNatsHubWithLeaves(leafNames, opts), (t) => t.close());
    },

    natsConnect(serversOrOptions) {
      return track('NATS connection', () => connectNats(serversOrOptions), (nc) => nc.close());
    },

    httpBackend(handlerOrOptions) {
      return track('HTTP backend', () => startHttpBackend(handlerOrOptions), (b) => b.stop());
    },

    h2cBackend(handlerOrOptions) {
      return track('h2c backend', () => startH2cBackend(handlerOrOptions), (b) => b.stop());
    },

    grpcBackend(opts = {}) {
      return track(`gRPC backend ${opts.name ?? ''}`, () => startGrpcBackend(opts), (b) => b.stop());
    },

    grpcClient(target, opts = {}) {
      const client = createEchoClient(target, opts);
      stack.add(() => client.close(), `gRPC client for ${target}`);
      return client;
    },

    faultProxy(target, opts = {}) {
      return track(`fault proxy to ${target.host}:${target.port}`, () => startFaultProxy(target, opts), (p) => p.close());
    },

    otlpReceiver() {
      return track('OTLP receiver', () => startOtlpReceiver(), (r) => r.close());
    },

    async gateway(config, env) {
      const dir = await this.tempDir('meshgate-gw-');
      const file = await writeConfig(dir, config);
      return startGateway(file, (cmd, args, opts) => this.spawn(cmd, args, env ? { ...opts, env: { ...process.env, ...env } } : opts));
    },
  };
}
