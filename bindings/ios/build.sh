#!/usr/bin/env bash
# Build the iOS package on a Mac with Xcode: a static library per target, the device and
# simulator slices in one XCFramework, and the Swift bindings generated from the same sources.
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  cargo rustc --release -p taskforce-bindings --lib --crate-type staticlib --target "$t"
done
mkdir -p target/ios
lipo -create target/aarch64-apple-ios-sim/release/libtaskforce_bindings.a \
  target/x86_64-apple-ios/release/libtaskforce_bindings.a -output target/ios/libtaskforce_sim.a
# Swift bindings from a host build of the same crate (uniffi reads its metadata).
cargo build --release -p taskforce-bindings --lib --bin uniffi-bindgen
target/release/uniffi-bindgen generate --no-format --language swift \
  --library target/release/libtaskforce_bindings.dylib --out-dir target/ios/swift
rm -rf target/ios/headers && mkdir -p target/ios/headers
cp target/ios/swift/taskforce_bindingsFFI.h target/ios/headers/
# The module the Swift file imports: `taskforce_bindingsFFI`.
cp target/ios/swift/taskforce_bindingsFFI.modulemap target/ios/headers/module.modulemap
rm -rf "$here/TaskforceFFI.xcframework"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libtaskforce_bindings.a -headers target/ios/headers \
  -library target/ios/libtaskforce_sim.a -headers target/ios/headers \
  -output "$here/TaskforceFFI.xcframework"
mkdir -p "$here/Sources/Taskforce"
cp target/ios/swift/taskforce_bindings.swift "$here/Sources/Taskforce/"
echo "Swift package ready: $here"
