#!/usr/bin/env bash
# Mutation testing of larch's rules with cargo-mutants: each mutant is a small change to the
# code (a `>` turned into `>=`, a function body replaced by a default value, ...); the tests
# must fail on it ("caught"). A mutant they pass ("missed") is a rule no test pins down:
# kill it with a test, or explain in docs/mutants-equivalent.md why it cannot matter.
#
#   scripts/mutants.sh                      # the domain files below, with the unit tests
#                                           # and the OpenAPI snapshot
#   MUTANTS_TESTS=all scripts/mutants.sh    # with the whole suite (the API tests too, on
#                                           # SQLite): much slower, catches more
#   MUTANTS_TESTS=api:email_tokens scripts/mutants.sh -f src/email_tokens/mod.rs
#                                           # the unit and API tests whose names contain
#                                           # the filter: for rules kept in the database
#   scripts/mutants.sh -f src/money.rs      # other cargo-mutants arguments replace the
#                                           # file list
#
# Too slow for every CI run: about 14 s a mutant with the unit tests, ~50 s with the whole
# suite, on 2 cores (see docs/development.md for the last result). The report is in
# target/mutants/mutants.out (caught.txt, missed.txt, timeout.txt, unviable.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
  cargo install cargo-mutants --locked --version '^27'
fi

# The rules: money, validation and the value newtypes, pagination, tokens, preconditions and
# ETags, idempotency, sessions and reset-token rules, and passwords (their rules, the
# Argon2 verification, werkzeug's formats).
FILES=(
  src/money.rs
  src/text.rs
  src/validation.rs
  src/pagination.rs
  src/tokens.rs
  src/conditional.rs
  src/idempotency/mod.rs
  src/session_lifetime.rs
  src/email_tokens/mod.rs
  src/users/domain.rs
  src/posts/domain.rs
  src/products/domain.rs
  src/passwords.rs
  src/passwords/werkzeug.rs
)

args=()
if [ "$#" -gt 0 ]; then
  args=("$@")
else
  for file in "${FILES[@]}"; do args+=(-f "$file"); done
fi
if [[ "${MUTANTS_TESTS:-unit}" == api:* ]]; then
  # The API tests (on SQLite) and unit tests whose names contain the filter (one: the API
  # harness takes a single filter). --cargo-arg reaches the build as well as the run, so
  # only these targets are built.
  args+=(--cargo-arg=--lib --cargo-arg=--test=api
         --cargo-test-arg=-- "--cargo-test-arg=${MUTANTS_TESTS#api:}")
elif [ "${MUTANTS_TESTS:-unit}" != "all" ]; then
  # The unit tests, and the snapshot of the OpenAPI document (which pins the schemas the
  # value types describe).
  args+=(--cargo-arg=--lib --cargo-arg=--test=openapi)
fi

mkdir -p target/mutants
exec cargo mutants --output target/mutants "${args[@]}"
