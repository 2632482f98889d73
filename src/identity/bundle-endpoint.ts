import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { parseSpiffeBundle, serializeSpiffeBundle } from './bundle.js';
import { derToPem } from './encoding.js';
import { IdentityError } from './errors.js';
import { verifyX509Svid } from './x509-verify.js';
import type { BundleLookup, TrustBundle, X509Svid } from './types.js';

export interface BundleEndpointTimeouts {
  /** TLS handshake and request head must complete within this. */
  readonly headersTimeoutMs: number;
  /** A keep-alive connection with no request is closed after this. */
  readonly idleTimeoutMs: number;
}

/** The gateway passes its limits.headersTimeout and limits.idleTimeout; these are their defaults. */
const DEFAULT_TIMEOUTS: BundleEndpointTimeouts = { headersTimeoutMs: 10_000, idleTimeoutMs: 75_000 };

/** The SPIFFE bundle endpoint of our trust domain, `https_spiffe` profile: it presents an SVID, asks for none. */
export class BundleEndpointServer {
  private readonly server: https.Server;

  constructor(
    private readonly source: { bundle(): TrustBundle; svid(): X509Svid },
    timeouts: BundleEndpointTimeouts = DEFAULT_TIMEOUTS,
  ) {
    const options: https.ServerOptions = {
      ...tlsMaterial(source.svid()),
      minVersion: 'TLSv1.2',
      // The endpoint is public: connections that never finish a handshake
      // or a request, or sit idle, must not pile up.
      handshakeTimeout: timeouts.headersTimeoutMs,
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1_000, timeouts.headersTimeoutMs),
      keepAliveTimeout: timeouts.idleTimeoutMs,
    };
    this.server = https.createServer(options, (req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' });
        return res.end();
      }
      const body = serializeSpiffeBundle(this.source.bundle());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    return { host: bound.address, port: bound.port };
  }

  /** New connections get the current SVID; open ones keep theirs. */
  reloadSvid(): void {
    this.server.setSecureContext(tlsMaterial(this.source.svid()));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function tlsMaterial(svid: X509Svid): { key: string; cert: string } {
  return {
    key: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: svid.chain.map((der) => derToPem(der)).join(''),
  };
}

/** A bundle holds a handful of keys; anything this big is not one. */
const MAX_BUNDLE_BYTES = 1024 * 1024;

export interface BundleFetch {
  readonly url: string;
  /** The trust domain whose bundle the endpoint serves. */
  readonly trustDomain: string;
  /** Who must serve it; checked against the bundle of that ID's own trust domain. */
  readonly endpointSpiffeId: string;
  readonly bundleFor: BundleLookup;
  readonly timeoutMs: number;
  readonly now?: () => Date;
}

/**
 * Fetches a trust domain's bundle from its SPIFFE bundle endpoint with the
 * `https_spiffe` profile. The server's chain is verified by our own SPIFFE
 * rules before a byte of the answer is trusted; redirects are not followed.
 */
export async function fetchBundle(opts: BundleFetch): Promise<TrustBundle> {
  const url = new URL(opts.url);
  if (url.protocol !== 'https:' || url.username || url.password) {
    throw new IdentityError('bundle', `bundle endpoint ${opts.url} must be https:// without userinfo`);
  }
  const socket = await connectVerified(url, opts);
  return new Promise<TrustBundle>((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new Error(`no answer in ${opts.timeoutMs} ms`)), opts.timeoutMs);
    // Plain HTTP over the socket we already verified: https.request would
    // judge the peer by Web PKI rules again, which an SVID does not meet.
    const req = http.request({ method: 'GET', path: url.pathname + url.search, headers: { host: url.host }, createConnection: () => socket }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BUNDLE_BYTES) return req.destroy(new Error(`bundle larger than ${MAX_BUNDLE_BYTES} bytes`));
        chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        socket.destroy();
        if (res.statusCode !== 200) {
          return reject(new IdentityError('bundle', `bundle endpoint ${opts.url} answered ${res.statusCode}`));
        }
        try {
          resolve(parseSpiffeBundle(Buffer.concat(chunks), opts.trustDomain));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new IdentityError('bundle', `bundle endpoint ${opts.url}: ${err.message}`, {}, { cause: err }));
    });
    req.end();
  });
}

function connectVerified(url: URL, opts: BundleFetch): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      // The server presents an SVID, not a Web PKI certificate: the chain is
      // checked below against the SPIFFE bundle of the server's own domain.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      servername: url.hostname.match(/^[\d.[\]:]+$/) ? undefined : url.hostname,
    });
    const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new IdentityError('bundle', `bundle endpoint ${opts.url}: ${err.message}`, {}, { cause: err }));
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      verifyX509Svid(peerChain(socket), opts.bundleFor, opts.now?.() ?? new Date())
        .then((verified) => {
          if (verified.spiffeId !== opts.endpointSpiffeId) {
            throw new IdentityError('bundle', `bundle endpoint ${opts.url} is ${verified.spiffeId}, expected ${opts.endpointSpiffeId}`);
          }
          resolve(socket);
        })
        .catch((err: unknown) => {
          socket.destroy();
          reject(err);
        });
    });
  });
}

/** The chain the peer sent, leaf first, as DER. */
export function peerChain(socket: tls.TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}
