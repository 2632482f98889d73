// The least a Node.js proxy does on meshgate's paths, for the proxy bench's "Node floor" rows: the
// same protocols through the same Node modules and undici, with no routing, identity, retries,
// limits, membership or logging. What meshgate serves below these rows is its own work; what these
// rows serve below nginx and HAProxy is the cost of Node's HTTP stacks on this machine.
//   node bench/lib/node-floor.mjs one   LISTEN BACKEND            HTTP/1.1 → undici Pool → backend
//   node bench/lib/node-floor.mjs hop-a LISTEN HOP_B  SVID_DIR    HTTP/1.1 → mTLS HTTP/2 (client certificate) → hop-b
//   node bench/lib/node-floor.mjs hop-b LISTEN BACKEND SVID_DIR   mTLS HTTP/2 (certificate required) → undici Pool → backend
// SVID_DIR holds svid.pem, svid.key and bundle.pem as `meshgate ca issue` writes them. Prints
// "listening" once it accepts connections; a failed upstream answers 502.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { Pool } from 'undici';

const [mode, listen, target, svidDir] = process.argv.slice(2);
const [host, port] = listen.split(':');

// Hop-by-hop headers (RFC 9110 §7.6.1), which HTTP/2 also forbids.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

function endToEnd(headers) {
  const out = {};
  for (const name in headers) if (name[0] !== ':' && !HOP.has(name)) out[name] = headers[name];
  return out;
}

function tlsFiles() {
  const read = (f) => readFileSync(path.join(svidDir, f));
  // SPIFFE certificates carry a URI SAN and no DNS name: the chain is checked, the host name is not.
  return { cert: read('svid.pem'), key: read('svid.key'), ca: read('bundle.pem'), ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' };
}

/** Sends one request through the pool and answers with `respond(status, headers)` and the body piped into `sink`. */
function viaPool(pool, method, urlPath, headers, respond, sink, fail) {
  pool.request({ method, path: urlPath, headers }).then(({ statusCode, headers: h, body }) => {
    respond(statusCode, endToEnd(h));
    body.pipe(sink);
  }, fail);
}

let server;
if (mode === 'one') {
  const pool = new Pool(`http://${target}`);
  server = http.createServer((req, res) => {
    const headers = { ...endToEnd(req.headers), host: req.headers.host };
    const fail = () => res.writeHead(502).end();
    viaPool(pool, req.method, req.url, headers, (status, h) => res.writeHead(status, h), res, fail);
  });
} else if (mode === 'hop-a') {
  const session = http2.connect(`https://${target}`, { ...tlsFiles(), checkServerIdentity: () => undefined });
  session.on('error', () => {});
  server = http.createServer((req, res) => {
    const headers = { ...endToEnd(req.headers), ':method': req.method, ':path': req.url, ':authority': req.headers.host };
    const stream = session.request(headers, { endStream: true });
    stream.on('response', (h) => {
      res.writeHead(h[':status'], endToEnd(h));
      stream.pipe(res);
    });
    stream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  });
} else if (mode === 'hop-b') {
  const pool = new Pool(`http://${target}`);
  server = http2.createSecureServer({ ...tlsFiles(), requestCert: true, rejectUnauthorized: true });
  server.on('stream', (stream, h) => {
    stream.on('error', () => {});
    const headers = { ...endToEnd(h), host: h[':authority'] };
    const fail = () => stream.respond({ ':status': 502 }, { endStream: true });
    viaPool(pool, h[':method'], h[':path'], headers, (status, rh) => stream.respond({ ...rh, ':status': status }), stream, fail);
  });
} else {
  console.error(`usage: node-floor.mjs one|hop-a|hop-b LISTEN TARGET [SVID_DIR], not ${JSON.stringify(mode)}`);
  process.exit(2);
}
server.listen(Number(port), host, () => console.log('listening'));
// An orderly exit on SIGTERM, so that `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => process.exit(0));
