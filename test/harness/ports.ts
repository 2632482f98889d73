/**
 * Free TCP ports on 127.0.0.1, for processes that need a port in their config
 * file before they start (nats-server). Servers we run in-process bind port 0
 * instead and never need this.
 */
import { freePort as bindEphemeral } from '../../src/demo/free-port.js';

/**
 * Ports handed out by this process. The kernel may give the same ephemeral port
 * to two consecutive listen(0) calls once the first is closed; two configs with
 * the same port would collide, so we never hand out a port twice.
 */
const issued = new Set<number>();
const MAX_REMEMBERED = 20_000;
const MAX_ATTEMPTS = 50;

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await bindEphemeral();
    if (!issued.has(port)) {
      if (issued.size >= MAX_REMEMBERED) issued.clear();
      issued.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no unused port on 127.0.0.1 after ${MAX_ATTEMPTS} attempts`);
}

/** Several distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}
