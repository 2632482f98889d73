import { connect } from 'nats';
import { redactUrl } from '../config/index.js';
import { formatMemberId, natsConnectionOptions } from '../membership/index.js';
import { failed, passed, type CheckResult } from './result.js';

export interface NatsCheckInput {
  readonly servers: readonly string[];
  readonly federation: string;
  readonly cluster: string;
  readonly replica: string;
  readonly timeoutMs: number;
}

/**
 * Connects to the cluster's NATS with the gateway's own connection options
 * (TLS and credentials in the URLs included), once and without reconnecting,
 * and waits for the server to answer a PING. Subscribes and publishes
 * nothing: the preflight must not show up in anyone's gossip.
 */
export const natsCheckName = (servers: readonly string[]) => `NATS ${servers.map(redactUrl).join(', ')}`;

export async function checkNats(input: NatsCheckInput, signal: AbortSignal): Promise<CheckResult> {
  const name = natsCheckName(input.servers);
  const memberId = formatMemberId(input.cluster, input.replica);
  const options = natsConnectionOptions({
    servers: [...input.servers],
    federation: input.federation,
    memberId,
    name: `meshgate-check-${memberId}`,
    connection: { reconnect: false, maxReconnectAttempts: 0, timeout: input.timeoutMs },
  });
  try {
    const nc = await connect(options);
    const close = () => void nc.close().catch(() => undefined);
    signal.addEventListener('abort', close, { once: true });
    try {
      await nc.flush();
      const info = nc.info;
      const where = info ? `server ${info.server_name}${info.cluster ? ` of NATS cluster ${info.cluster}` : ''}` : 'a server';
      return passed(name, `connected to ${where}`);
    } finally {
      signal.removeEventListener('abort', close);
      await nc.close().catch(() => undefined);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    return failed(
      name,
      `cannot connect (${e.code ?? e.message})`,
      'start NATS there or correct nats.servers; until it answers, this gateway serves only its own cluster and no other cluster hears of it',
    );
  }
}
