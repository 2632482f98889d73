#!/usr/bin/env bash
# The README's main command: a gateway with examples/quickstart.yaml in front
# of two sample backends, and one request through it to show it works.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_node
ensure_tools python3 make g++ # node-gyp builds the peer-credentials addon
ensure_npm_packages
echo "==> building"
npm run build --silent >/dev/null

# Each background job in its own process group: a signal, whether Ctrl-C in the
# terminal or a SIGTERM to this script alone (as a process manager sends), reaches
# only the script, which passes one SIGTERM on to the gateway (it drains; two
# signals would cut requests off) and stops the backends.
set -m
pids=()
gateway=
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
stop() {
  if [ -n "$gateway" ]; then
    kill -TERM "$gateway" 2>/dev/null || true
    wait "$gateway" 2>/dev/null || true
  fi
  exit 0
}
trap cleanup EXIT
trap stop INT TERM

node examples/hello-backend.mjs 127.0.0.1:8080 127.0.0.1:8081 &
pids+=($!)
# The gateway's Node option, as `meshgate`'s own #! line carries it (src/gateway/heap.ts).
node --max-semi-space-size=8 dist/cli.js run --config examples/quickstart.yaml &
gateway=$!

node scripts/wait-ready.mjs http://127.0.0.1:9901/ready 15000
echo "==> a request through the gateway: GET http://127.0.0.1:4140/ with Host: hello"
node -e '
  const http = require("node:http");
  http.get({ host: "127.0.0.1", port: 4140, path: "/", headers: { host: "hello" } }, (res) => {
    let body = ""; res.on("data", (c) => (body += c));
    res.on("end", () => { console.log(`<== ${res.statusCode} ${body.trim()}`); process.exit(res.statusCode === 200 ? 0 : 1); });
  }).on("error", (e) => { console.error(`request failed: ${e.message}`); process.exit(1); });'
cat <<MSG

The gateway is running. Try:
  curl -H 'Host: hello' http://127.0.0.1:4140/
  curl http://127.0.0.1:9901/ready
Press Ctrl-C to stop (the gateway drains in-flight requests first).
MSG
wait "$gateway"
