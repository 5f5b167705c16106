#!/usr/bin/env bash
# Generate the Kotlin, Swift and Python bindings from the built phone library.
#   ops/bindings.sh [OUT_DIR]      (default: target/bindings)
# The bindings are generated, not checked in: uniffi stamps each with checksums of the exact
# library it came from, so they are made from the same build that is tested or packaged.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
profile="${PROFILE:-debug}"
flag=""; [ "$profile" = release ] && flag="--release"
cargo build $flag -p taskforce-bindings --lib --bin uniffi-bindgen >&2
lib="target/$profile/libtaskforce_bindings.so"
mkdir -p "$out"
for lang in kotlin swift python; do
  "target/$profile/uniffi-bindgen" generate --no-format --library "$lib" --language "$lang" --out-dir "$out/$lang" >&2
done
cp "$lib" "$out/python/"
echo "$out"
