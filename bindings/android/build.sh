#!/usr/bin/env bash
# Build the Android module's contents: the Rust library for each ABI (cargo-ndk, the Android
# NDK in ANDROID_NDK_HOME) and the Kotlin bindings generated from the same sources.
#   cargo install cargo-ndk; rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -P 24 -o "$here/src/main/jniLibs" \
  build --release -p taskforce-bindings --lib
# The Kotlin bindings come from a host build of the same crate (uniffi reads its metadata).
PROFILE=release ops/bindings.sh target/bindings >/dev/null
rm -rf "$here/src/main/kotlin"
mkdir -p "$here/src/main/kotlin"
cp -r target/bindings/kotlin/uniffi "$here/src/main/kotlin/"
echo "Android module ready: $here (./gradlew assembleRelease, or include it in an app)"
