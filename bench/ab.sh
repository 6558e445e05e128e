#!/usr/bin/env bash
# Compares larch builds on one SQLite database: starts each binary in turn (ROUNDS times,
# alternating, so drift in the machine hits both alike) and prints req/s per endpoint.
#
#   cp target/release/larch /tmp/larch-before   # ... change, rebuild ...
#   bench/ab.sh /tmp/larch-before target/release/larch
#
# Knobs: DURATION (4 s per endpoint), CONNECTIONS (64), ROUNDS (2), POSTS (10,000),
# USERS (1,000), PRODUCTS (1,000), PORT (8397), WORK (a temporary directory).
set -euo pipefail
[ "$#" -ge 2 ] || { echo "usage: bench/ab.sh BINARY BINARY..." >&2; exit 2; }
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-8397}
WORK=${WORK:-$(mktemp -d /tmp/larch-ab.XXXXXX)}
URL="http://127.0.0.1:$PORT"
export DATABASE_URL="sqlite://$WORK/ab.db" RUST_LOG=warn RATE_LIMIT_AUTH_PER_MINUTE=0
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null

[ -f "$WORK/ab.db" ] || "$1" seed --users "${USERS:-1000}" --posts "${POSTS:-10000}" \
  --products "${PRODUCTS:-1000}" >/dev/null
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null || true' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    "$bin" serve --bind "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
    curl -s -X POST "$URL/auth/register" -H 'Content-Type: application/json' \
      -d '{"username":"abuser","email":"ab@example.com","password":"bench-password"}' >/dev/null
    token=$(curl -sf -X POST "$URL/auth/login" -H 'Content-Type: application/json' \
      -d '{"email":"ab@example.com","password":"bench-password"}' |
      python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
    printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$WORK/token.lua"
    line="round $round $bin:"
    for path in /healthz /users/1 /auth/me /posts/1 '/posts?page=3' '/users?page=3&limit=20' \
                '/products?q=lamp&sort=price'; do
      rate=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/token.lua" "$URL$path" |
        awk '/Requests\/sec/ {print int($2)}')
      line="$line $path=$rate"
    done
    echo "$line"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
  done
done
