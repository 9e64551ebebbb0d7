#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and the integration tests on SQLite and, when a
# PostgreSQL server is available, on PostgreSQL too.
#   METABRIDGE_TEST_POSTGRES_URL=postgres://user@host:5432/db  selects the server (CI sets it);
#   without it, a local server on 127.0.0.1:5432 (trust auth, database `test`) is used if it answers.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${METABRIDGE_TEST_POSTGRES_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 \
   && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  export METABRIDGE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -n "${METABRIDGE_TEST_POSTGRES_URL:-}" ]; then
  echo "tests: SQLite and PostgreSQL (${METABRIDGE_TEST_POSTGRES_URL%%@*}@…)"
  # Drop databases left by earlier runs (each test creates its own mb_<uuid>).
  if command -v psql >/dev/null 2>&1; then
    psql "$METABRIDGE_TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'mb\_%'" 2>/dev/null \
      | while read -r db; do psql "$METABRIDGE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
  fi
else
  echo "tests: SQLite only (no PostgreSQL found; set METABRIDGE_TEST_POSTGRES_URL to include it)"
fi
# Unit tests (library) then the integration suite; examples are built by clippy in CI.
cargo test --lib --tests "$@"
# Then the contract: spec validation, the generated Python and TypeScript clients against the
# running service, the guide's examples and schemathesis (scripts/contract.sh; it installs its
# pinned tools into ~/.cache on first use). METABRIDGE_SKIP_CONTRACT=1 skips it locally.
if [ "${METABRIDGE_SKIP_CONTRACT:-}" != "1" ]; then
  scripts/contract.sh
fi
