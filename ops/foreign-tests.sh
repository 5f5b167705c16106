#!/usr/bin/env bash
# The phone library used from other languages, and the dashboard in a real browser, against a
# real `taskforce serve`:
#   - Python: the generated module loads the cdylib; pytest drives the scenario;
#   - Kotlin: the generated bindings (JNA) and bindings/tests/kotlin/Scenario.kt, compiled with
#     a current Kotlin compiler (ops/kotlin.sh), run the same scenario;
#   - Swift: no toolchain can be installed here, so the generated header is compiled as C and
#     every function it declares is checked against the library's exported symbols.
#   - the dashboard: server/tests/browser (pytest + selenium) drives Debian's headless Chromium
#     through chromedriver; screenshots are saved in artifacts/screenshots/.
# Outside CI a missing tool (pytest, Java, JNA, Chromium) is reported as SKIPPED; in CI
# (CI=true) it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
need() {
  if [ "${CI:-}" = true ]; then echo "FAILED: $1 is required in CI" >&2; exit 1; fi
  echo "SKIPPED: $1 is not available"; return 1
}

cargo build -q -p taskforce-server --bin taskforce
out=$(ops/bindings.sh target/bindings 2>/dev/null)
bin=target/debug/taskforce
tmp=$(mktemp -d)
db="sqlite://$tmp/taskforce.db?mode=rwc"
export TASKFORCE_PASSWORD="mật khẩu thử nghiệm 2020"
add() { "$bin" user add --db "$db" "$@" >/dev/null; }
add py.a --unit cuc-attt; add py.b --unit cuc-attt
add kt.a --unit cuc-bao-chi; add kt.b --unit cuc-bao-chi
add dash.a --unit cuc-vt
add vanphong --role ministry_office
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Every scenario signs in from 127.0.0.1: one address standing for many (login limits).
TASKFORCE_LOGIN_PER_ADDRESS_BURST=1000 "$bin" serve --db "$db" --bind "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
export TASKFORCE_SERVER="http://127.0.0.1:$port" TASKFORCE_OBSERVER=vanphong
# A second directive (or a revision of one), imported and published by the CLI while a
# scenario's phone is offline: the scenario runs `$TASKFORCE_PUBLISH FILE ID` at that moment.
# As the Ministry Office's account: a revision is signed by its device (decision 44).
printf '#!/usr/bin/env bash\nset -euo pipefail\n"%s" directive import "$1" --db "%s" >/dev/null\n"%s" directive publish "$2" --db "%s" --as vanphong >/dev/null\n' \
  "$PWD/$bin" "$db" "$PWD/$bin" "$db" >"$tmp/publish.sh"
chmod +x "$tmp/publish.sh"
export TASKFORCE_PUBLISH="$tmp/publish.sh"
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('$TASKFORCE_SERVER/healthz')" 2>/dev/null && break
  sleep 0.1
done

echo "== Python"
if python3 -c 'import pytest' 2>/dev/null || need pytest; then
  TASKFORCE_PY_BINDINGS="$PWD/$out/python" TASKFORCE_UNIT=cuc-attt TASKFORCE_USER_PREFIX=py \
    TASKFORCE_SECOND_TEXT="$PWD/mobile-core/tests/fixtures/ct-btttt-tin-gia.txt" TASKFORCE_SECOND_ID=07-ct-btttt \
    python3 -m pytest -q -p no:cacheprovider bindings/tests/python
fi

echo "== Kotlin"
jna=/usr/share/java/jna.jar
if { command -v java >/dev/null || need java; } && { [ -f "$jna" ] || need "JNA (libjna-java)"; }; then
  kdir=$(ops/kotlin.sh)
  java -Xmx2g -cp "$kdir/compiler.jar" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
    -no-stdlib -no-reflect -nowarn -jvm-target 17 -cp "$kdir/stdlib.jar:$jna" -d "$tmp/kotlin" \
    "$out"/kotlin/uniffi/taskforce_bindings/taskforce_bindings.kt bindings/tests/kotlin/Scenario.kt
  TASKFORCE_UNIT=cuc-bao-chi TASKFORCE_USER_PREFIX=kt \
    TASKFORCE_SECOND_TEXT="$PWD/bindings/tests/fixtures/ct-btttt-bao-chi.txt" TASKFORCE_SECOND_ID=09-ct-btttt \
    java -Djna.library.path=target/debug -cp "$tmp/kotlin:$kdir/stdlib.jar:$jna" ScenarioKt
fi

echo "== Dashboard in Chromium"
if { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || need "chromium and chromium-driver"; } &&
   { python3 -c 'import selenium, openpyxl' 2>/dev/null || need "selenium and openpyxl"; }; then
  TASKFORCE_PY_BINDINGS="$PWD/$out/python" TASKFORCE_DASH_MEMBER=dash.a TASKFORCE_ARTIFACTS="$PWD/artifacts" \
    python3 -m pytest -q -p no:cacheprovider server/tests/browser
  echo "screenshots: artifacts/screenshots/"
fi

echo "== Swift (no toolchain here: header and symbols checked)"
swift="$out/swift"
# _Nonnull/_Nullable are clang nullability annotations; gcc compiles the header without them.
echo '#include "taskforce_bindingsFFI.h"' | cc -fsyntax-only -x c -D_Nonnull= -D_Nullable= -D_Null_unspecified= -I "$swift" -
declared=$(grep -oE '\b(uniffi_taskforce_bindings_[a-z0-9_]+|ffi_taskforce_bindings_[a-z0-9_]+)\(' "$swift/taskforce_bindingsFFI.h" | tr -d '(' | sort -u)
exported=$(nm -D --defined-only target/debug/libtaskforce_bindings.so | awk '{print $3}' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || { echo "FAILED: the Swift header declares symbols the library lacks: $missing" >&2; exit 1; }
used=$(grep -oE '\b(uniffi_taskforce_bindings_[a-z0-9_]+|ffi_taskforce_bindings_[a-z0-9_]+)\(' "$swift/taskforce_bindings.swift" | tr -d '(' | sort -u)
unknown=$(comm -23 <(echo "$used") <(echo "$declared"))
[ -z "$unknown" ] || { echo "FAILED: the Swift code calls functions the header does not declare: $unknown" >&2; exit 1; }
grep -qE "(open|public) class TaskforceClient\b" "$swift/taskforce_bindings.swift"
echo "Swift: $(echo "$declared" | wc -l) FFI functions declared, all exported; $(echo "$used" | wc -l) used by the Swift code, all declared"
