import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Agent, request, type Dispatcher } from 'undici';
import { parseHostPort, type ServiceProtocol } from '../../config/index.js';

/**
 * The three ways an endpoint's health is asked, shared by the gateway's
 * running checks (HealthProber, which adds scheduling, thresholds and stall
 * awareness) and `meshgate check`'s one-shot probe: HTTP GET of the health
 * path (2xx passes), grpc.health.v1 Check (SERVING passes), TCP connect
 * (accepted passes).
 */

const HEALTH_PROTO = fileURLToPath(new URL('./health.proto', import.meta.url));

export type HealthClient = grpc.Client & {
  Check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): grpc.ClientUnaryCall;
};
let healthClientConstructor: grpc.ServiceClientConstructor | undefined;

/** A probe's failure, its message the reason shown to operators. */
export class ProbeFailure extends Error {
  override readonly name = 'ProbeFailure';
}

/** GET `path` on the endpoint; resolves with `status N` for a 2xx, else throws ProbeFailure. */
export async function probeHttp(endpoint: string, path: string, dispatcher: Dispatcher, capMs: number, signal: AbortSignal): Promise<string> {
  const once = () =>
    request(`http://${endpoint}${path}`, {
      dispatcher,
      method: 'GET',
      headersTimeout: capMs,
      bodyTimeout: capMs,
      signal,
      headers: { 'user-agent': 'meshgate-health' },
    });
  let res;
  try {
    res = await once().catch((err: Error & { code?: string }) => {
      // An endpoint may close a kept-alive connection just as a probe goes out on it: try once on a new one.
      if (!signal.aborted && (err.code === 'UND_ERR_SOCKET' || err.code === 'ECONNRESET')) return once();
      throw err;
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new ProbeFailure(`${e.code ?? 'error'}: ${e.message}`);
  }
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode > 299) throw new ProbeFailure(`status ${res.statusCode}`);
  return `status ${res.statusCode}`;
}

/** grpc.health.v1 Check of the whole server; resolves with `SERVING`, else throws ProbeFailure. */
export function probeGrpc(client: HealthClient, capMs: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    // The caller's deadline is the real one; grpc-js's only bounds a call it forgot.
    const deadline = Date.now() + capMs;
    const call = client.Check({ service: '' }, { deadline }, (err, res) => {
      if (err) return reject(new ProbeFailure(`grpc ${grpc.status[err.code]}: ${err.details}`));
      if (res?.status !== 'SERVING') return reject(new ProbeFailure(`grpc health ${res?.status ?? 'UNKNOWN'}`));
      resolve('SERVING');
    });
    signal.addEventListener('abort', () => call.cancel(), { once: true });
  });
}

export function createHealthClient(endpoint: string): HealthClient {
  healthClientConstructor ??= (
    grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, { keepCase: true, enums: String })) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    }
  ).grpc.health.v1.Health;
  return new healthClientConstructor(endpoint, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

/** Opens a connection and closes it at once: what a TCP service's check can say without speaking its protocol. */
export function probeTcp(endpoint: string, signal: AbortSignal): Promise<string> {
  const { host, port } = parseHostPort(endpoint);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const abort = () => socket.destroy();
    signal.addEventListener('abort', abort, { once: true });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => reject(new ProbeFailure(`${err.code ?? 'error'}: ${err.message}`)));
    socket.once('close', () => signal.removeEventListener('abort', abort));
  });
}

/** How a service's endpoints are checked: its protocol, and the path for HTTP. */
export interface OneShotProbe {
  readonly protocol: ServiceProtocol;
  readonly path: string;
  readonly timeoutMs: number;
}

export type OneShotOutcome = { readonly ok: boolean; readonly reason: string };

/**
 * One check of one endpoint, as the gateway's first probe of it would go,
 * on a fresh connection closed afterwards. Never rejects; a probe with no
 * answer within `timeoutMs` fails.
 */
export async function probeEndpointOnce(endpoint: string, probe: OneShotProbe): Promise<OneShotOutcome> {
  const abort = new AbortController();
  const started = performance.now();
  const agent = probe.protocol === 'http' ? new Agent({ connections: 1, connect: { timeout: probe.timeoutMs } }) : undefined;
  const client = probe.protocol === 'grpc' ? createHealthClient(endpoint) : undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeFailure(`timeout: no answer in ${probe.timeoutMs} ms`)), probe.timeoutMs);
  });
  const attempt = client ? probeGrpc(client, probe.timeoutMs, abort.signal) : agent ? probeHttp(endpoint, probe.path, agent, probe.timeoutMs, abort.signal) : probeTcp(endpoint, abort.signal);
  attempt.catch(() => undefined);
  try {
    const reason = await Promise.race([attempt, timeout]);
    return { ok: true, reason: `${reason} in ${Math.round(performance.now() - started)} ms` };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  } finally {
    clearTimeout(timer);
    abort.abort();
    client?.close();
    await agent?.destroy().catch(() => undefined);
  }
}
