#!/usr/bin/env bash
# Headless-browser check of the Swagger UI page at /docs, with the browser cut off from
# everything but 127.0.0.1:
#   - builds release, starts `larch serve` on a free port with a fresh SQLite DB;
#   - opens /docs in headless Chromium (Debian's), asserts Swagger UI renders and lists
#     /healthz, /auth/login, /users/{id}, /products;
#   - expands GET /healthz, "Try it out", "Execute", asserts the shown response is 200 with
#     "status": "ok";
#   - loads /docs once more under a hostname that resolves to 127.0.0.1 (DOCS_CHECK_HOSTNAME,
#     default larch.test; empty skips), as a real deployment would be seen;
#   - fails on any browser console error and any request to another host.
# Screenshots go to $SCREENSHOT_DIR (default target/docs-check/).
#
# Usage: scripts/check_docs.sh            (from anywhere; exit 0 = pass)
# Env:   SCREENSHOT_DIR, DOCS_CHECK_HOSTNAME, CHROMIUM (default /usr/bin/chromium),
#        CHECK_TIMEOUT_MS (default 30000), SKIP_BUILD=1 to reuse target/release/larch.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

PLAYWRIGHT_CORE_VERSION=1.65.1
node_dir="$here/.docs-check-node" # gitignored (scripts/.gitignore)
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHECK_TIMEOUT_MS="${CHECK_TIMEOUT_MS:-30000}"
SCREENSHOT_DIR="${SCREENSHOT_DIR:-target/docs-check}"

die() { echo "check_docs: FAIL: $*" >&2; exit 1; }
log() { echo "check_docs: $*"; }
start=$(date +%s)

# --- tools -----------------------------------------------------------------------------
if ! [ -x "$CHROMIUM" ]; then
  log "installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null \
    || die "could not install chromium (apt-get install -y chromium)"
  [ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM"
fi
command -v node >/dev/null || die "node is needed (apt-get install -y nodejs npm)"
if ! [ -f "$node_dir/node_modules/playwright-core/package.json" ] \
  || [ "$(node -p "require('$node_dir/node_modules/playwright-core/package.json').version")" != "$PLAYWRIGHT_CORE_VERSION" ]; then
  log "installing playwright-core@$PLAYWRIGHT_CORE_VERSION into $node_dir (no browser download)"
  mkdir -p "$node_dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --no-save \
    --prefix "$node_dir" "playwright-core@$PLAYWRIGHT_CORE_VERSION" \
    || die "npm install playwright-core failed"
fi
export DOCS_CHECK_NODE_MODULES="$node_dir/node_modules"

# --- server ----------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  cargo build --release --quiet || die "cargo build --release failed"
fi
[ -x target/release/larch ] || die "no target/release/larch"

work="$(mktemp -d "${TMPDIR:-/tmp}/larch-docs-check.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
log "starting larch on 127.0.0.1:$port (db $work/larch.db)"
DATABASE_URL="sqlite://$work/larch.db" target/release/larch serve --bind "127.0.0.1:$port" \
  >"$work/server.log" 2>&1 &
server_pid=$!

deadline=$(( $(date +%s) + CHECK_TIMEOUT_MS / 1000 ))
until curl -fsS --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null | grep -q '"status":"ok"'; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -n 30 "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
    die "larch exited before answering /healthz (log above)"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -n 30 "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
    die "larch did not answer /healthz within $((CHECK_TIMEOUT_MS / 1000))s (log above)"
  fi
  sleep 0.2
done
log "server up"

# --- browser ---------------------------------------------------------------------------
mkdir -p "$SCREENSHOT_DIR"
rc=0
node "$here/check_docs.mjs" "http://127.0.0.1:$port" "$SCREENSHOT_DIR" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "check_docs: server log tail:" >&2
  tail -n 8 "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  die "docs page check failed (see FAIL lines above; screenshots in $SCREENSHOT_DIR)"
fi
log "PASS in $(( $(date +%s) - start ))s"
