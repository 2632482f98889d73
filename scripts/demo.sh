#!/usr/bin/env bash
# The README's first command: installs what the demo needs (nats-server with
# apt-get when root, the npm packages), builds when the sources changed, and
# runs `meshgate demo` with the arguments given (--script, --duration S, …).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_node
ensure_tools python3 make g++ # node-gyp builds the peer-credentials addon
ensure_nats_server
ensure_npm_packages
if [ ! -f dist/cli.js ] || [ -n "$(find src native/peercred/peercred.c native/peercred/binding.gyp package.json package-lock.json -newer dist/cli.js -print -quit)" ]; then
  echo "==> building"
  npm run build --silent >/dev/null
fi
# exec: from here on this process is the demo, so a signal sent to the script
# reaches it, and it stops everything it started.
exec node dist/cli.js demo "$@"
