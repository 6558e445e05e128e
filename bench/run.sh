#!/usr/bin/env bash
# Benchmarks larch over real HTTP with wrk, on SQLite, and prints each endpoint's throughput
# as a ratio of /healthz's run right before it (and login's as a ratio of the raw Argon2id
# rate measured right before and after it), with p50/p99 latency and server RSS: the
# medians of ROUNDS rounds (3), with each ratio's range over the rounds.
#
#   bench/run.sh                 # 10 s per endpoint and per /healthz run, 3 rounds, 1,000,000 posts / 100,000 products
#   DURATION=5 POSTS=10000 PRODUCTS=1000 bench/run.sh
#   LARCH_SKIP_BUILD=1 bench/run.sh   # measure the existing target/release/larch as it is
#   BACKEND=postgres bench/run.sh     # on PostgreSQL (BENCH_POSTGRES_URL, default
#                                     # postgres://postgres@127.0.0.1:5432/test; a database
#                                     # larch_bench is dropped and created there)
#   BACKEND=mysql bench/run.sh        # on MySQL/MariaDB (BENCH_MYSQL_URL, default
#                                     # mysql://root@127.0.0.1:3306/test; the same)
#
# Needs wrk (Debian: apt-get install wrk); installs it when missing and apt-get is there.
set -euo pipefail
# A failure inside $(…) (wrk finding no server) stops the run too.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
[ "$ROUNDS" -ge 1 ] 2>/dev/null || { echo "ROUNDS must be a whole number, at least 1" >&2; exit 2; }
CONNECTIONS=${CONNECTIONS:-64}
USERS=${USERS:-1000}
POSTS=${POSTS:-1000000}
PRODUCTS=${PRODUCTS:-100000}
PORT=${PORT:-8399}
WORK=${WORK:-$(mktemp -d /tmp/larch-bench.XXXXXX)}
URL="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
if [ -z "${LARCH_SKIP_BUILD:-}" ]; then
  cargo build --release --quiet
  cargo build --release --quiet --example hash_rate
fi
BIN=$PWD/target/release/larch

# Before anything is dropped or seeded: a server left running would serve the run instead.
if curl -s --max-time 2 -o /dev/null "$URL/healthz"; then
  echo "something already answers on port $PORT: stop it, or set PORT" >&2; exit 1
fi

BACKEND=${BACKEND:-sqlite}
case $BACKEND in
  sqlite) export DATABASE_URL="sqlite://$WORK/bench.db" ;;
  postgres)
    PG=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
    psql "$PG" -qc "DROP DATABASE IF EXISTS larch_bench" -c "CREATE DATABASE larch_bench" >/dev/null 2>&1
    export DATABASE_URL="${PG%/*}/larch_bench" ;;
  mysql)
    MY=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
    # The client takes no URL: its parts (a password goes through MYSQL_PWD, not argv).
    read -r MY_HOST MY_PORT MY_USER MY_PASSWORD < <(python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 3306, urllib.parse.unquote(u.username or "root"),
      urllib.parse.unquote(u.password or "") or "-")' "$MY")
    [ "$MY_PASSWORD" = "-" ] && MY_PASSWORD=
    MYSQL_PWD="$MY_PASSWORD" mysql -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" \
      -e "DROP DATABASE IF EXISTS larch_bench; CREATE DATABASE larch_bench"
    export DATABASE_URL="${MY%/*}/larch_bench" ;;
  *) echo "BACKEND must be sqlite, postgres or mysql" >&2; exit 1 ;;
esac
echo "== seeding $POSTS posts, $PRODUCTS products, $USERS users ($BACKEND)"
export RATE_LIMIT_AUTH_PER_MINUTE=0 RUST_LOG=warn
(cd "$WORK" && "$BIN" seed --users "$USERS" --posts "$POSTS" --products "$PRODUCTS")

"$BIN" serve --bind "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status"; }
IDLE_RSS=$(rss_kib)

# A user with a token, and a post to read.
curl -sf -X POST "$URL/auth/register" -H 'Content-Type: application/json' \
  -d '{"username":"bencher","email":"bencher@example.com","password":"bench-password"}' >/dev/null
TOKEN=$(curl -sf -X POST "$URL/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bencher@example.com","password":"bench-password"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
# Another user's profile: the general case, which reads the caller and then the user.
USER_ID=1
POST_ID=$(curl -sf "$URL/posts?limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["posts"][0]["id"])')

# 32 more users, each with a token, for reads whose keys differ from request to request.
TOKENS=""
for i in $(seq 1 32); do
  curl -sf -X POST "$URL/auth/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bencher$i\",\"email\":\"bencher$i@example.com\",\"password\":\"bench-password\"}" >/dev/null
  T=$(curl -sf -X POST "$URL/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"bencher$i@example.com\",\"password\":\"bench-password\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  TOKENS="$TOKENS\"$T\","
done
# Ids to pick posts from: the newest post's and the 10,000 below it (seeded ids have no gaps).
SPREAD=$(( POSTS < 10000 ? POSTS : 10000 ))

cat > "$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"title": "Benchmark post", "body": "Written by wrk."}'
$(cat "$WORK/report.lua")
LUA
cat > "$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "bencher@example.com", "password": "bench-password"}'
$(cat "$WORK/report.lua")
LUA
cat > "$WORK/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
$(cat "$WORK/report.lua")
LUA

cat > "$WORK/many_callers.lua" <<LUA
tokens = { $TOKENS }
request = function()
  return wrk.format("GET", "/auth/me", { Authorization = "Bearer " .. tokens[math.random(#tokens)] })
end
$(cat "$WORK/report.lua")
LUA
cat > "$WORK/many_posts.lua" <<LUA
request = function()
  return wrk.format("GET", "/posts/" .. math.random($POST_ID - $SPREAD + 1, $POST_ID))
end
$(cat "$WORK/report.lua")
LUA
cat > "$WORK/many_pages.lua" <<LUA
request = function()
  return wrk.format("GET", "/posts?page=" .. math.random(1, 50))
end
$(cat "$WORK/report.lua")
LUA

run() { # name, script, path -> "rps p50 p99 non-2xx socket-errors"
  local line
  line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$2" "$URL$3" | grep '^RESULT') ||
    { echo "wrk gave no result for $1 ($URL$3): is the server still up? ($WORK/server.log)" >&2; return 1; }
  echo "${line#RESULT }"
}
RESULTS=$WORK/results.txt
: > "$RESULTS"
# One endpoint, with /healthz run right before it: its ratio is over that run. This
# machine's speed drifts by 10-40% within minutes (other tenants); an adjacent pair drifts
# far less than a run against one /healthz taken at the start.
paired() { # name, script, path
  local ceiling result
  ceiling=$(run "GET /healthz" "$WORK/report.lua" "/healthz")
  result=$(run "$@")
  printf '%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$result" "${ceiling%% *}" | tee -a "$RESULTS"
}
# The raw Argon2id rates (the crate's own, and on kept block memory as larch runs it),
# measured right before and right after login: the mean is login's ceiling.
hash_rates() {
  if [ -x target/release/examples/hash_rate ]; then
    echo "$(target/release/examples/hash_rate 5) $(target/release/examples/hash_rate 5 kept)"
  else
    echo "0 0" # not built (LARCH_SKIP_BUILD): login is shown without its ratio
  fi
}

echo "== wrk -t1 -c$CONNECTIONS -d${DURATION}s per endpoint, each after a /healthz run; $ROUNDS rounds"
for ROUND in $(seq 1 "$ROUNDS"); do
  read -r HASH_BEFORE KEPT_BEFORE <<< "$(hash_rates)"
  # Login first, so that in round 1 its memory is not mixed with the list queries'.
  LOGIN=$(run "POST /auth/login" "$WORK/login.lua" "/auth/login")
  # In round 1 the process's peak RSS so far is its peak while the 64 clients logged in
  # (before it, only the setup's few registrations and logins). Read once, not sampled: a
  # sampling loop took CPU from the hashes.
  [ "$ROUND" = 1 ] && LOGIN_RSS=$(hwm_kib)
  read -r HASH_AFTER KEPT_AFTER <<< "$(hash_rates)"
  printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "POST /auth/login" "$LOGIN" \
    "$(python3 -c "print(($HASH_BEFORE + $HASH_AFTER) / 2)")" \
    "$(python3 -c "print(($KEPT_BEFORE + $KEPT_AFTER) / 2)")" | tee -a "$RESULTS"
  paired "GET /users/{id} (token)"        "$WORK/get.lua"    "/users/$USER_ID"
  paired "GET /auth/me (token)"           "$WORK/get.lua"    "/auth/me"
  paired "GET /users?page=3&limit=20 (token)" "$WORK/get.lua" "/users?page=3&limit=20"
  paired "GET /posts/{id}"                "$WORK/report.lua" "/posts/$POST_ID"
  paired "GET /posts?page=3"              "$WORK/report.lua" "/posts?page=3"
  # The same reads with a different key each time: 32 callers, posts spread over 10,000
  # ids, pages 1 to 50 (reads by key that arrive together share one statement whatever
  # their keys; a page's run is shared only by requests for the same page).
  paired "GET /auth/me (32 callers)"      "$WORK/many_callers.lua" "/auth/me"
  paired "GET /posts/{id} (10k ids)"      "$WORK/many_posts.lua" "/posts/1"
  paired "GET /posts?page=1..50"          "$WORK/many_pages.lua" "/posts"
  paired "GET /products?q=lamp&sort=price" "$WORK/report.lua" "/products?q=lamp&sort=price"
  paired "POST /posts"                    "$WORK/post.lua"   "/posts"
done
PEAK_RSS=$(hwm_kib)

echo
echo "== results ($BACKEND, $POSTS posts, $PRODUCTS products, $USERS users; $(nproc) cores shared by server, wrk and the database)"
python3 - "$RESULTS" "$IDLE_RSS" "$PEAK_RSS" "$LOGIN_RSS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    fields = line.rstrip("\n").split("\t")
    rps, p50, p99, bad, errs = fields[2].split()
    rows.setdefault(fields[1], []).append(
        (float(rps), float(p50), float(p99), int(bad) + int(errs), [float(f) for f in fields[3:]]))
median = statistics.median
rounds = len(next(iter(rows.values())))
print(f"medians of {rounds} round(s); each ratio is over the /healthz run right before the endpoint's")
print(f"{'endpoint':34} {'req/s':>9} {'x healthz':>9} {'range':>13} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
healthz = [r[4][0] for name, runs in rows.items() if name != "POST /auth/login" for r in runs]
print(f"{'GET /healthz':34} {median(healthz):9.0f} {1:9.3f} {'':13} {'':8} {'':8} {'':8}")
for name, runs in rows.items():
    if name == "POST /auth/login":
        continue
    ratios = [r[0] / r[4][0] for r in runs]
    print(f"{name:34} {median(r[0] for r in runs):9.0f} {median(ratios):9.3f} "
          f"{min(ratios):6.3f}-{max(ratios):.3f} {median(r[1] for r in runs):8.2f} "
          f"{median(r[2] for r in runs):8.2f} {sum(r[3] for r in runs):8d}")
logins = rows["POST /auth/login"]
login = median(r[0] for r in logins)
print(f"\n{'POST /auth/login':34} {login:9.1f}/s, p50 {median(r[1] for r in logins):.0f} ms, "
      f"{sum(r[3] for r in logins)} non-2xx")
if all(r[4][0] > 0 for r in logins):
    for label, i in (("the argon2 crate's own verification", 0), ("on kept block memory, as larch runs it", 1)):
        ratios = [r[0] / r[4][i] for r in logins]
        print(f"raw Argon2id verify rate (all cores, mean of right before and right after), {label}: "
              f"{median(r[4][i] for r in logins):.1f}/s; login = {median(ratios):.2f} of it "
              f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")
print(f"server RSS: idle {int(sys.argv[2]) / 1024:.1f} MiB; peak over the whole run {int(sys.argv[3]) / 1024:.1f} MiB; "
      f"largest while 64 clients log in {int(sys.argv[4]) / 1024:.1f} MiB")
PY
