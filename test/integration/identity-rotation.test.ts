import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  CertificateAuthority,
  IdentityService,
  peerChain,
  tlsMaterial,
  verifyX509Svid,
  type X509Svid,
} from '../../src/identity/index.js';
import { useHarness } from '../harness/index.js';

const h = useHarness();
const HOUR = 3_600_000;
const TD = 'td.example';

/**
 * Rotation runs on a fake clock; the TLS is real. Both sides verify each
 * other with the SPIFFE rules at the fake time, as the federation listener does.
 */
describe('identity - signing CA rotation under a live TLS server', () => {
  it('keeps accepting SVIDs of the old and new CA and keeps open connections across the reload', async () => {
    let now = Date.now();
    const clock = () => now;
    const upstream = await CertificateAuthority.createRoot({ trustDomain: TD, ttlMs: 30 * 24 * HOUR, now: new Date(now) });
    const identity = new IdentityService({ trustDomain: TD, upstream, federation: [], svidTtlMs: HOUR, caTtlMs: 24 * HOUR, now: clock, random: () => 0.5 });
    await identity.start();
    h.onCleanup(() => identity.stop());
    const verify = (chain: Uint8Array[]) => verifyX509Svid(chain, identity.trustStore.bundleFor, new Date(now));

    const accepted: string[] = [];
    const server = tls.createServer(
      { ...tlsMaterial(await identity.svid(`spiffe://${TD}/server`)), requestCert: true, rejectUnauthorized: false },
      (socket) => {
        verify(peerChain(socket)).then(
          (peer) => {
            accepted.push(peer.spiffeId);
            socket.on('data', (d: Buffer) => socket.write(`echo ${d.toString()}`));
            socket.write(`hello ${peer.spiffeId}\n`);
          },
          () => socket.destroy(),
        );
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    h.onCleanup(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;

    const connect = (svid: X509Svid) =>
      new Promise<{ socket: tls.TLSSocket; greeting: string; serverIssuer: string }>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ...tlsMaterial(svid), rejectUnauthorized: false });
        h.onCleanup(() => socket.destroy());
        socket.once('error', reject);
        socket.once('secureConnect', () => {
          const chain = peerChain(socket);
          verify(chain).then(
            () => socket.once('data', (d: Buffer) => resolve({ socket, greeting: d.toString().trim(), serverIssuer: Buffer.from(chain[1]!).toString('base64') })),
            reject,
          );
        });
      });
    // 12 h: the next CA is prepared and published.
    now += 12 * HOUR;
    await identity.rotate();
    expect(identity.status().authorities.map((a) => a.state)).toEqual(['active', 'prepared']);
    expect(identity.ownBundle().x509Authorities).toHaveLength(3); // root, active, prepared

    // 19.5 h: a client with an SVID of the old CA opens a connection and keeps it.
    now += 7.5 * HOUR;
    server.setSecureContext(tlsMaterial(await identity.svid(`spiffe://${TD}/server`)));
    const oldClient = await identity.svid(`spiffe://${TD}/client-old`);
    const longLived = await connect(oldClient);
    expect(longLived.greeting).toBe(`hello spiffe://${TD}/client-old`);

    // 20 h: the new CA takes over; the old one stays published while its SVIDs live.
    now += 0.5 * HOUR;
    await identity.rotate();
    expect(identity.status().authorities.map((a) => a.state)).toEqual(['active', 'retired']);
    expect(identity.ownBundle().x509Authorities).toHaveLength(3); // root, new active, old retired

    // The server picks up its re-issued SVID without a restart.
    server.setSecureContext(tlsMaterial(await identity.svid(`spiffe://${TD}/server`)));
    const newClient = await identity.svid(`spiffe://${TD}/client-new`);
    expect(Buffer.from(newClient.chain[1]!).equals(Buffer.from(oldClient.chain[1]!))).toBe(false);

    const fromNew = await connect(newClient);
    const fromOld = await connect(oldClient);
    expect(fromNew.greeting).toBe(`hello spiffe://${TD}/client-new`);
    expect(fromOld.greeting).toBe(`hello spiffe://${TD}/client-old`);
    expect(fromNew.serverIssuer).not.toBe(longLived.serverIssuer);

    const echoed = await new Promise<string>((resolve) => {
      longLived.socket.once('data', (d: Buffer) => resolve(d.toString()));
      longLived.socket.write('still here');
    });
    expect(echoed).toBe('echo still here');
    expect(accepted).toEqual([`spiffe://${TD}/client-old`, `spiffe://${TD}/client-new`, `spiffe://${TD}/client-old`]);

    // Once every SVID the old CA signed has expired, it is retired for good.
    now += 1 * HOUR;
    await identity.rotate();
    expect(identity.status().authorities.map((a) => a.state)).toEqual(['active']);
    expect(identity.ownBundle().x509Authorities).toHaveLength(2);
  });
});
