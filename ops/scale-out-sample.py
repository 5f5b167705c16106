"""The sync phase's CPU by part, for ops/scale-out.sh.

    python3 ops/scale-out-sample.py PG_DATA DEVICES LOADGEN_PID NGINX_PID "PORTS" "PIDS"

Polls each replica's /metrics (loopback, every 50 ms) for taskforce_sync_requests_total and
reads /proc when the replicas take their first sync and when they have taken one per device;
prints the CPU seconds each part used between the two (the load generator, nginx's master and
workers, the replicas, PostgreSQL's postmaster and backends with those that exited) and the
wall time, as one JSON object. The load generator's set-up (accounts, a password check per
phone's sign-in) is outside it.
"""

import json
import os
import sys
import time
import urllib.request

pg_data, devices, lg, ngx, ports, rpids = sys.argv[1:7]
devices, lg, ngx = int(devices), int(lg), int(ngx)
ports, rpids = ports.split(), [int(p) for p in rpids.split()]
hz = os.sysconf("SC_CLK_TCK")
PARTS = ("loadgen", "nginx", "replicas", "postgresql")


def ticks(pid, children=True):
    """utime + stime (fields 14, 15 of /proc/PID/stat), with the reaped children's cutime +
    cstime (16, 17); counted after the command name, which may hold spaces."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(x) for x in (fields[11:15] if children else fields[11:13]))


def kids(pid):
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def snapshot():
    pm = int(open(f"{pg_data}/postmaster.pid").readline())
    return {
        "loadgen": ticks(lg, children=False),
        "nginx": ticks(ngx) + sum(ticks(k) for k in kids(ngx)) if ngx else 0,
        "replicas": sum(ticks(p) for p in rpids),
        "postgresql": ticks(pm) + sum(ticks(k) for k in kids(pm)),
        "at": time.monotonic(),
    }


def synced():
    total = 0
    for port in ports:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("taskforce_sync_requests_total "):
                total += int(float(line.split()[1]))
    return total


start = None
while os.path.exists(f"/proc/{lg}"):
    n = synced()
    if start is None and n > 0:
        start = snapshot()
    if start is not None and n >= devices:
        end = snapshot()
        out = {k: (end[k] - start[k]) / hz for k in PARTS}
        out["wall"] = end["at"] - start["at"]
        print(json.dumps(out))
        break
    time.sleep(0.05)
