#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, and runs
# the unit and integration tests against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_node
ensure_nats_server
ensure_npm_packages
npm test
