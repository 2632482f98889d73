// Config files for the proxy bench, all on loopback: the nginx backend, nginx and HAProxy as
// reverse proxies, and the two HAProxy hops with mTLS HTTP/2 between them (meshgate's gateway
// config is in federation.mjs, which every bench shares).
// Every proxy runs one worker or thread. None writes an access log: meshgate has none, so the
// others are not charged for one.
export const BODY_BYTES = 1024;

/** Temp paths inside the run's directory: nginx's compiled-in ones (/var/lib/nginx) may be unwritable. */
function nginxCommon(dir, name) {
  return `worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-tmp/body;
  proxy_temp_path ${dir}/${name}-tmp/proxy;
  fastcgi_temp_path ${dir}/${name}-tmp/fastcgi;
  uwsgi_temp_path ${dir}/${name}-tmp/uwsgi;
  scgi_temp_path ${dir}/${name}-tmp/scgi;
  # nginx closes a keep-alive connection after 1,000 requests by default: not under test here.
  keepalive_requests 10000000;
  keepalive_timeout 75s;
`;
}

/** The backend: 1 KiB from a file for every path (so the gateways' health checks pass too). */
export function nginxBackend(dir, port) {
  return `${nginxCommon(dir, 'backend')}  default_type text/plain;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    location / { try_files /body.txt =500; }
  }
}
`;
}

export function nginxProxy(dir, port, backendPort) {
  return `${nginxCommon(dir, 'nginx-proxy')}  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`;
}

function haproxyCommon() {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
`;
}

export function haproxy(port, backendPort) {
  return `${haproxyCommon()}frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server backend 127.0.0.1:${backendPort}
`;
}

// TLS 1.3 with ALPN h2 and client certificates, both sides verifying the chain against the
// shared root. SPIFFE X509-SVIDs carry a URI SAN and no DNS name, so the client checks the chain
// but not a host name: with neither `sni` nor `verifyhost` on the server line, HAProxy checks none.
const TLS = 'ssl-min-ver TLSv1.3 alpn h2';

/** Hop A: HTTP/1.1 in, mTLS HTTP/2 to hop B. */
export function haproxyHopA(port, hopBPort, { certKeyPem, caFile }) {
  return `${haproxyCommon()}frontend fe
  bind 127.0.0.1:${port}
  default_backend to_b
backend to_b
  server b 127.0.0.1:${hopBPort} ssl crt ${certKeyPem} ca-file ${caFile} verify required ${TLS}
`;
}

/** Hop B: mTLS HTTP/2 in (client certificate required), HTTP/1.1 to the backend. */
export function haproxyHopB(port, backendPort, { certKeyPem, caFile }) {
  return `${haproxyCommon()}frontend fe
  bind 127.0.0.1:${port} ssl crt ${certKeyPem} ca-file ${caFile} verify required ${TLS}
  default_backend be
backend be
  server backend 127.0.0.1:${backendPort}
`;
}
