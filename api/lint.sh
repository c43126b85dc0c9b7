#!/usr/bin/env bash
# Lints api/openapi.yaml with Redocly's CLI (make lint-api). npx fetches the pinned version once
# into the npm cache. Without a Node.js that version runs on (20.19+ or 22.12+, with npx) the lint
# is skipped, saying so, so that `make test` needs only Go; ORDERSYS_REQUIRE_REDOCLY=1 (set by
# .ci/run) makes that a failure instead.
set -euo pipefail
cd "$(dirname "$0")/.."
redocly=${REDOCLY:?REDOCLY names the pinned @redocly/cli}

node_ok() {
  command -v npx >/dev/null && node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a >= 23 ? 0 : 1)' 2>/dev/null
}
if ! node_ok; then
  msg="lint-api: $redocly needs Node.js 20.19+ or 22.12+ with npx; found $(node -v 2>/dev/null || echo none)"
  if [ -n "${ORDERSYS_REQUIRE_REDOCLY:-}" ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg: skipped" >&2
  exit 0
fi

# The cache goes under HOME when it can be written, else under TMPDIR.
cache=${NPM_CACHE:-${HOME:-/nonexistent}/.cache/ordersys-npm}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache=${TMPDIR:-/tmp}/ordersys-npm-$(id -u)
  mkdir -p "$cache"
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npm_config_cache=$cache npm_config_update_notifier=false \
  npx --yes "$redocly" lint api/openapi.yaml
