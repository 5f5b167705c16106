#!/usr/bin/env bash
# A current Kotlin compiler without Gradle: the PyPI wheel kotlin-jupyter-kernel carries one
# (org.jetbrains.kotlin.cli.jvm.K2JVMCompiler) and the Kotlin standard library. Prints the
# directory holding compiler.jar and stdlib.jar; downloads once into ~/.cache.
set -euo pipefail
version="0.19.0.944"
dir="${TASKFORCE_KOTLIN_DIR:-$HOME/.cache/taskforce/kotlin-$version}"
if [ ! -f "$dir/compiler.jar" ] || [ ! -f "$dir/stdlib.jar" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps "kotlin-jupyter-kernel==$version" -d "$tmp" >&2
  wheel=$(ls "$tmp"/kotlin_jupyter_kernel-*.whl)
  mkdir -p "$tmp/x" "$dir"
  python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.endswith(".jar") and ("-all.jar" in n or "kotlin-stdlib-" in n):
        z.extract(n, sys.argv[2])
PY
  cp "$(find "$tmp/x" -name '*-all.jar' | head -1)" "$dir/compiler.jar"
  cp "$(find "$tmp/x" -name 'kotlin-stdlib-*.jar' ! -name '*common*' | head -1)" "$dir/stdlib.jar"
  rm -rf "$tmp"
fi
echo "$dir"
