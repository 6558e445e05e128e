#!/usr/bin/env bash
# Headless-browser check of the two pages that email links open, /verify-email and
# /reset-password, with the browser cut off from everything but 127.0.0.1:
#   - builds release, starts `larch serve` on a free port with a fresh SQLite DB and no
#     SMTP_URL, so that each email is written to the server log (a JSON line with "to",
#     "subject" and "link");
#   - registers a user (curl), takes the verification link from the log, opens it: nothing is
#     sent on load; the button verifies; GET /auth/me then says "email_verified":true;
#   - opens the same link again: the used token shows an error;
#   - asks for a password reset (curl), opens the reset link: mismatching passwords show an
#     error without a request; matching ones change the password; login with the new
#     password is 200, with the old one 401;
#   - opens /reset-password and /verify-email without a token: an error, nothing to submit;
#   - fails on any browser console error and any request to another host.
# Screenshots go to $SCREENSHOT_DIR (default target/pages-check/).
#
# Usage: scripts/check_pages.sh           (from anywhere; exit 0 = pass)
# Env:   SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium), CHECK_TIMEOUT_MS (default
#        30000), SKIP_BUILD=1 (or LARCH_SKIP_BUILD=1) to reuse target/release/larch.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

PLAYWRIGHT_CORE_VERSION=1.65.1
node_dir="$here/.docs-check-node" # gitignored (scripts/.gitignore); shared with check_docs.sh
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHECK_TIMEOUT_MS="${CHECK_TIMEOUT_MS:-30000}"
SCREENSHOT_DIR="${SCREENSHOT_DIR:-target/pages-check}"
LINK_WAIT_SECONDS=20
EMAIL=pagecheck@example.com
OLD_PASSWORD=first-password-1
export NEW_PASSWORD=second-password-2

die() { echo "check_pages: FAIL: $*" >&2; exit 1; }
log() { echo "check_pages: $*"; }
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
command -v curl >/dev/null || die "curl is needed (apt-get install -y curl)"
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
if [ "${SKIP_BUILD:-0}" != 1 ] && [ "${LARCH_SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release"
  cargo build --release --quiet || die "cargo build --release failed"
fi
[ -x target/release/larch ] || die "no target/release/larch"

work="$(mktemp -d "${TMPDIR:-/tmp}/larch-pages-check.XXXXXX")"
server_log="$work/server.log"
server_pid=""
failed=1
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  if [ "$failed" = 1 ] && [ -s "$server_log" ]; then
    echo "check_pages: server log tail:" >&2
    tail -n 20 "$server_log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
base="http://127.0.0.1:$port"
log "starting larch on 127.0.0.1:$port (db $work/larch.db)"
# From $work, so that no .env of the checkout's (SMTP_URL, say) is read.
(
  cd "$work"
  exec env -u SMTP_URL -u EMAIL_VERIFY_URL -u PASSWORD_RESET_URL -u JOBS_URL \
    -u REQUIRE_EMAIL_VERIFICATION \
    DATABASE_URL="sqlite://$work/larch.db" LARCH_ENV=development LOG_FORMAT=json \
    PUBLIC_URL="$base" RATE_LIMIT_AUTH_PER_MINUTE=0 \
    "$repo/target/release/larch" serve --bind "127.0.0.1:$port"
) >"$server_log" 2>&1 &
server_pid=$!

deadline=$(( $(date +%s) + CHECK_TIMEOUT_MS / 1000 ))
until curl -fsS --max-time 2 "$base/healthz" 2>/dev/null | grep -q '"status":"ok"'; do
  kill -0 "$server_pid" 2>/dev/null || die "larch exited before answering /healthz (log below)"
  [ "$(date +%s)" -lt "$deadline" ] \
    || die "larch did not answer /healthz within $((CHECK_TIMEOUT_MS / 1000))s (log below)"
  sleep 0.2
done
log "server up"

# api METHOD PATH [JSON] [TOKEN]: the body goes to $work/body, the status to stdout.
api() {
  local args=(-sS --max-time 30 -o "$work/body" -w '%{http_code}' -X "$1" "$base$2")
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data "$3")
  [ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
  curl "${args[@]}" || true # on failure curl has printed 000
}
expect() { # expect STATUS WHAT METHOD PATH [JSON] [TOKEN]
  local want="$1" what="$2" got
  shift 2
  got="$(api "$@")"
  [ "$got" = "$want" ] || die "$what: $1 $2 answered $got, expected $want: $(head -c 400 "$work/body")"
  log "$what: $1 $2 -> $got"
}
# The newest link in the server log whose path is $1, waiting up to LINK_WAIT_SECONDS.
link_for() {
  local path="$1" found="" waited=0
  while :; do
    found="$(grep -o '"link":"[^"]*"' "$server_log" | sed 's/^"link":"//; s/"$//' \
      | grep -E "^https?://[^/]+$path\?" | tail -n 1 || true)"
    [ -n "$found" ] && break
    [ "$waited" -ge $((LINK_WAIT_SECONDS * 5)) ] \
      && die "no \"link\":\"…$path?…\" in the server log after ${LINK_WAIT_SECONDS}s (was the email written to the log?)"
    sleep 0.2
    waited=$((waited + 1))
  done
  echo "$found"
}
browser() { # browser STEP URL
  node "$here/check_pages.mjs" "$1" "$2" "$SCREENSHOT_DIR" \
    || die "page check '$1' failed (see FAIL lines above; screenshots in $SCREENSHOT_DIR)"
}
access_token() {
  node -e 'const b=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));if(!b.access_token)process.exit(1);console.log(b.access_token)' "$work/body" \
    || die "login answered no access_token: $(head -c 400 "$work/body")"
}
mkdir -p "$SCREENSHOT_DIR"

# --- verify the address ----------------------------------------------------------------
expect 201 register POST /auth/register \
  "{\"username\":\"pagecheck\",\"email\":\"$EMAIL\",\"password\":\"$OLD_PASSWORD\"}"
verify_link="$(link_for /verify-email)"
log "verification link found in the server log"
browser verify "$verify_link"
expect 200 login POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$OLD_PASSWORD\"}"
token="$(access_token)"
expect 200 me GET /auth/me "" "$token"
grep -q '"email_verified":true' "$work/body" \
  || die "GET /auth/me after verifying does not say \"email_verified\":true: $(head -c 400 "$work/body")"
log 'GET /auth/me says "email_verified":true'
browser verify-used "$verify_link"

# --- reset the password ----------------------------------------------------------------
expect 202 "reset request" POST /auth/password-reset "{\"email\":\"$EMAIL\"}"
reset_link="$(link_for /reset-password)"
log "reset link found in the server log"
browser reset "$reset_link"
expect 200 "login, new password" POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$NEW_PASSWORD\"}"
expect 401 "login, old password" POST /auth/login "{\"email\":\"$EMAIL\",\"password\":\"$OLD_PASSWORD\"}"

# --- no token --------------------------------------------------------------------------
browser no-token "$base/"

failed=0
log "PASS in $(( $(date +%s) - start ))s (screenshots in $SCREENSHOT_DIR)"
