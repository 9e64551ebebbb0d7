#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ for a while (default 30 s each) and fails when one finds
# a crash, a failed assertion, a timeout or an out-of-memory; the input that did it is printed
# and kept under fuzz/artifacts/<target>/. docs/reliability.md ("Fuzzing") says what each
# target checks.
#   scripts/fuzz.sh [seconds-per-target]
# Environment:
#   FUZZ_TARGETS="webhook_parse signature"  run only these targets (default: all of fuzz/)
#   FUZZ_JOBS=2        libFuzzer worker processes per target (default 1; `-fork`)
#   FUZZ_ARGS="..."    extra libFuzzer flags (e.g. -max_len=65536)
#   FUZZ_SANITIZER=address  build with AddressSanitizer (a separate, slower build; nightly-only
#                      flags, so RUSTC_BOOTSTRAP=1 is set for it). Default: none.
#   CARGO_TARGET_DIR   build directory (default fuzz/target); the working corpus is kept
#                      beside it in <dir>/fuzz-corpus/<target> (default fuzz/corpus/<target>)
#                      so that it grows from one run to the next.
# cargo-fuzz (pinned) is installed on first use into ~/.cache/metabridge-tools/cargo.
# By default the targets are built without a sanitizer (`-s none`), which needs no nightly
# flag: the crate forbids unsafe code, so AddressSanitizer would mostly slow the build and the
# runs; libFuzzer's coverage, panics (debug assertions and overflow checks are on), -timeout
# and -rss_limit_mb do the finding.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

SECONDS_PER_TARGET="${1:-30}"
case "$SECONDS_PER_TARGET" in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2 ;;
esac

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$HOME/.cache/metabridge-tools/cargo"
export PATH="$TOOLS/bin:$PATH"
if [ "$(cargo-fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS" --quiet
fi

SANITIZER="${FUZZ_SANITIZER:-none}"
if [ "$SANITIZER" != none ]; then
  # -Zsanitizer on the stable toolchain. Keep it set for every build with this sanitizer:
  # cargo caches rustc's answers per flag set, not per RUSTC_BOOTSTRAP value.
  export RUSTC_BOOTSTRAP=1
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  CORPUS_ROOT="$CARGO_TARGET_DIR/fuzz-corpus"
else
  CORPUS_ROOT="$ROOT/fuzz/corpus"
fi
BUILD=(-s "$SANITIZER")

TARGETS="${FUZZ_TARGETS:-$(cd fuzz && cargo fuzz list)}"
JOBS="${FUZZ_JOBS:-1}"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT

start=$SECONDS
echo "fuzz: building $(echo $TARGETS | wc -w) targets (cargo fuzz build ${BUILD[*]})"
(cd fuzz && cargo fuzz build "${BUILD[@]}")
echo "fuzz: built in $((SECONDS - start)) s"

failed=()
for t in $TARGETS; do
  corpus="$CORPUS_ROOT/$t"
  seeds="$ROOT/fuzz/seeds/$t"
  mkdir -p "$corpus" "$ROOT/fuzz/artifacts/$t"
  dict=()
  case "$t" in
    webhook_parse) dict=(-dict="$ROOT/fuzz/dicts/webhook.dict") ;;
    signature|jwt_claimed) dict=(-dict="$ROOT/fuzz/dicts/tokens.dict") ;;
  esac
  par=()
  if [ "$JOBS" -gt 1 ]; then par=(-fork="$JOBS" -ignore_crashes=0); fi
  echo "fuzz: $t for ${SECONDS_PER_TARGET} s (corpus $corpus, seeds fuzz/seeds/$t)"
  log="$LOGS/$t.log"
  set +e
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  (cd fuzz && cargo fuzz run "${BUILD[@]}" "$t" "$corpus" "$seeds" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "${dict[@]}" "${par[@]}" ${FUZZ_ARGS:-}) >"$log" 2>&1
  rc=$?
  set -e
  # The last status line (#N DONE/pulse cov: ... corp: ...) and the final stats.
  grep -E '^#[0-9]+' "$log" | tail -n 1 || true
  grep -E '^stat::(number_of_executed_units|peak_rss_mb):' "$log" || true
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); the end of its output:" >&2
    grep -vE '^#[0-9]+' "$log" | tail -n 60 >&2
    grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | sed 's/^/fuzz: /' >&2 || true
    echo "fuzz: reproduce with: (cd fuzz && ${RUSTC_BOOTSTRAP:+RUSTC_BOOTSTRAP=1 }cargo fuzz run -s $SANITIZER $t <artifact>)" >&2
  fi
done

n=$(echo $TARGETS | wc -w)
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of $n targets found a problem: ${failed[*]} (in $((SECONDS - start)) s)" >&2
  exit 1
fi
echo "fuzz: $n targets, no crash in ${SECONDS_PER_TARGET} s each ($((SECONDS - start)) s in all)"
