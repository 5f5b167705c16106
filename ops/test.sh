#!/usr/bin/env bash
# The test command of the README: every Rust test of the workspace, then the phone library
# from Python, Kotlin and Swift (ops/foreign-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
ops/foreign-tests.sh
