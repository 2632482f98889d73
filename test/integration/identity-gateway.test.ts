import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, verifyX509Svid, writeCaDir, type TrustBundle } from '../../src/identity/index.js';
import { gatewayConfig, getJson, useHarness, waitUntil } from '../harness/index.js';

const h = useHarness();

// Only the official proto: what go-spiffe or spiffe-helper would use.
const PROTO = fileURLToPath(new URL('../../src/identity/workload-api.proto', import.meta.url));
const WorkloadApi = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true }))[
  'SpiffeWorkloadAPI'
] as grpc.ServiceClientConstructor;

interface X509SvidResponse {
  svids: { spiffe_id: string; x509_svid: Buffer; x509_svid_key: Buffer; bundle: Buffer }[];
  federated_bundles: Record<string, Buffer>;
}

/** Splits concatenated DER certificates by their outer SEQUENCE lengths. */
function splitDer(buf: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < buf.length; ) {
    const lenByte = buf[off + 1]!;
    const [len, header] = lenByte < 0x80 ? [lenByte, 2] : [buf.readUIntBE(off + 2, lenByte & 0x7f), 2 + (lenByte & 0x7f)];
    out.push(new Uint8Array(buf.subarray(off, off + header + len)));
    off += header + len;
  }
  return out;
}

async function newCa(trustDomain: string): Promise<string> {
  const dir = path.join(await h.tempDir(), 'ca');
  await writeCaDir(dir, await CertificateAuthority.createRoot({ trustDomain, ttlMs: 24 * 3_600_000, now: new Date() }));
  return dir;
}

interface IdentityStatus {
  gatewaySpiffeId: string;
  authorities: { state: string }[];
  bundles: { trustDomain: string; source?: string; jwtAuthorities: number; ageMs?: number; lastError?: string }[];
}

describe('meshgate run - identity', () => {
  it('serves the Workload API on its socket to a client that knows only the official proto', async () => {
    const dir = await h.tempDir();
    const socket = path.join(dir, 'workload.sock');
    const workload = 'spiffe://us-east.acme.example/ns/shop/sa/web';
    const gw = await h.gateway(
      gatewayConfig(
        {},
        {
          replica: 'gw-1',
          identity: {
            trustDomain: 'us-east.acme.example',
            ca: await newCa('us-east.acme.example'),
            workloadApi: { socket, entries: [{ spiffeId: workload, selectors: [`unix:uid:${process.getuid!()}`] }] },
          },
        },
      ),
    );

    const client = new WorkloadApi(`unix://${socket}`, grpc.credentials.createInsecure());
    h.onCleanup(() => client.close());
    const md = new grpc.Metadata();
    md.set('workload.spiffe.io', 'true');
    const call = (client as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<X509SvidResponse>>)[
      'FetchX509SVID'
    ]!({}, md);
    h.onCleanup(() => call.cancel());
    const first = await new Promise<X509SvidResponse>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
    });

    expect(first.svids).toHaveLength(1);
    const svid = first.svids[0]!;
    expect(svid.spiffe_id).toBe(workload);
    const bundle: TrustBundle = { trustDomain: 'us-east.acme.example', x509Authorities: splitDer(svid.bundle), jwtAuthorities: [] };
    const verified = await verifyX509Svid(splitDer(svid.x509_svid), (td) => (td === bundle.trustDomain ? bundle : undefined), new Date());
    expect(verified.spiffeId).toBe(workload);

    const bundles = (client as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>>)[
      'FetchX509Bundles'
    ]!({}, md);
    h.onCleanup(() => bundles.cancel());
    const firstBundles = await new Promise<{ bundles: Record<string, Buffer> }>((resolve, reject) => {
      bundles.once('data', resolve);
      bundles.once('error', reject);
    });
    expect(Object.keys(firstBundles.bundles)).toEqual(['spiffe://us-east.acme.example']);
    expect(splitDer(firstBundles.bundles['spiffe://us-east.acme.example']!).length).toBeGreaterThanOrEqual(1);

    const status = await getJson<IdentityStatus>(`${gw.adminUrl}/debug/identity`);
    expect(status.gatewaySpiffeId).toBe('spiffe://us-east.acme.example/meshgate/gateway/c1/gw-1');
    expect(status.authorities.map((a) => a.state)).toEqual(['active']);
  });
});

describe('meshgate run - bundle endpoint federation', () => {
  it('fetches a federated domain bundle over https_spiffe, keeps it when the endpoint dies, and reports its age', async () => {
    const [portA, portB] = [await h.freePort(), await h.freePort()];
    const caA = await newCa('a.example');
    const caB = await newCa('b.example');
    const identity = (own: string, ca: string, port: number, peer: string, peerCa: string, peerPort: number, peerId?: string) => ({
      trustDomain: own,
      ca,
      bundleEndpoint: `127.0.0.1:${port}`,
      bundleRefreshHint: '1s',
      federation: [
        {
          trustDomain: peer,
          bundle: path.join(peerCa, 'bundle.pem'),
          bundleEndpoint: `https://127.0.0.1:${peerPort}`,
          endpointSpiffeId: peerId ?? `spiffe://${peer}/meshgate/identity`,
        },
      ],
    });
    const a = await h.gateway(gatewayConfig({}, { cluster: 'a', identity: identity('a.example', caA, portA, 'b.example', caB, portB) }));
    const b = await h.gateway(gatewayConfig({}, { cluster: 'b', identity: identity('b.example', caB, portB, 'a.example', caA, portA) }));

    const bundleOf = async (gw: typeof a, td: string) =>
      (await getJson<IdentityStatus>(`${gw.adminUrl}/debug/identity`)).bundles.find((x) => x.trustDomain === td);
    // The bootstrap PEM file has no JWT keys: seeing them proves the endpoint was read.
    await waitUntil(async () => (await bundleOf(b, 'a.example'))?.jwtAuthorities === 1, {
      timeoutMs: 15_000,
      what: "b to fetch a's bundle from its endpoint",
    });
    const fresh = await bundleOf(b, 'a.example');
    expect(fresh?.source).toBe('endpoint');
    expect(fresh?.lastError).toBeUndefined();
    await waitUntil(async () => (await bundleOf(a, 'b.example'))?.source === 'endpoint', { timeoutMs: 15_000, what: "a to fetch b's bundle" });

    a.process.kill('SIGKILL');
    await waitUntil(async () => (await bundleOf(b, 'a.example'))?.lastError !== undefined, {
      timeoutMs: 15_000,
      what: 'b to notice that a\'s endpoint is gone',
    });
    const stale = await bundleOf(b, 'a.example');
    expect(stale).toMatchObject({ source: 'endpoint', jwtAuthorities: 1 });
    expect(stale?.ageMs).toBeGreaterThan(0);
  });

  it('refuses a bundle endpoint whose SVID is not the configured endpointSpiffeId', async () => {
    const [portA, portB] = [await h.freePort(), await h.freePort()];
    const caA = await newCa('a.example');
    const caB = await newCa('b.example');
    await h.gateway(gatewayConfig({}, { cluster: 'a', identity: { trustDomain: 'a.example', ca: caA, bundleEndpoint: `127.0.0.1:${portA}` } }));
    const b = await h.gateway(
      gatewayConfig(
        {},
        {
          cluster: 'b',
          identity: {
            trustDomain: 'b.example',
            ca: caB,
            bundleEndpoint: `127.0.0.1:${portB}`,
            federation: [
              {
                trustDomain: 'a.example',
                bundle: path.join(caA, 'bundle.pem'),
                bundleEndpoint: `https://127.0.0.1:${portA}`,
                endpointSpiffeId: 'spiffe://a.example/not/the/endpoint',
              },
            ],
          },
        },
      ),
    );

    const status = await getJson<IdentityStatus>(`${b.adminUrl}/debug/identity`);
    const peer = status.bundles.find((x) => x.trustDomain === 'a.example');
    expect(peer?.source).toBe('file');
    expect(peer?.lastError).toContain('expected spiffe://a.example/not/the/endpoint');
  });
});
