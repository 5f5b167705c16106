#!/usr/bin/env bash
# The test command of the README: every Rust test of the workspace, then the phone library
# from Python, Kotlin and Swift (ops/foreign-tests.sh), after the deployment files are checked
# by their own linters and parsers (ops/validate-deploy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
echo "-- the Rust tests took ${SECONDS} s"
ops/validate-deploy.sh
echo "-- the deployment files checked at ${SECONDS} s"
ops/foreign-tests.sh
echo "-- the foreign tests done at ${SECONDS} s"
