#!/usr/bin/env bash
# The Ministry Office's reads against a server under the load generator's phones: the
# latency of `/api/v1/progress`, the matrix page and the XLSX export on a fresh database,
# after ROUNDS rounds of 1,000 phones × 50 edits (50,000 operations a round), and while
# 1,000 phones go on editing and syncing for 45 s (the reads start once they are signed in). Loopback only; bounded by the rounds and the reads given.
#   ops/read-latency.sh SERVER_BIN LOADGEN_CMD [ROUNDS] [READS]
# e.g. ops/read-latency.sh target/release/taskforce target/release/taskforce-loadgen 3 40
set -euo pipefail
bin=$1; loadgen=$2; rounds=${3:-3}; reads=${4:-40}
tmp=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
TASKFORCE_LOGIN_PER_ADDRESS_BURST=1000000 "$bin" serve --demo --db "sqlite://$tmp/t.db?mode=rwc" --bind "127.0.0.1:$port" >"$tmp/out" 2>"$tmp/err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
pw() { awk -v u="$1" '$1 == u { print $2 }' "$tmp/out"; }
login() { curl -sf -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"$(pw "$1")\"}" "$base/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
token=$(login vanphong)
export TASKFORCE_ADMIN_PASSWORD; TASKFORCE_ADMIN_PASSWORD=$(pw admin)
# p50 / p99 / max in ms of $reads GETs of each read.
measure() {
  python3 - "$base" "$token" "$reads" "$1" <<'PY'
import sys, time, urllib.request
base, token, n, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for path in ["/api/v1/progress", "/matrix", "/exports/matrix.xlsx"]:
    ms = []
    for _ in range(n):
        req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token, "Cookie": "tf_token=" + token})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            r.read()
        ms.append((time.perf_counter() - t) * 1000)
        time.sleep(0.05)
    ms.sort()
    print(f"{label:>28} {path:<22} p50 {ms[len(ms)//2]:7.1f} ms  p99 {ms[min(len(ms)-1, int(len(ms)*0.99))]:7.1f} ms  max {ms[-1]:7.1f} ms")
PY
}
measure "fresh"
$loadgen --server "$base" --admin-user admin --devices 1000 --edits 50 --rounds "$rounds" --json 2>/dev/null | tail -1 > "$tmp/lg.json"
python3 -c "import json; d=json.load(open('$tmp/lg.json')); print('history: %d operations, %.0f ops/s, converged %s' % (d['ops_total'], d['ops_per_sec'], d['converged']))"
measure "after $((rounds * 50000)) ops"
$loadgen --server "$base" --admin-user admin --devices 1000 --edits 50 --duration-secs 45 --json 2>/dev/null | tail -1 > "$tmp/lg2.json" &
lg=$!
sleep 22   # past the phones' sign-in, into the rounds of edits and syncs
measure "while 1,000 phones sync"
wait $lg
python3 -c "import json; d=json.load(open('$tmp/lg2.json')); print('under the reads: %.0f ops/s, p99 %.0f ms, converged %s' % (d['ops_per_sec'], d['sync_p99_ms'], d['converged']))"
