#!/usr/bin/env bash
# Writes linker/symbol-order.txt: the functions a release build of larch runs from start
# through serving (sorted by name, SQLite's first, then what PostgreSQL and MySQL added),
# which build.rs hands to the linker so that they sit together in the binary (an idle server then maps 6 MiB of code, not 14 MiB).
#
#   bench/symbol-order.sh        # SQLite, then PostgreSQL and MySQL where they answer
#
# Run it again after updating dependencies or the toolchain: the file names symbols, and a
# build whose names differ links as before for the ones it lacks. It starts the release
# binary under valgrind's callgrind (Debian: apt-get install valgrind; installed when
# missing), one server per backend, and sends each the requests of `exercise` below.
# Knobs: BENCH_POSTGRES_URL, BENCH_MYSQL_URL (as bench/run.sh; a database larch_order is
# dropped and created there), PORT (8396).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8396}
URL="http://127.0.0.1:$PORT"
OUT=linker/symbol-order.txt

command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null ||
  { echo "valgrind is missing (Debian: apt-get install valgrind)" >&2; exit 1; }
if curl -s --max-time 2 -o /dev/null "$URL/healthz"; then
  echo "something already answers on port $PORT: stop it, or set PORT" >&2; exit 1
fi
cargo build --release --quiet --bin larch
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$(realpath "$TARGET_DIR/release/larch")
WORK=$(mktemp -d /tmp/larch-order.XXXXXX)
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

# One request to each common path: successes, validation errors, missing rows, a 304.
exercise() {
  local json='Content-Type: application/json' login token refresh auth post
  c() { curl -s -o /dev/null "$@"; }
  c "$URL/healthz"; c "$URL/readyz"; c "$URL/metrics"
  c -X POST "$URL/auth/register" -H "$json" \
    -d '{"username":"orderer","email":"orderer@example.com","password":"order-password"}'
  c -X POST "$URL/auth/register" -H "$json" -d '{"username":"x","email":"bad","password":"1"}'
  login=$(curl -s -X POST "$URL/auth/login" -H "$json" \
    -d '{"email":"orderer@example.com","password":"order-password"}')
  token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$login")
  refresh=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["refresh_token"])' "$login")
  c -X POST "$URL/auth/login" -H "$json" -d '{"email":"nobody@example.com","password":"order-password"}'
  auth="Authorization: Bearer $token"
  c "$URL/auth/me" -H "$auth"; c "$URL/auth/me"; c "$URL/auth/me" -H "Authorization: Bearer bad"
  c "$URL/users/1" -H "$auth"; c "$URL/users?page=1&limit=20" -H "$auth"; c "$URL/users/999999" -H "$auth"
  post=$(curl -s -X POST "$URL/posts" -H "$auth" -H "$json" -d '{"title":"hello","body":"world"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  c "$URL/posts/$post"; c "$URL/posts/$post" -H 'If-None-Match: "x"'
  etag=$(curl -s -D - -o /dev/null "$URL/posts/$post" | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')
  c "$URL/posts/$post" -H "If-None-Match: $etag"
  c "$URL/posts?page=1"; c "$URL/posts?page=2&limit=5"; c "$URL/users/1/posts"
  c -X PUT "$URL/posts/$post" -H "$auth" -H "$json" -d '{"title":"hello 2","body":"world 2"}'
  c "$URL/products?q=a&sort=price"; c "$URL/products?page=1"; c "$URL/products/1"
  c "$URL/auth/sessions" -H "$auth"
  c -X POST "$URL/auth/refresh" -H "Authorization: Bearer $refresh"
  c -X DELETE "$URL/posts/$post" -H "$auth"
  c "$URL/nope"
}

# profile NAME DATABASE_URL: the server's run under callgrind, as WORK/NAME.cg
profile() {
  echo "== $1"
  DATABASE_URL=$2 RUST_LOG=warn RATE_LIMIT_AUTH_PER_MINUTE=0 valgrind --tool=callgrind \
    --demangle=no --dump-instr=no --callgrind-out-file="$WORK/$1.cg" \
    "$BIN" serve --bind "127.0.0.1:$PORT" > "$WORK/$1.log" 2>&1 &
  SERVER=$!
  local up=
  for _ in $(seq 1 300); do
    kill -0 $SERVER 2>/dev/null || break
    curl -sf "$URL/healthz" >/dev/null && up=1 && break
    sleep 0.2
  done
  [ -n "$up" ] || { echo "the server did not start:" >&2; cat "$WORK/$1.log" >&2; exit 1; }
  exercise
  sleep 1
  kill -INT $SERVER; wait $SERVER || true
  SERVER=
}

profile sqlite "sqlite://$WORK/order.db"
PG=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
if psql "$PG" -qc "DROP DATABASE IF EXISTS larch_order" -c "CREATE DATABASE larch_order" >/dev/null 2>&1; then
  profile postgres "${PG%/*}/larch_order"
else
  echo "PostgreSQL did not answer at $PG: its functions are left out"
fi
MY=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
if python3 - "$MY" <<'PY' 2>/dev/null
import os, subprocess, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
env = dict(os.environ, MYSQL_PWD=urllib.parse.unquote(u.password or ""))
subprocess.run(["mysql", "-h", u.hostname or "127.0.0.1", "-P", str(u.port or 3306),
                "-u", urllib.parse.unquote(u.username or "root"),
                "-e", "DROP DATABASE IF EXISTS larch_order; CREATE DATABASE larch_order"],
               env=env, check=True, capture_output=True)
PY
then
  profile mysql "${MY%/*}/larch_order"
else
  echo "MySQL did not answer at $MY: its functions are left out"
fi

# The binary's functions that ran: SQLite's (the default), then what the others added.
python3 - "$BIN" "$WORK"/*.cg > "$WORK/order" <<'PY'
import os, re, subprocess, sys
binary, runs = sys.argv[1], sys.argv[2:]
runs.sort(key=lambda p: (not p.endswith("sqlite.cg"), p))
order = {}  # symbol -> nothing, in insertion order: run by run, each run's names sorted
line_re = re.compile(r"(ob|fn|cob|cfn)=\((\d+)\)(?: (.*))?$")
for run in runs:
    objects, functions, current, ran = {}, {}, None, set()
    for line in open(run, errors="replace"):
        m = line_re.match(line.rstrip("\n"))
        if not m:
            continue
        kind, ident, name = m.groups()
        if kind in ("ob", "cob"):
            if name:
                objects[ident] = os.path.realpath(name)
            if kind == "ob":
                current = objects.get(ident)
        else:
            if name:
                functions[ident] = name
            # callgrind defines a name once (on fn= or cfn=); fn= lines are what ran.
            if kind == "fn" and current == binary and ident in functions:
                # `'2` marks a function's recursion level, not part of its name.
                symbol = re.sub(r"'\d+$", "", functions[ident])
                if not symbol.startswith("0x") and symbol != "(below main)":
                    ran.add(symbol)
    # Sorted, so that the file changes only where the code does (the order they first ran
    # in varies with how threads interleave; what matters is that they sit together).
    for symbol in sorted(ran):
        order.setdefault(symbol, None)
# Too few means a run went wrong (the binary not found in the profile, say): keep the old file.
if len(order) < 1000:
    sys.exit(f"only {len(order)} functions found: the file is left as it was")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
print(f"# Functions larch ran from start through serving, for the linker (build.rs).")
print(f"# Written by bench/symbol-order.sh with {rustc}; another compiler renames them.")
sys.stdout.write("".join(s + "\n" for s in order))
print(f"{len(order)} functions", file=sys.stderr)
PY
mv "$WORK/order" "$OUT"
echo "wrote $OUT"
