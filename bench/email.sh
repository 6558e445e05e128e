#!/usr/bin/env bash
# Benchmarks the email path on SQLite and PostgreSQL, over real HTTP and real SMTP:
#
#   1. POST /auth/password-reset (unknown addresses: the request only queues a job) with wrk,
#      as a ratio of GET /healthz measured in the same run, on `larch serve --no-workers`;
#   2. how fast one `larch worker` drains those jobs (a lookup each, nothing to send);
#   3. how fast it drains reset jobs for real accounts: a token and an SMTP hand-over each,
#      to a sink that accepts every message (examples/smtp_sink.rs).
#
#   bench/email.sh
#   BACKENDS=sqlite DURATION=5 ACCOUNTS=500 bench/email.sh
#   LARCH_SKIP_BUILD=1 bench/email.sh    # the existing target/release binaries as they are
#
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) names a
# server where a database larch_bench_email may be dropped and created.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-sqlite postgres}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
ACCOUNTS=${ACCOUNTS:-2000}
PORT=${PORT:-8398}
SMTP_PORT=${SMTP_PORT:-2598}
PG=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
WORK=${WORK:-$(mktemp -d /tmp/larch-email-bench.XXXXXX)}
URL="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
if [ -z "${LARCH_SKIP_BUILD:-}" ]; then
  cargo build --release --quiet
  cargo build --release --quiet --example smtp_sink
fi
BIN=$PWD/target/release/larch
SINK=$PWD/target/release/examples/smtp_sink

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cat > "$WORK/reset.lua" <<'LUA'
-- Every request a different address that no account has.
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format('{"email": "nobody-%d-%d@example.com"}', math.random(1, 1e9), counter))
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
cat > "$WORK/healthz.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

wait_http() { for _ in $(seq 1 200); do curl -sf "$URL/healthz" >/dev/null && return 0; sleep 0.1; done; return 1; }
# Jobs not yet run, read from the shared queue through /metrics.
pending() {
  curl -sf "$URL/metrics" | awk '/^jobs_in_queue/ && /state="(queued|running)"/ {n += $2} END {print n + 0}'
}
# Runs `larch worker` until the queue is empty; prints jobs per second.
drain() { # expected-jobs
  local start end worker
  start=$(date +%s.%N)
  "$BIN" worker > "$WORK/worker.log" 2>&1 &
  worker=$!
  PIDS+=("$worker")
  while [ "$(pending)" -gt 0 ]; do sleep 0.2; done
  end=$(date +%s.%N)
  kill "$worker"; wait "$worker" 2>/dev/null || true
  python3 -c "print(f'{$1 / ($end - $start):.0f}')"
}

"$SINK" "127.0.0.1:$SMTP_PORT" "$WORK/sink.count" &
PIDS+=($!)

RESULTS=$WORK/results.txt
: > "$RESULTS"
for backend in $BACKENDS; do
  case $backend in
    sqlite) export DATABASE_URL="sqlite://$WORK/email-$backend.db" ;;
    postgres)
      psql "$PG" -qc "DROP DATABASE IF EXISTS larch_bench_email" -c "CREATE DATABASE larch_bench_email" >/dev/null
      export DATABASE_URL="${PG%/*}/larch_bench_email" ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  export RATE_LIMIT_AUTH_PER_MINUTE=0 RUST_LOG=warn SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" LARCH_ENV=development
  echo "== $backend: seeding $ACCOUNTS accounts"
  (cd "$WORK" && "$BIN" seed --users "$ACCOUNTS" >/dev/null)
  "$BIN" serve --no-workers --bind "127.0.0.1:$PORT" > "$WORK/server-$backend.log" 2>&1 &
  SERVER=$!
  PIDS+=("$SERVER")
  wait_http

  echo "== $backend: wrk -t1 -c$CONNECTIONS -d${DURATION}s"
  healthz=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/healthz.lua" "$URL/healthz" | grep '^RESULT')
  reset=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/reset.lua" "$URL/auth/password-reset" | grep '^RESULT')
  queued=$(pending)
  echo "$backend healthz ${healthz#RESULT }" | tee -a "$RESULTS"
  echo "$backend reset ${reset#RESULT }" | tee -a "$RESULTS"

  echo "== $backend: one larch worker drains $queued lookup-only jobs"
  echo "$backend drain_lookup $queued $(drain "$queued")" | tee -a "$RESULTS"

  echo "== $backend: queueing a reset for each of $ACCOUNTS accounts"
  case $backend in
    sqlite) python3 -c "import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('SELECT email FROM users')]" "$WORK/email-$backend.db" ;;
    postgres) psql "$DATABASE_URL" -Atc "SELECT email FROM users" ;;
  esac > "$WORK/accounts.txt"
  python3 - "$URL" "$WORK/accounts.txt" <<'PY'
import json, sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
for email in open(path).read().split():
    req = urllib.request.Request(url + "/auth/password-reset", data=json.dumps({"email": email}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    assert urllib.request.urlopen(req).status == 202
PY
  before=$(cat "$WORK/sink.count" 2>/dev/null || echo 0)
  echo "== $backend: one larch worker drains $ACCOUNTS reset jobs (token + SMTP each)"
  rate=$(drain "$ACCOUNTS")
  after=$(cat "$WORK/sink.count")
  echo "$backend drain_send $((after - before)) $rate" | tee -a "$RESULTS"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
done

echo
echo "== results ($(nproc) cores shared by larch, its worker, wrk and the SMTP sink)"
python3 - "$RESULTS" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    rows.setdefault(parts[0], {})[parts[1]] = parts[2:]
for backend, r in rows.items():
    h, rs = float(r["healthz"][0]), float(r["reset"][0])
    print(f"{backend}: GET /healthz {h:.0f} req/s; POST /auth/password-reset {rs:.0f} req/s = {rs / h:.3f} x healthz "
          f"(p50 {float(r['reset'][1]):.2f} ms, p99 {float(r['reset'][2]):.2f} ms, errors {r['reset'][3]})")
    print(f"{backend}: worker drains lookup-only jobs at {r['drain_lookup'][1]}/s ({r['drain_lookup'][0]} jobs); "
          f"reset emails at {r['drain_send'][1]}/s ({r['drain_send'][0]} emails received by the sink)")
PY
