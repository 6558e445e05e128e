#!/usr/bin/env bash
# Line coverage of the whole test suite, including the tests that start the real `larch`
# binary (it is built instrumented too, and each child process writes its own profile).
#
#   scripts/coverage.sh            # run the suite under coverage, print the summary, check
#                                  # the gates
#   scripts/coverage.sh --html     # the same, and write an HTML report to
#                                  # target/llvm-cov/html/index.html
#   COVERAGE_SKIP_RUN=1 scripts/coverage.sh   # only report on the profiles already collected
#
# The suite runs on whatever backends its environment names (LARCH_TEST_POSTGRES_URL,
# LARCH_TEST_MYSQL_URL, ...; see docs/development.md), so coverage counts them all.
#
# Gates (exit status 1 when one fails):
#   - every handler (each function under `#[utoipa::path]`) was called by some test;
#   - the handler modules (each `routes.rs`, and the other files that hold handlers)
#     together: at least HANDLER_FLOOR % of lines (default 80), and each on its own at
#     least MODULE_FLOOR % (default 80);
#   - the crate as a whole: at least TOTAL_FLOOR % (default 90: the first measurement on
#     all three backends was 94.4%; see docs/development.md).
#
# Needs cargo-llvm-cov and the llvm-tools component; installs both when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

HANDLER_FLOOR=${HANDLER_FLOOR:-80}
MODULE_FLOOR=${MODULE_FLOOR:-80}
TOTAL_FLOOR=${TOTAL_FLOOR:-90}
HTML=
[ "${1:-}" = "--html" ] && HTML=1

if ! rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'; then
  rustup component add llvm-tools
fi
if ! cargo llvm-cov --version >/dev/null 2>&1; then
  cargo install cargo-llvm-cov --locked --version '^0.9'
fi

if [ -z "${COVERAGE_SKIP_RUN:-}" ]; then
  cargo llvm-cov clean --workspace
  cargo llvm-cov --locked --no-report
fi

mkdir -p target/llvm-cov
# Test code is not what is measured: only src/ (main.rs included).
IGNORE='(^|/)(tests|examples|benches)/|/\.cargo/|/rustc/'
cargo llvm-cov report --json --ignore-filename-regex "$IGNORE" > target/llvm-cov/coverage.json
if [ -n "$HTML" ]; then
  cargo llvm-cov report --html --ignore-filename-regex "$IGNORE" --output-dir target/llvm-cov
  echo "HTML report: target/llvm-cov/html/index.html"
fi

HANDLER_FILES="$(grep -rl 'utoipa::path' src | sort | tr '\n' ' ')"
python3 - "$HANDLER_FLOOR" "$MODULE_FLOOR" "$TOTAL_FLOOR" $HANDLER_FILES <<'PY'
import json, os, re, sys

handler_floor, module_floor, total_floor = (float(x) for x in sys.argv[1:4])
handlers = set(sys.argv[4:])
data = json.load(open("target/llvm-cov/coverage.json"))["data"][0]
root = os.getcwd() + "/"

def pct(covered, count):
    return 100.0 * covered / count if count else 100.0

rows = []
for f in data["files"]:
    lines = f["summary"]["lines"]
    rows.append((f["filename"].removeprefix(root), lines["covered"], lines["count"]))

# The handlers: each function under a #[utoipa::path] attribute. One ran when some
# instantiation of it (in the test binary or in the larch binary the tests start) ran; its
# symbol (Rust's v0 mangling) ends in the name's length and the name.
handler_fns = {}
for name in handlers:
    source = open(name).read()
    for match in re.finditer(r"^\s*#\[utoipa::path.*?\bfn\s+(\w+)", source, re.S | re.M):
        handler_fns[(name, match.group(1))] = False
for function in data["functions"]:
    if function["count"] == 0:
        continue
    filename = function["filenames"][0].removeprefix(root)
    for (name, fn) in handler_fns:
        if filename == name and function["name"].endswith(f"{len(fn)}{fn}"):
            handler_fns[(name, fn)] = True

failed = []
print(f"{'file':<56} {'lines':>6} {'covered':>8} {'%':>6}")
for name, covered, count in sorted(rows):
    mark = ""
    if name in handlers:
        mark = "  handler module"
        if pct(covered, count) < module_floor:
            mark += f", under {module_floor:g}%"
            failed.append(f"{name}: {pct(covered, count):.1f}% of lines, under {module_floor:g}%")
    print(f"{name:<56} {count:>6} {covered:>8} {pct(covered, count):>5.1f}%{mark}")

for name in sorted(handlers - {row[0] for row in rows}):
    failed.append(f"{name}: no coverage data (not compiled into the tests?)")
never_ran = sorted(f"{name}: {fn}" for (name, fn), ran in handler_fns.items() if not ran)
for line in never_ran:
    failed.append(f"handler never called by any test: {line}")

h_cov = sum(row[1] for row in rows if row[0] in handlers)
h_count = sum(row[2] for row in rows if row[0] in handlers)
t_cov = sum(row[1] for row in rows)
t_count = sum(row[2] for row in rows)
print()
print(f"handlers: {len(handler_fns) - len(never_ran)} of {len(handler_fns)} called by the tests")
print(f"handler modules ({len(handlers)} files): {pct(h_cov, h_count):.1f}% of {h_count} lines "
      f"(floor {handler_floor:g}%, each file {module_floor:g}%)")
print(f"whole crate: {pct(t_cov, t_count):.1f}% of {t_count} lines (floor {total_floor:g}%)")
if pct(h_cov, h_count) < handler_floor:
    failed.append(f"handler modules: {pct(h_cov, h_count):.1f}%, under {handler_floor:g}%")
if pct(t_cov, t_count) < total_floor:
    failed.append(f"whole crate: {pct(t_cov, t_count):.1f}%, under {total_floor:g}%")
if failed:
    print("\ncoverage gate FAILED:")
    for line in failed:
        print(f"  - {line}")
    sys.exit(1)
print("coverage gates passed")
PY
