#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, and runs
# the unit and integration tests against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_node
ensure_tools python3 make g++ openssl # the addon's build; openssl checks issued certificates
ensure_nats_server
ensure_tools redis-server # a real database behind the TCP service tests (its package brings redis-cli)
ensure_npm_packages
mkdir -p .tmp
rm -f .tmp/vitest.json
status=0
npm test -- --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json || status=$?
[ -f .tmp/vitest.json ] && node scripts/test-summary.mjs .tmp/vitest.json
exit "$status"
