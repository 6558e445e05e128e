#!/usr/bin/env bash
# Crash safety: larch is killed with SIGKILL (kill -9) in the middle of a write load, again
# and again, on SQLite and on PostgreSQL. After each kill it is started again as it is (no
# repair step), and every write it had answered 201 must be there; on SQLite the file must
# also pass PRAGMA integrity_check.
#
#   bench/crash.sh                        # 10 kills per backend, 32 writers
#   CYCLES=3 BACKENDS=sqlite bench/crash.sh
#
# PostgreSQL: PG_URL (default postgres://postgres@127.0.0.1:5432, allowed to create a
# database). The short form of this test runs in CI (tests/api/lifecycle.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

CYCLES=${CYCLES:-10}
BACKENDS=${BACKENDS:-sqlite postgres}
WRITERS=${WRITERS:-32}
PORT=${PORT:-8530}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
WORK=${WORK:-$(mktemp -d /tmp/larch-crash.XXXXXX)}
TARGET=${CARGO_TARGET_DIR:-target}
URL="http://127.0.0.1:$PORT"

cargo build --release --quiet --bin larch --example load
BIN=$TARGET/release/larch
LOAD=$TARGET/release/examples/load
export RATE_LIMIT_AUTH_PER_MINUTE=0 RUST_LOG=warn JWT_SECRET_KEY=crash-test-secret-kept-across-restarts-0123456789

SERVER=
cleanup() { [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT

start() {
  "$BIN" serve --bind "127.0.0.1:$PORT" >> "$WORK/larch.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 200); do
    curl -sf "$URL/readyz" >/dev/null && return 0
    sleep 0.05
  done
  echo "larch did not become ready" >&2
  exit 1
}

integrity() { # sqlite file, opened read-only so that the check itself recovers nothing
  python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("pragma integrity_check").fetchone()[0])' "$1"
}

FAILED=0
for backend in $BACKENDS; do
  case $backend in
    sqlite) export DATABASE_URL="sqlite://$WORK/crash.db" ;;
    postgres)
      psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS larch_crash WITH (FORCE)" -c "CREATE DATABASE larch_crash"
      export DATABASE_URL="$PG_URL/larch_crash" ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  ACKED=$WORK/acked-$backend.txt
  : > "$ACKED"
  echo "== $backend: $CYCLES kills under a write load of $WRITERS clients"
  for cycle in $(seq 1 "$CYCLES"); do
    start
    before=$(wc -l < "$ACKED")
    "$LOAD" writes --url "$URL" --concurrency "$WRITERS" --duration 0 --give-up 3 --timeout 10 \
      --acked "$ACKED" > "$WORK/load-$backend-$cycle.txt" 2>&1 &
    loader=$!
    # Kill somewhere between 2 and 5 s into the load.
    sleep "$(python3 -c 'import random; print(round(random.uniform(2, 5), 2))')"
    kill -9 "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    wait "$loader" || true
    acked=$(( $(wc -l < "$ACKED") - before ))
    check="-"
    if [ "$backend" = sqlite ]; then check=$(integrity "$WORK/crash.db"); fi
    began=$(date +%s.%N)
    start
    ready=$(date +%s.%N)
    verify=$("$LOAD" verify --url "$URL" --acked "$ACKED")
    kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    printf 'cycle %2d: ready again %.2f s after the restart; %5d writes acknowledged before the kill; integrity_check %s; %s\n' \
      "$cycle" "$(echo "$ready - $began" | bc)" "$acked" "$check" "$verify"
    case "$verify" in *" missing=0"*) ;; *) FAILED=1 ;; esac
    if [ "$backend" = sqlite ] && [ "$check" != ok ]; then FAILED=1; fi
  done
  echo "$backend: $(wc -l < "$ACKED") acknowledged writes in all, every one checked after every kill"
done
if [ "$FAILED" = 0 ]; then echo "PASS: no acknowledged write lost, no repair needed"; else echo "FAIL"; exit 1; fi
