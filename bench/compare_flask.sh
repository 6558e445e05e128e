#!/usr/bin/env bash
# Side-by-side: larch against the Flask tutorial's own application (bench/flask/) under
# gunicorn, on the same machine, same SQLite row counts, same wrk load, one server at a time.
#
#   bench/compare_flask.sh                       # 10 s per endpoint, 1000 users, 100,000 posts
#   DURATION=5 POSTS=10000 bench/compare_flask.sh
#   FLASK_WORKERS=4 FLASK_WORKER_CLASS=sync ...  # gunicorn's defaults here (sync: no keep-alive)
#   LARCH_BIN=/path/to/larch ...                 # skip `cargo build --release`, bench that binary
#
# The "other CPU" column is the share of the machine used by neither the server nor wrk during
# each run (other jobs, kernel writeback): above ~10% the row is skewed, so run it again.
#
# Needs wrk (installed from Debian when missing) and python3 (a venv is made in bench/flask/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
USERS=${USERS:-1000}
POSTS=${POSTS:-100000}
PRODUCTS=${PRODUCTS:-10000}
LARCH_PORT=${LARCH_PORT:-8401}
FLASK_PORT=${FLASK_PORT:-8402}
FLASK_WORKERS=${FLASK_WORKERS:-4}
FLASK_WORKER_CLASS=${FLASK_WORKER_CLASS:-sync}
WRK_TIMEOUT=${WRK_TIMEOUT:-10}
WORK=${WORK:-$(mktemp -d /tmp/larch-vs-flask.XXXXXX)}
FLASK_DIR=$PWD/bench/flask
VENV=${VENV:-$FLASK_DIR/.venv}
STARTED=$(date +%s)

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
if [ -n "${LARCH_BIN:-}" ]; then BIN=$LARCH_BIN; else   # LARCH_BIN: a larch binary built elsewhere
  cargo build --release --quiet
  BIN=$PWD/target/release/larch
fi
if [ ! -x "$VENV/bin/gunicorn" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$FLASK_DIR/requirements.txt"
fi

# The machine may be shared: measure, per run, the CPU used by anything but the server and wrk.
TICKS=$(getconf CLK_TCK); CORES=$(nproc)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4}' /proc/stat; } # user, nice, system (irq time is no process's)
proc_ticks() { # pid, two field numbers of /proc/PID/stat counted after its "(comm)"
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  echo "${s##*) }" | awk -v a="$2" -v b="$3" '{print $a + $b}'
}
server_ticks() { # utime + stime of the server and its direct children (gunicorn's workers)
  local total=0 p
  for p in $SERVER $(pgrep -P "$SERVER" || true); do total=$(( total + $(proc_ticks "$p" 12 13) )); done
  echo "$total"
}
children_ticks() { proc_ticks $$ 14 15; } # cutime + cstime of this shell: wrk, curl once waited for

SERVER=
stop_server() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  SERVER=
}
trap 'stop_server || true' EXIT

cat > "$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# Registers and logs in a user, writes the wrk scripts, runs every endpoint against one server.
# Args: name, base URL, the server's path for the posts collection.
bench_server() {
  local name=$1 url=$2 posts=$3 token user_id post_id
  for _ in $(seq 1 200); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
  if ! curl -sf "$url/healthz" >/dev/null; then
    echo "$name did not come up on $url; the end of $WORK/$name.log:" >&2
    tail -20 "$WORK/$name.log" >&2
    exit 1
  fi
  curl -sf -X POST "$url/auth/register" -H 'Content-Type: application/json' \
    -d '{"username":"bencher","email":"bencher@example.com","password":"bench-password"}' >/dev/null
  token=$(curl -sf -X POST "$url/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"bencher@example.com","password":"bench-password"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  user_id=$(curl -sf "$url/auth/me" -H "Authorization: Bearer $token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
  post_id=$(curl -sf "$url$posts?limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["posts"][0]["id"])')
  local dir=$WORK/$name
  mkdir -p "$dir"
  cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"title": "Benchmark post", "body": "Written by wrk."}'
$(cat "$WORK/report.lua")
LUA
  cat > "$dir/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "bencher@example.com", "password": "bench-password"}'
$(cat "$WORK/report.lua")
LUA
  cat > "$dir/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
$(cat "$WORK/report.lua")
LUA
  run() { # label, script, path
    local line busy0 ours0 other
    busy0=$(busy_ticks); ours0=$(( $(server_ticks) + $(children_ticks) ))
    line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency -s "$2" "$url$3" | grep '^RESULT')
    # CPU that neither the server nor wrk used during the run, in % of the whole machine.
    other=$(( ($(busy_ticks) - busy0 - $(server_ticks) - $(children_ticks) + ours0) * 100 / (DURATION * TICKS * CORES) ))
    echo "$name|$1|$3|${line#RESULT } $other" | tee -a "$WORK/results.txt"
    # gunicorn's sync workers go on serving requests that wrk abandoned (queued in the listen
    # backlog) after wrk stops: wait until a fresh request gets through before the next run.
    for _ in $(seq 1 300); do curl -sf -m 5 "$url/healthz" >/dev/null && break; done
  }
  run "GET /healthz"                 "$WORK/report.lua" "/healthz"
  run "GET /auth/me (token)"         "$dir/get.lua"     "/auth/me"
  run "GET /users/{id} (token)"      "$dir/get.lua"     "/users/$user_id"
  run "GET /posts/{id}"              "$WORK/report.lua" "/posts/$post_id"
  run "GET /posts?page=3"            "$WORK/report.lua" "$posts?page=3"
  run "POST /auth/login"             "$dir/login.lua"   "/auth/login"
  run "POST /posts"                  "$dir/post.lua"    "$posts"
}
: > "$WORK/results.txt"

echo "== seeding both: $USERS users, $POSTS posts, $PRODUCTS products (in $WORK)"
t=$(date +%s.%N)
(cd "$WORK" && DATABASE_URL="sqlite://$WORK/larch.db" RUST_LOG=warn "$BIN" seed --users "$USERS" --posts "$POSTS" --products "$PRODUCTS" >/dev/null)
echo "larch seed: $(python3 -c "import sys;print(f'{float(sys.argv[2])-float(sys.argv[1]):.1f}s')" "$t" "$(date +%s.%N)")"
(cd "$FLASK_DIR" && DATABASE_URL="sqlite:///$WORK/flask.db" USERS=$USERS POSTS=$POSTS PRODUCTS=$PRODUCTS \
  "$VENV/bin/python" seed.py)

echo "== larch (target/release/larch serve), wrk -t1 -c$CONNECTIONS -d${DURATION}s --timeout ${WRK_TIMEOUT}s per endpoint"
(cd "$WORK" && DATABASE_URL="sqlite://$WORK/larch.db" RATE_LIMIT_AUTH_PER_MINUTE=0 RUST_LOG=warn \
  exec "$BIN" serve --bind "127.0.0.1:$LARCH_PORT" > "$WORK/larch.log" 2>&1) &
SERVER=$!
bench_server larch "http://127.0.0.1:$LARCH_PORT" /posts
stop_server

echo "== flask (gunicorn -w $FLASK_WORKERS -k $FLASK_WORKER_CLASS, config 'production'), same load"
(cd "$FLASK_DIR" && DATABASE_URL="sqlite:///$WORK/flask.db" \
  JWT_SECRET_KEY=bench-only-jwt-secret-key-of-32-bytes-or-more \
  exec "$VENV/bin/gunicorn" -w "$FLASK_WORKERS" -k "$FLASK_WORKER_CLASS" --no-control-socket \
    -b "127.0.0.1:$FLASK_PORT" "app:create_app('production')" > "$WORK/flask.log" 2>&1) &
SERVER=$!
bench_server flask "http://127.0.0.1:$FLASK_PORT" /posts/   # Flask 308-redirects /posts to /posts/
stop_server

echo
echo "== larch vs Flask tutorial app ($USERS users, $POSTS posts; $(nproc) cores shared by server and wrk; ${DURATION}s each)"
python3 - "$WORK/results.txt" <<'PY'
import sys
rows = {}
order = []
for line in open(sys.argv[1]):
    server, label, path, result = line.rstrip("\n").split("|")
    rps, p50, p99, bad, errs, other = result.split()
    rows[(server, label)] = (float(rps), float(p50), int(bad) + int(errs), max(0, int(other)))
    if label not in order:
        order.append(label)
print(f"{'endpoint':24} {'larch req/s':>11} {'flask req/s':>11} {'ratio':>7} {'larch p50':>10} {'flask p50':>10} {'errors l/f':>11} {'other CPU l/f':>13}")
busy = False
for label in order:
    l, f = rows.get(("larch", label)), rows.get(("flask", label))
    if not l or not f:
        continue
    ratio = l[0] / f[0] if f[0] else float("inf")
    print(f"{label:24} {l[0]:11.0f} {f[0]:11.0f} {ratio:6.1f}x {l[1]:8.2f}ms {f[1]:8.2f}ms {l[2]:>5}/{f[2]:<5} {l[3]:>5}%/{f[3]:<5}%")
    busy = busy or l[3] > 10 or f[3] > 10
if busy:
    print("\nWARNING: other processes used over 10% of the machine during some runs: those numbers are skewed.")
PY
cat <<EOF

Caveats: POST /auth/login compares different password hashes (larch: Argon2id; Flask: werkzeug's
default, $("$VENV/bin/python" -c 'from werkzeug.security import generate_password_hash as g;print(g("x").split("$")[0])')), so its ratio is mostly hash cost.
Flask's GET /users/{id} checks no token (the tutorial leaves it open; larch requires one); GET /auth/me is
token-checked on both. gunicorn $FLASK_WORKER_CLASS workers close the connection after each response (no
keep-alive); larch keeps connections open. The tutorial's Post has no index on created_at, so Flask's
list sorts all posts per request. "errors" = non-2xx responses + socket errors (incl. wrk timeouts, ${WRK_TIMEOUT}s).
Total time: $(( $(date +%s) - STARTED ))s. Logs and databases: $WORK
EOF
