#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/, nightly) for SECONDS each (default 60) and prints the
# executions per target. A crash fails the run; its input is saved in
# fuzz/regressions/<target>/, which `cargo test -p taskforce-core --test fuzz_regressions`
# replays on stable: fix the bug, keep the file.
#   ops/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). The corpus
# grows in fuzz/corpus/<target>/ (not kept in git), starting from fuzz/seeds/<target>/
# (kept; rewritten by `cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
shift || true
targets=("$@")
# Default: every target of fuzz_targets/ (a new one is fuzzed without editing this list).
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2; exit 1; }
rustup run nightly rustc --version >/dev/null || { echo "the nightly toolchain is not installed: rustup toolchain install nightly" >&2; exit 1; }

# fuzz/Cargo.lock is kept: refuse to run with one that would change.
cargo metadata --locked --format-version 1 >/dev/null
logs=$(mktemp -d /tmp/taskforce-fuzz.XXXXXX)
echo "building the fuzz targets (nightly, AddressSanitizer, debug assertions)"
cargo +nightly fuzz build >"$logs/build.log" 2>&1 || { cat "$logs/build.log" >&2; exit 1; }
failed=()
printf '%-18s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "regressions/$t"
  log="$logs/$t.log"
  status=0
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
  # libFuzzer's final count: `stat::number_of_executed_units`, else the last `#N DONE`.
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)
  speed=$(sed -n 's/.*exec\/s: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ "$status" -eq 0 ]; then
    printf '%-18s %12s %10s  %s\n' "$t" "${runs:-?}" "${speed:-?}" ok
  else
    crashers=$(ls "artifacts/$t/" 2>/dev/null || true)
    for f in $crashers; do cp "artifacts/$t/$f" "regressions/$t/$f"; done
    printf '%-18s %12s %10s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "FAILED (exit $status)"
    grep -m1 -B2 -A25 -E "panicked|ERROR: (libFuzzer|AddressSanitizer)" "$log" >&2 || tail -40 "$log" >&2
    for f in $crashers; do echo "saved fuzz/regressions/$t/$f" >&2; done
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
rm -rf "$logs"
