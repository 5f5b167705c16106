#!/usr/bin/env bash
# Scale-out figures (issue 24): taskforce-loadgen against one replica directly, through nginx
# to one replica, and through nginx to two replicas, each run on a fresh database of the same
# PostgreSQL, with the CPU each part used (the load generator and its phones, nginx, the
# replicas, PostgreSQL) over the sync phase, from /proc (ops/scale-out-sample.py) — on one
# machine they all share its cores, which is what the figures must be read against
# (docs/benchmarks.md).
#
#   ops/scale-out.sh PG_DATA_DIR PG_ADMIN_URL [DEVICES] [EDITS] [RUNS]
#
# PG_DATA_DIR: the data directory of the PostgreSQL at PG_ADMIN_URL (ops/pg.sh start DIR PORT
# prints the URL), for its processes' CPU. Needs target/release/taskforce and
# target/release/taskforce-loadgen (cargo build --release -p taskforce-server, then
# -p taskforce-loadgen) and nginx. Prints one line per run and keeps each run's JSON in
# the directory it names.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
pg_data=$1
admin_url=$2
devices=${3:-1000}
edits=${4:-50}
runs=${5:-1}
bin=${TASKFORCE_BIN:-target/release/taskforce}
lg=${TASKFORCE_LOADGEN:-target/release/taskforce-loadgen}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
for f in "$bin" "$lg" "$nginx"; do
  [ -x "$f" ] || { echo "scale-out: $f is missing" >&2; exit 1; }
done
for tool in curl psql pgrep python3; do
  command -v "$tool" >/dev/null || { echo "scale-out: $tool is missing" >&2; exit 1; }
done
[ -r "$pg_data/postmaster.pid" ] || { echo "scale-out: no $pg_data/postmaster.pid (is PostgreSQL running there?)" >&2; exit 1; }
units=50
work=$(mktemp -d /tmp/taskforce-scale.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() {
  for _ in $(seq 1 300); do
    curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "scale-out: $1 did not come up" >&2
  exit 1
}

password="scale-out-$(date +%s)-$RANDOM"
run() { # mode replicas n
  local mode=$1 replicas=$2 n=$3
  local db="tf_scale_${mode}_${n}_$$"
  psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
  local url="${admin_url%/*}/$db"
  TASKFORCE_PASSWORD=$password "$bin" user add --db "$url" lgadmin --role admin >/dev/null
  local ports=() rpids=()
  for i in $(seq 1 "$replicas"); do
    local port
    port=$(free_port)
    RUST_LOG=warn TASKFORCE_LOGIN_PER_ADDRESS_BURST=1000000 \
      TASKFORCE_DEVICES_PER_USER=$((devices + units)) \
      "$bin" serve --db "$url" --bind "127.0.0.1:$port" --audit-key "$work/audit.key" \
      >"$work/$mode-$n-replica$i.log" 2>&1 &
    rpids+=($!)
    pids+=($!)
    wait_up "http://127.0.0.1:$port"
    ports+=("$port")
  done
  local base="http://127.0.0.1:${ports[0]}" npid=""
  if [ "$mode" != direct ]; then
    local prefix="$work/nginx-$mode-$n" listen upstreams=""
    mkdir -p "$prefix"
    chmod 0755 "$prefix"
    listen=$(free_port)
    for p in "${ports[@]}"; do
      upstreams+="        server 127.0.0.1:$p max_fails=1 fail_timeout=1s;\n"
    done
    sed -e "s#{{LISTEN}}#$listen#g" -e "s#{{PREFIX}}#$prefix#g" \
      -e "s#^.*{{UPSTREAMS}}.*\$#$upstreams#" ops/deploy/nginx.test.conf.template >"$prefix/nginx.conf"
    "$nginx" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" &
    npid=$!
    pids+=("$npid")
    base="http://127.0.0.1:$listen"
    wait_up "$base"
  fi
  # The load generator in the background; beside it the sampler, which reads each part's CPU
  # over the sync phase only (ops/scale-out-sample.py).
  TASKFORCE_ADMIN_PASSWORD=$password "$lg" --server "$base" --admin-user lgadmin \
    --devices "$devices" --units "$units" --edits "$edits" --json >"$work/$mode-$n.json" 2>"$work/$mode-$n.err" &
  local lgpid=$!
  python3 ops/scale-out-sample.py "$pg_data" "$devices" "$lgpid" "${npid:-0}" "${ports[*]}" "${rpids[*]}" \
    >"$work/$mode-$n.cpu" &
  local spid=$!
  if ! wait "$lgpid"; then
    echo "scale-out: the load generator failed ($mode, run $n):" >&2
    tail -20 "$work/$mode-$n.err" >&2
    exit 1
  fi
  wait "$spid" || true
  python3 - "$work/$mode-$n.json" "$work/$mode-$n.cpu" "$mode" "$replicas" "$n" <<'PY'
import json, sys
path, cpu, mode, replicas, n = sys.argv[1:6]
r = json.load(open(path))
text = open(cpu).read().strip()
parts = ["loadgen", "nginx", "replicas", "postgresql"]
if text:
    c = json.loads(text)
    busy = sum(c[p] for p in parts)
    where = ", ".join(f"{p} {c[p]:.2f}" for p in parts)
    cpu_text = f"sync-phase CPU s over {c['wall']:.2f} s: {where} ({busy / c['wall']:.2f} cores busy)"
else:
    cpu_text = "the sampler did not see the sync phase"
print(f"{mode:>6} x{replicas} run {n}: {r['ops_per_sec']:,.0f} ops/s, p50 {r['sync_p50_ms']:.0f} ms, "
      f"p99 {r['sync_p99_ms']:.0f} ms, errors {r['errors']}, converged {r['converged']}; {cpu_text}")
PY
  for p in "${rpids[@]}" $npid; do kill "$p" 2>/dev/null || true; done
  for p in "${rpids[@]}" $npid; do wait "$p" 2>/dev/null || true; done
  pids=()
  psql -q "$admin_url" -c "DROP DATABASE $db" >/dev/null 2>&1 || true
}

echo "scale-out: $devices devices x $edits edits over $units units, $runs run(s) each; files in $work"
for n in $(seq 1 "$runs"); do
  run direct 1 "$n"
  run nginx 1 "$n"
  run nginx2 2 "$n"
done
