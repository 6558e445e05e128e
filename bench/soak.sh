#!/usr/bin/env bash
# Soak: larch under a steady mixed load (reads and writes) at about half its maximum
# throughput for DURATION seconds, then a login storm, on one backend.
#
#   bench/soak.sh                          # SQLite, 600 s
#   BACKEND=postgres bench/soak.sh
#   DURATION=120 bench/soak.sh             # a short run
#
# 1. seeds 10,000 posts, starts larch, notes its idle RSS;
# 2. measures the maximum throughput of the mix (closed loop, MAX_SECONDS);
# 3. runs the mix open-loop at half that rate for DURATION seconds, reporting every 30 s
#    (requests, errors, p50/p99) and sampling RSS every 5 s;
# 4. a login storm: 64 clients logging in at once for 15 s; then 60 s idle, sampling RSS.
#
# Pass: zero errors and zero non-2xx; RSS after warm-up (the first WARMUP seconds) within
# 10% of its median; RSS 60 s after the storm under twice the idle RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${BACKEND:-sqlite}
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-120}
MAX_SECONDS=${MAX_SECONDS:-30}
CONCURRENCY=${CONCURRENCY:-32}
PORT=${PORT:-8540}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
WORK=${WORK:-$(mktemp -d /tmp/larch-soak.XXXXXX)}
TARGET=${CARGO_TARGET_DIR:-target}
URL="http://127.0.0.1:$PORT"

cargo build --release --quiet --bin larch --example load
BIN=$TARGET/release/larch
LOAD=$TARGET/release/examples/load
export RATE_LIMIT_AUTH_PER_MINUTE=0 RUST_LOG=warn
case $BACKEND in
  sqlite) export DATABASE_URL="sqlite://$WORK/soak.db" ;;
  postgres)
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS larch_soak WITH (FORCE)" -c "CREATE DATABASE larch_soak"
    export DATABASE_URL="$PG_URL/larch_soak" ;;
  *) echo "BACKEND must be sqlite or postgres" >&2; exit 1 ;;
esac
"$BIN" seed --users 100 --posts 10000 --products 1000 >/dev/null

"$BIN" serve --bind "127.0.0.1:$PORT" > "$WORK/larch.log" 2>&1 &
SERVER=$!
SAMPLER=
trap 'kill $SERVER ${SAMPLER:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
sleep 2
IDLE=$(rss)
echo "== $BACKEND: idle RSS $((IDLE / 1024)) MiB; work dir $WORK"

echo "== maximum throughput of the mix ($CONCURRENCY clients, closed loop, ${MAX_SECONDS} s)"
"$LOAD" mixed --url "$URL" --concurrency "$CONCURRENCY" --duration "$MAX_SECONDS" --window "$MAX_SECONDS" | tee "$WORK/max.txt"
MAX=$(awk '/^TOTAL/ { for (i = 1; i <= NF; i++) if ($i ~ /^rps=/) { sub("rps=", "", $i); print $i } }' "$WORK/max.txt")
RATE=$(python3 -c "print(round($MAX / 2))")

echo "== soak: $RATE req/s (half of $MAX) for $DURATION s"
( while kill -0 $SERVER 2>/dev/null; do echo "$(date +%s) $(rss)"; sleep 5; done ) > "$WORK/rss.txt" &
SAMPLER=$!
SOAK_START=$(date +%s)
"$LOAD" mixed --url "$URL" --concurrency "$CONCURRENCY" --rate "$RATE" --duration "$DURATION" --window 30 | tee "$WORK/soak.txt"
SOAK_END=$(date +%s)

echo "== login storm: 64 clients for 15 s, then 60 s idle"
"$LOAD" logins --url "$URL" --concurrency 64 --duration 15 --window 15 | tee "$WORK/storm.txt"
STORM_END=$(date +%s)
sleep 60
kill $SAMPLER 2>/dev/null || true
AFTER=$(rss)

python3 - "$WORK" "$IDLE" "$AFTER" "$SOAK_START" "$SOAK_END" "$STORM_END" "$WARMUP" <<'PY'
import re, statistics, sys
work, idle, after, start, end, storm_end, warmup = sys.argv[1], *map(int, sys.argv[2:])
samples = [tuple(map(int, l.split())) for l in open(f"{work}/rss.txt") if len(l.split()) == 2]
# Strictly before the end: the login storm begins the same second.
steady = [r for t, r in samples if start + warmup <= t < end]
storm = [r for t, r in samples if end < t <= storm_end]
windows = [l for l in open(f"{work}/soak.txt") if l.startswith("t=")]
p99 = [float(re.search(r"p99_ms=([\d.]+)", l).group(1)) for l in windows]
total = [l for l in open(f"{work}/soak.txt") if l.startswith("TOTAL")][0]
storm_total = [l for l in open(f"{work}/storm.txt") if l.startswith("TOTAL")][0]
mib = lambda kib: kib / 1024
med = statistics.median(steady)
spread = max(abs(r - med) / med for r in steady)
print(f"soak: {total.strip()}")
print(f"p99 per 30 s window, ms: min {min(p99):.1f}, median {statistics.median(p99):.1f}, max {max(p99):.1f}")
print(f"RSS after {warmup} s warm-up: median {mib(med):.1f} MiB, min {mib(min(steady)):.1f}, max {mib(max(steady)):.1f} "
      f"(largest deviation {100 * spread:.1f}% of the median)")
print(f"login storm: {storm_total.strip()}")
print(f"RSS: idle {mib(idle):.1f} MiB; largest during the storm {mib(max(storm or [after])):.1f} MiB; "
      f"60 s after it {mib(after):.1f} MiB = {after / idle:.2f}x idle")
errors = "non2xx=0 errors=0" in total and "non2xx=0 errors=0" in storm_total
ok = errors and spread <= 0.10 and after < 2 * idle
print("PASS" if ok else "FAIL", "(errors: %s, RSS flat: %s, RSS back under 2x idle: %s)" % (
    "none" if errors else "SOME", spread <= 0.10, after < 2 * idle))
sys.exit(0 if ok else 1)
PY
