#!/usr/bin/env bash
# The release build's memory when idle: starts target/release/larch on a fresh SQLite
# database three times, reads its RSS when /healthz first answers, and fails when the
# middle reading is over LIMIT_MIB (20, the target in docs/benchmarks.md). Says first how
# many of linker/symbol-order.txt's functions the binary has: under half means the file is
# stale (another toolchain or updated dependencies) and wants `bench/symbol-order.sh`.
#
#   scripts/check_idle_rss.sh        # builds the release binary unless LARCH_SKIP_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT_MIB=${LIMIT_MIB:-20}
PORT=${PORT:-8395}
[ -n "${LARCH_SKIP_BUILD:-}" ] || cargo build --release --quiet
BIN=$PWD/target/release/larch
URL="http://127.0.0.1:$PORT"
if curl -s --max-time 2 -o /dev/null "$URL/healthz"; then
  echo "something already answers on port $PORT: stop it, or set PORT" >&2; exit 1
fi
WORK=$(mktemp -d /tmp/larch-rss.XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$WORK"' EXIT

if command -v nm >/dev/null; then
  nm --defined-only "$BIN" | awk '{print $3}' | sort -u > "$WORK/names"
  grep -v '^#' linker/symbol-order.txt | sort -u > "$WORK/order"
  have=$(comm -12 "$WORK/order" "$WORK/names" | wc -l)
  echo "symbol order: the binary has $have of the $(wc -l < "$WORK/order") functions named in linker/symbol-order.txt"
  [ $((have * 2)) -ge "$(wc -l < "$WORK/order")" ] ||
    echo "WARNING: the symbol order is stale: run bench/symbol-order.sh"
fi

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
readings=()
for run in 1 2 3; do
  DATABASE_URL="sqlite://$WORK/idle$run.db" RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" \
    > "$WORK/server.log" 2>&1 &
  server=$!
  up=
  for _ in $(seq 1 100); do
    kill -0 $server 2>/dev/null || break
    curl -sf "$URL/healthz" >/dev/null && up=1 && break
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "FAIL: the server did not answer within 10 s:" >&2; cat "$WORK/server.log" >&2; exit 1
  fi
  kib=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  kill $server; wait $server || true
  server=
  echo "run $run: idle RSS $(mib "$kib") MiB"
  readings+=("$kib")
done
middle=$(printf '%s\n' "${readings[@]}" | sort -n | sed -n 2p)
if [ "$middle" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "FAIL: idle RSS $(mib "$middle") MiB is over $LIMIT_MIB MiB" >&2
  echo "(a stale symbol order raises it: run bench/symbol-order.sh, commit linker/symbol-order.txt)" >&2
  exit 1
fi
echo "PASS: idle RSS (middle of 3) $(mib "$middle") MiB, at most $LIMIT_MIB MiB"
