#!/usr/bin/env bash
# Rolling restart under load: INSTANCES larch processes on one PostgreSQL database behind
# HAProxy, which health-checks /readyz; a constant mixed load (reads and writes) goes
# through HAProxy while each instance in turn is stopped with SIGTERM, waited for, started
# again and waited for until HAProxy has it back UP. The load generator counts every
# non-2xx answer and every connection error it sees; the goal is zero of both.
#
#   bench/rolling_restart.sh                      # 3 instances, 2 rounds, 32 clients
#   INSTANCES=2 ROUNDS=1 CONCURRENCY=16 bench/rolling_restart.sh
#
# Needs PostgreSQL (PG_URL, default postgres://postgres@127.0.0.1:5432, allowed to create
# a database) and HAProxy (installed from Debian when missing and apt-get is there).
set -euo pipefail
cd "$(dirname "$0")/.."

INSTANCES=${INSTANCES:-3}
ROUNDS=${ROUNDS:-2}
CONCURRENCY=${CONCURRENCY:-32}
RATE=${RATE:-0}                   # requests/s in all; 0 = as fast as answered
PAUSE=${PAUSE:-5}                 # seconds of steady load between two restarts
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-larch_rolling}
BASE_PORT=${BASE_PORT:-8510}
LB_PORT=${LB_PORT:-8500}
STATS_PORT=${STATS_PORT:-8509}
export SHUTDOWN_DRAIN_SECONDS=${SHUTDOWN_DRAIN_SECONDS:-2}
export SHUTDOWN_GRACE_SECONDS=${SHUTDOWN_GRACE_SECONDS:-30}
WORK=${WORK:-$(mktemp -d /tmp/larch-rolling.XXXXXX)}
TARGET=${CARGO_TARGET_DIR:-target}

command -v haproxy >/dev/null || apt-get install -y haproxy >/dev/null
command -v psql >/dev/null || { echo "psql is needed" >&2; exit 1; }
cargo build --release --quiet --bin larch --example load
BIN=$TARGET/release/larch
LOAD=$TARGET/release/examples/load

psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="$PG_URL/$DB" RATE_LIMIT_AUTH_PER_MINUTE=0 RUST_LOG=warn LOG_FORMAT=json
export JWT_SECRET_KEY=rolling-restart-secret-shared-by-the-fleet-0123456789
"$BIN" migrate up >/dev/null

declare -a PIDS
start() { # instance number
  "$BIN" serve --no-migrate --bind "127.0.0.1:$((BASE_PORT + $1))" >> "$WORK/larch-$1.log" 2>&1 &
  PIDS[$1]=$!
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/haproxy.pid" ] && kill "$(cat "$WORK/haproxy.pid")" 2>/dev/null || true
  [ -n "${LOADER:-}" ] && kill "$LOADER" 2>/dev/null || true
}
trap cleanup EXIT

{
  cat <<CFG
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # Connection failures (a stopping instance refuses connections) are retried, on
    # another server: requests that never reached a server are always safe to retry.
    retries 3
    option redispatch 1
frontend api
    bind 127.0.0.1:$LB_PORT
    default_backend larch
listen stats
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /stats
backend larch
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 1 rise 2
CFG
  for i in $(seq 0 $((INSTANCES - 1))); do
    echo "    server larch$i 127.0.0.1:$((BASE_PORT + i)) check"
  done
} > "$WORK/haproxy.cfg"

for i in $(seq 0 $((INSTANCES - 1))); do start "$i"; done
haproxy -D -f "$WORK/haproxy.cfg" -p "$WORK/haproxy.pid"

server_status() { # instance number -> UP, DOWN, …
  curl -sf "http://127.0.0.1:$STATS_PORT/stats;csv" |
    awk -F, -v name="larch$1" '$1 == "larch" && $2 == name { print $18 }'
}
wait_up() {
  for _ in $(seq 1 300); do
    [ "$(server_status "$1")" = "UP" ] && return 0
    sleep 0.1
  done
  echo "larch$1 never came back UP" >&2
  return 1
}
for i in $(seq 0 $((INSTANCES - 1))); do wait_up "$i"; done
echo "== $INSTANCES instances UP behind HAProxy on :$LB_PORT; work dir $WORK"

"$LOAD" mixed --url "http://127.0.0.1:$LB_PORT" --concurrency "$CONCURRENCY" --rate "$RATE" \
  --duration 0 --window 5 > "$WORK/load.txt" 2>&1 &
LOADER=$!
sleep "$PAUSE"

RESTARTS=0
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((INSTANCES - 1))); do
    began=$(date +%s.%N)
    kill -TERM "${PIDS[$i]}"
    while kill -0 "${PIDS[$i]}" 2>/dev/null; do sleep 0.05; done
    wait "${PIDS[$i]}" 2>/dev/null && status=0 || status=$?
    stopped=$(date +%s.%N)
    start "$i"
    wait_up "$i"
    up=$(date +%s.%N)
    RESTARTS=$((RESTARTS + 1))
    printf 'round %d larch%d: exited %d after %.2f s; UP again %.2f s later\n' \
      "$round" "$i" "$status" "$(echo "$stopped - $began" | bc)" "$(echo "$up - $stopped" | bc)"
    sleep "$PAUSE"
  done
done

kill -TERM "$LOADER"
wait "$LOADER" || true
LOADER=
echo "== load through HAProxy during $RESTARTS restarts (windows of 5 s)"
cat "$WORK/load.txt"
RETRIES=$(curl -sf "http://127.0.0.1:$STATS_PORT/stats;csv" |
  awk -F, '$1 == "larch" && $2 == "BACKEND" { print "HAProxy: " $16 " connection retries, " $17 " redispatches, " $14 " connection errors, " $15 " response errors" }')
echo "$RETRIES"
TOTAL=$(grep '^TOTAL' "$WORK/load.txt")
if echo "$TOTAL" | grep -q ' non2xx=0 errors=0 '; then
  echo "PASS: zero non-2xx answers and zero connection errors"
else
  echo "FAIL: $TOTAL"
  exit 1
fi
