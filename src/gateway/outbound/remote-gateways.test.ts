import { describe, expect, it } from 'vitest';
import type { TimeoutsConfig } from '../../config/index.js';
import { isGatewayError } from '../errors.js';
import type { InboundRequest } from '../protocol/exchange.js';
import { RemoteGatewayPool } from './remote-gateways.js';

const timeouts = { connectMs: 1_000, perTryMs: 1_000, requestMs: 1_000 } as TimeoutsConfig;

describe('RemoteGatewayPool', () => {
  it.each(['gw-b:', 'gw-b', '[::1:4143', '127.0.0.1:99999'])(
    'refuses a gossiped address that is not host:port (%s) as a connect failure, without dialling',
    async (address) => {
      const pool = new RemoteGatewayPool({
        svid: () => {
          throw new Error('no certificate is needed to refuse an address');
        },
        bundleFor: () => undefined,
      });
      const target = { memberId: 'b.r1', cluster: 'b', address, spiffeId: 'spiffe://b.test.example/meshgate/gateway/b/r1' };
      const err: unknown = await pool.forward(target, {}, {} as InboundRequest, timeouts).catch((e: unknown) => e);
      expect(isGatewayError(err)).toBe(true);
      // The message quotes what was gossiped, and says why it is not an address.
      expect(err).toMatchObject({ code: 'upstream-connect', message: expect.stringContaining(JSON.stringify(address)) as string });
      expect(pool.status()).toEqual(expect.anything());
      pool.close();
    },
  );
});
