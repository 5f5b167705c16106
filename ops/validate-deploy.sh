#!/usr/bin/env bash
# Validates the deployment files of ops/deploy/ with real parsers and linters; any error (or
# warning of a linter) fails the run. Needs no network once its Python tools are installed
# (they bundle their schemas: the validators run in a network namespace of their own where
# `unshare -n` works, so a schema download would fail loudly, not pass silently).
#
#   ops/validate-deploy.sh
#
#   nginx.conf, nginx.compose.conf   nginx -t (a copy whose log/pid/temp paths point into a
#                                    temporary prefix, the compose replicas' names as
#                                    loopback addresses: nothing else changed)
#   nginx.test.conf.template         filled in as the Rust test does, then nginx -t
#   the three nginx files            their shared proxy rules are identical
#   *.service, *.timer               systemd-analyze verify (the binary path pointed at a stub
#                                    executable) and systemd-analyze security --offline
#   k8s/*.yaml                       kubernetes-validate --strict (bundled schemas) for the
#                                    oldest and newest Kubernetes versions named below
#   compose.yaml                     check-jsonschema --builtin-schema vendor.compose-spec
#   Dockerfile, .dockerignore        dockerfile-parse, then: every FROM pinned to a tag, the
#                                    runtime stage non-root with a HEALTHCHECK, exec-form
#                                    ENTRYPOINT/CMD, package and binary names as in
#                                    server/Cargo.toml; .dockerignore keeps the workspace
#   taskforce.example.toml           tomllib; every key and value type against the config
#                                    structs of server/src/config (deny_unknown_fields), every
#                                    setting present, shown values equal to the defaults; the
#                                    TOML inside compose.yaml and k8s/configmap.yaml too
#   TASKFORCE_* variables            every one set in compose, k8s and the units is read by
#                                    the server (an `env = "…"` of server/src)
#
# Python tools are installed (quietly, pinned) into a venv under ${TMPDIR:-/tmp}, kept for the
# next run. nginx, if missing, is unpacked from Debian's package into the temporary directory
# (no service is installed or started).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy=ops/deploy
started=$(date +%s)

# Settings and variables being added to the server that the deployment files already use:
# accepted here although server/src does not have them yet. Drop each once it lands (the run
# says when).
PENDING_KEYS=''
PENDING_ENV=''
K8S_VERSIONS='1.29.0 1.37.0'
PY_TOOLS='kubernetes-validate==1.37.0 check-jsonschema==0.39.0 dockerfile-parse==2.0.1'

fail() {
  echo "validate-deploy: FAILED: $*" >&2
  exit 1
}
step() { echo "== $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/taskforce-validate.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Run a validator without network where a network namespace can be made (root, or user
# namespaces allowed): proves it needs nothing from outside.
if unshare -n true 2>/dev/null; then
  offline() { unshare -n -- "$@"; }
  offline_note="without network (unshare -n)"
else
  offline() { "$@"; }
  offline_note="with the network present (unshare -n not permitted here)"
fi

# Run "$@"; fail with its output if it exits non-zero or prints anything matching $ok_re's
# complement (linters that warn but exit 0).
quiet_ok() {
  local what=$1 allow=$2
  shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  local bad
  bad=$(printf '%s\n' "$out" | grep -Ev "$allow" | grep -v '^$' || true)
  if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
    printf '%s\n' "$out" >&2
    fail "$what (exit $rc)"
  fi
}

step "tools"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "python3 >= 3.11 is needed (tomllib): $(python3 --version 2>&1)"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd)"
venv_id=$(printf '%s %s' "$PY_TOOLS" "$(python3 -c 'import sys; print(sys.version)')" | sha256sum | cut -c1-12)
venv="${TMPDIR:-/tmp}/taskforce-validate-venv-$venv_id"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv (apt-get install python3-venv)"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check --no-input $PY_TOOLS \
    || fail "pip install $PY_TOOLS"
  touch "$venv/.complete"
fi
py="$venv/bin/python"
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || nginx_bin=$(command -v /usr/sbin/nginx || true)
if [ -z "$nginx_bin" ]; then
  # Debian's nginx unpacked here: no service, no files outside $work.
  ( cd "$work" && { apt-get download nginx >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get download nginx >/dev/null; }; } ) \
    || fail "nginx is missing and could not be fetched (apt-get download nginx)"
  dpkg-deb -x "$work"/nginx_*.deb "$work/nginx-root"
  nginx_bin="$work/nginx-root/usr/sbin/nginx"
fi
echo "python $("$py" --version 2>&1 | cut -d' ' -f2); $("$nginx_bin" -v 2>&1); $(systemd-analyze --version | head -1)"
"$venv/bin/pip" list --disable-pip-version-check 2>/dev/null \
  | grep -Ei '^(kubernetes-validate|check-jsonschema|dockerfile-parse|jsonschema|PyYAML) ' \
  | awk '{printf "%s %s; ", $1, $2} END {print ""}'
echo "validators run $offline_note"

# ---------------------------------------------------------------------------------------------
step "nginx: nginx.conf, nginx.compose.conf, nginx.test.conf.template"
# Only nginx's own warnings and errors fail: its two closing lines are expected.
nginx_ok='syntax is ok$|test is successful$'
temp_paths() { # the *_temp_path lines for a prefix
  for t in client_body proxy fastcgi uwsgi scgi; do printf '    %s_temp_path %s/%s_temp;\\n' "$t" "$1" "$t"; done
}
nginx_test() { # name, file
  local p="$work/nginx-$1"
  mkdir -p "$p"
  chmod 0755 "$work" "$p"
  cp "$2" "$p/nginx.conf"
  quiet_ok "nginx -t $1" "$nginx_ok" offline "$nginx_bin" -t -q -p "$p" -e "$p/error.log" -c "$p/nginx.conf"
  echo "ok   $1"
}
rewrite() { # file prefix: the real file, its runtime paths moved into the prefix
  local p=$2
  sed -e "s#/var/log/nginx/#$p/#g" -e "s#^pid /run/nginx.pid;#pid $p/nginx.pid;#" \
    -e "s#^pid /tmp/nginx.pid;#pid $p/nginx.pid;#" \
    -e "s#/dev/stderr#$p/error.log#; s#/dev/stdout#$p/access.log#" \
    -e "s#^http {\$#http {\\n$(temp_paths "$p")#" "$1"
}
p="$work/nginx-host"; mkdir -p "$p"
rewrite "$deploy/nginx.conf" "$p" > "$work/host.conf"
changed=$(diff "$deploy/nginx.conf" "$work/host.conf" | grep -c '^>' || true)
[ "$changed" -eq 9 ] || fail "nginx.conf: the test copy changed $changed lines, not the 9 paths expected"
nginx_test host "$work/host.conf"

p="$work/nginx-compose"; mkdir -p "$p"
rewrite "$deploy/nginx.compose.conf" "$p" \
  | sed -e 's#server taskforce-a:8080#server 127.0.0.1:8080#; s#server taskforce-b:8080#server 127.0.0.2:8080#' \
  > "$work/compose.conf"
changed=$(diff "$deploy/nginx.compose.conf" "$work/compose.conf" | grep -c '^>' || true)
[ "$changed" -eq 11 ] || fail "nginx.compose.conf: the test copy changed $changed lines, not the 11 expected"
nginx_test compose "$work/compose.conf"

p="$work/nginx-template"; mkdir -p "$p"
tmpl="$deploy/nginx.test.conf.template"
for ph in LISTEN UPSTREAMS PREFIX; do grep -q "{{$ph}}" "$tmpl" || fail "$tmpl has no {{$ph}}"; done
ups='        server 127.0.0.1:18081 max_fails=1 fail_timeout=1s;\n        server 127.0.0.1:18082 max_fails=1 fail_timeout=1s;'
sed -e "s#{{PREFIX}}#$p#g" -e 's#{{LISTEN}}#18080#g' -e "s#{{UPSTREAMS}}#$ups#g" "$tmpl" > "$work/template.conf"
if grep -n '{{' "$work/template.conf"; then fail "$tmpl: a placeholder other than LISTEN, UPSTREAMS, PREFIX"; fi
nginx_test template "$work/template.conf"

# ---------------------------------------------------------------------------------------------
step "systemd: taskforce.service, taskforce-backup.service, taskforce-backup.timer"
u="$work/units"
mkdir -p "$u"
cp "$deploy/taskforce.service" "$deploy/taskforce-backup.service" "$deploy/taskforce-backup.timer" "$u/"
# The binary is not installed here: verify checks that ExecStart='s program exists, so point
# it at a stub (the only change).
printf '#!/bin/sh\nexit 0\n' > "$u/taskforce"
chmod +x "$u/taskforce"
sed -i "s#/usr/local/bin/taskforce#$u/taskforce#g" "$u/taskforce.service" "$u/taskforce-backup.service"
grep -q "^ExecStart=$u/taskforce serve --config /etc/taskforce/taskforce.toml$" "$u/taskforce.service" \
  || fail "taskforce.service: ExecStart= is not '/usr/local/bin/taskforce serve --config /etc/taskforce/taskforce.toml'"
# systemd-analyze verify exits 0 on unknown keys and unparsable values ("…, ignoring"): any
# output at all fails.
(cd "$u" && quiet_ok "systemd-analyze verify" '^$' offline systemd-analyze verify --man=no \
  ./taskforce.service ./taskforce-backup.service ./taskforce-backup.timer)
for unit in taskforce.service taskforce-backup.service; do
  (cd "$u" && quiet_ok "systemd-analyze security $unit (exposure above 2.0)" '.' \
    offline systemd-analyze security --offline=yes --man=no --threshold=20 "./$unit")
  echo "ok   $unit ($(cd "$u" && systemd-analyze security --offline=yes --man=no "./$unit" 2>&1 | grep -o 'exposure level.*' ))"
done
echo "ok   taskforce-backup.timer"

# ---------------------------------------------------------------------------------------------
step "kubernetes: k8s/*.yaml (kubernetes-validate --strict)"
for v in $K8S_VERSIONS; do
  quiet_ok "kubernetes-validate -k $v" '^INFO .* passed for resource ' \
    offline "$venv/bin/kubernetes-validate" --strict -k "$v" "$deploy"/k8s/*.yaml
  k8s_files=("$deploy"/k8s/*.yaml)
  echo "ok   ${#k8s_files[@]} files against Kubernetes $v"
done

# ---------------------------------------------------------------------------------------------
step "compose: compose.yaml (check-jsonschema, compose-spec)"
quiet_ok "check-jsonschema compose.yaml" '^ok -- validation done$' \
  offline "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$deploy/compose.yaml"
echo "ok   compose.yaml"

# ---------------------------------------------------------------------------------------------
step "Dockerfile, TOML, variables, shared nginx rules"
cat > "$work/checks.py" <<'PY'
"""The checks that need a parser and a look at the server's source."""
import fnmatch
import json
import os
import re
import sys
import tomllib

import yaml
from dockerfile_parse import DockerfileParser

DEPLOY = "ops/deploy"
errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- the config structs, as server/src/config declares them ------------------------------------
def struct_fields(src, name):
    m = re.search(r"((?:#\[[^\n]*\]\n)*)pub struct " + name + r" \{\n(.*?)\n\}", src, re.S)
    if not m:
        raise SystemExit(f"struct {name} not found in server/src/config")
    fields = dict(re.findall(r"^\s*pub (\w+): ([^\n]+),$", m.group(2), re.M))
    return fields, "deny_unknown_fields" in m.group(1)


def default_values(src, name):
    m = re.search(r"impl Default for " + name + r" \{.*?Self \{\n(.*?)\n\s*\}\n\s*\}", src, re.S)
    out = {}
    for k, v in re.findall(r"^\s*(\w+): (.+),$", m.group(1) if m else "", re.M):
        v = v.strip()
        if re.fullmatch(r"[\d\s*+]+", v):
            out[k] = eval(v)  # digits, spaces, * and + only
        elif re.fullmatch(r'"[^"]*"\.into\(\)', v):
            out[k] = v[1:-8]
        elif v in ("true", "false"):
            out[k] = v == "true"
        elif v == "None":
            out[k] = None
        elif v.endswith("::Text"):
            out[k] = "text"
        elif v == "taskforce_core::progress::REPORT_EVERY_DAYS":
            c = re.search(r"pub const REPORT_EVERY_DAYS: i64 = (\d+);", read("mobile-core/src/progress.rs"))
            out[k] = int(c.group(1))
    return out


config_src = read("server/src/config/mod.rs")
mail_src = read("server/src/config/mail.rs")
top, top_deny = struct_fields(config_src, "Config")
mail, mail_deny = struct_fields(mail_src, "MailConfig")
recip, recip_deny = struct_fields(mail_src, "RecipientConfig")
enums = {}
for m in re.finditer(r"pub enum (\w+) \{\n(.*?)\n\}", config_src, re.S):
    enums[m.group(1)] = {v.lower() for v in re.findall(r"^\s*(\w+),$", m.group(2), re.M)}

pending = {}
for item in os.environ.get("PENDING_KEYS", "").split():
    k, t = item.split(":")
    if k in top:
        print(f"note: {k} is in server/src/config now: drop it from PENDING_KEYS")
    else:
        pending[k] = t

SCHEMA = {}  # dotted key -> (kind, choices)


def kind_of(rust_type):
    t = rust_type.strip()
    opt = t.startswith("Option<")
    if opt:
        t = t[len("Option<"):-1]
    if t in ("String", "PathBuf", "Secret"):
        return "str", None
    if t in ("usize", "u64", "i64", "u32", "u16", "u8", "i32"):
        return "int", None
    if t == "bool":
        return "bool", None
    if t in enums:
        return "str", enums[t]
    if t.startswith("Vec<"):
        return "list", None
    if t.endswith("MailConfig"):
        return "table", None
    raise SystemExit(f"unknown config type {rust_type}: teach validate-deploy.sh")


for k, t in top.items():
    SCHEMA[k] = kind_of(t)
for k, t in mail.items():
    SCHEMA["mail." + k] = kind_of(t)
for k, t in recip.items():
    SCHEMA["mail.recipients." + k] = kind_of(t)
for k, t in pending.items():
    SCHEMA[k] = (t, None)
REQUIRED_RECIPIENT = {k for k, t in recip.items() if not t.startswith("Option<")}
if not (top_deny and mail_deny and recip_deny):
    print("note: a config struct no longer denies unknown fields")

PY_KIND = {"str": str, "int": int, "bool": bool, "list": list, "table": dict}


def check_value(where, key, value):
    if key not in SCHEMA:
        err(where, f"unknown key {key} (not in server/src/config; the loader refuses it)")
        return
    kind, choices = SCHEMA[key]
    ok = isinstance(value, PY_KIND[kind]) and not (kind == "int" and isinstance(value, bool))
    if not ok:
        err(where, f"{key} = {value!r}: the server expects a {kind}")
    elif choices and value not in choices:
        err(where, f"{key} = {value!r}: one of {sorted(choices)}")


def check_doc(where, doc):
    """Every key of a parsed config file, as the server's loader would take it."""
    for k, v in doc.items():
        if k == "mail":
            if not isinstance(v, dict):
                err(where, "mail must be a table")
                continue
            for mk, mv in v.items():
                if mk == "recipients":
                    if not isinstance(mv, list):
                        err(where, "mail.recipients must be an array of tables")
                        continue
                    for i, r in enumerate(mv):
                        for rk, rv in r.items():
                            check_value(f"{where} recipient {i + 1}", "mail.recipients." + rk, rv)
                        missing = REQUIRED_RECIPIENT - set(r)
                        if missing:
                            err(where, f"recipient {i + 1} lacks {sorted(missing)}")
                else:
                    check_value(where, "mail." + mk, mv)
        else:
            check_value(where, k, v)


# --- the example TOML ------------------------------------------------------------------------
example = f"{DEPLOY}/taskforce.example.toml"
text = read(example)
try:
    doc = tomllib.loads(text)
except tomllib.TOMLDecodeError as e:
    err(example, f"not TOML: {e}")
    doc = {}
check_doc(example, doc)
# The commented keys too: each `# key = value` line, in the section it stands in.
present, section = set(), ""
lines = text.split("\n")
for n, line in enumerate(lines, 1):
    s = line.strip()
    h = re.fullmatch(r"(?:# )?\[\[?([\w.]+)\]\]?", s)
    if h:
        section = h.group(1) + "."
        continue
    m = re.fullmatch(r"(# )?(\w+) = (.+)", s)
    if not m:
        continue
    key = section + m.group(2)
    present.add(key)
    try:
        value = tomllib.loads(f"x = {m.group(3)}")["x"]
    except tomllib.TOMLDecodeError as e:
        err(f"{example}:{n}", f"{m.group(2)}: not a TOML value: {e}")
        continue
    check_value(f"{example}:{n}", key, value)
    if not lines[n - 2].lstrip().startswith("#"):
        err(f"{example}:{n}", f"{key} has no comment explaining it")
for key in SCHEMA:
    if SCHEMA[key][0] in ("table", "list"):
        continue
    if key not in present:
        err(example, f"setting {key} is not shown (every setting must be, commented if optional)")
# Values shown uncommented are the defaults (db aside: the systemd unit's state directory).
defaults = default_values(config_src, "Config")
defaults.update({"mail." + k: v for k, v in default_values(mail_src, "MailConfig").items()})
flat = {k: v for k, v in doc.items() if k != "mail"}
flat.update({"mail." + k: v for k, v in doc.get("mail", {}).items() if k != "recipients"})
for k, v in flat.items():
    if k == "db":
        continue
    if k in defaults and defaults[k] is not None and defaults[k] != v:
        err(example, f"{k} = {v!r} but the default is {defaults[k]!r} (show the default, or comment it out)")
    if defaults.get(k, 0) is None:
        err(example, f"{k} has no default: comment it out")

# --- the TOML inside compose.yaml and the ConfigMap ----------------------------------------------
compose = yaml.safe_load(read(f"{DEPLOY}/compose.yaml"))
for name, c in (compose.get("configs") or {}).items():
    if "content" in c:
        try:
            check_doc(f"compose.yaml configs.{name}", tomllib.loads(c["content"]))
        except tomllib.TOMLDecodeError as e:
            err(f"compose.yaml configs.{name}", f"not TOML: {e}")
k8s_docs = []
for f in sorted(os.listdir(f"{DEPLOY}/k8s")):
    if f.endswith(".yaml"):
        for d in yaml.safe_load_all(read(f"{DEPLOY}/k8s/{f}")):
            if d:
                k8s_docs.append((f, d))
for f, d in k8s_docs:
    if d.get("kind") == "ConfigMap":
        for key, value in (d.get("data") or {}).items():
            if key.endswith(".toml"):
                try:
                    check_doc(f"k8s/{f} {key}", tomllib.loads(value))
                except tomllib.TOMLDecodeError as e:
                    err(f"k8s/{f} {key}", f"not TOML: {e}")

# --- TASKFORCE_* variables: the server reads each one set ------------------------------------
known_env = set()
for dirpath, _, files in os.walk("server/src"):
    for f in files:
        if f.endswith(".rs"):
            known_env.update(re.findall(r'env = "(TASKFORCE_[A-Z0-9_]+)"', read(os.path.join(dirpath, f))))
known_env.update(os.environ.get("PENDING_ENV", "").split())


def check_env(where, name):
    if name.startswith("TASKFORCE_") and name not in known_env:
        err(where, f"{name} is read by no `env = ` of server/src")


for svc, s in compose["services"].items():
    env = s.get("environment") or {}
    names = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
    for n in names:
        check_env(f"compose.yaml services.{svc}", n)
for f, d in k8s_docs:
    spec = d.get("spec", {})
    tmpl = spec.get("template", {}).get("spec", {})
    for c in tmpl.get("containers", []) + tmpl.get("initContainers", []):
        for e in c.get("env", []):
            check_env(f"k8s/{f} {c['name']}", e["name"])
for unit in ("taskforce.service", "taskforce-backup.service"):
    for n in re.findall(r"^Environment=(\w+)=", read(f"{DEPLOY}/{unit}"), re.M):
        check_env(unit, n)
# nginx.compose.conf balances to services compose.yaml has, on the port they bind.
for host, port in re.findall(r"^\s*server ([\w-]+):(\d+)", read(f"{DEPLOY}/nginx.compose.conf"), re.M):
    s = compose["services"].get(host)
    if s is None:
        err("nginx.compose.conf", f"upstream {host} is not a service of compose.yaml")
    elif not str((s.get("environment") or {}).get("TASKFORCE_BIND", "")).endswith(":" + port):
        err("nginx.compose.conf", f"upstream {host}:{port}, but {host} binds {(s.get('environment') or {}).get('TASKFORCE_BIND')}")

# --- the nginx files share their proxy rules ---------------------------------------------------
def blocks(path):
    t = read(path)
    out = {}
    for m in re.finditer(r"# BEGIN (taskforce shared [\w ]+?) \(.*?# END \1\n", t, re.S):
        out[m.group(1)] = m.group(0)
    return out


nginx_files = ["nginx.conf", "nginx.compose.conf", "nginx.test.conf.template"]
ref = blocks(f"{DEPLOY}/nginx.conf")
if set(ref) != {"taskforce shared http rules", "taskforce shared server rules"}:
    err("nginx.conf", f"shared blocks found: {sorted(ref)}")
for f in nginx_files[1:]:
    b = blocks(f"{DEPLOY}/{f}")
    for name, body in ref.items():
        if b.get(name) != body:
            err(f, f"'{name}' differs from nginx.conf's (keep the three files' rules the same)")

# --- Dockerfile ------------------------------------------------------------------------------
dockerfile = f"{DEPLOY}/Dockerfile"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "COMMENT"}
dfp = DockerfileParser(path=dockerfile)
structure = dfp.structure
if not structure:
    err(dockerfile, "no instructions parsed")
stages, current = [], None
for ins in structure:
    name = ins["instruction"]
    where = f"{dockerfile}:{ins['startline'] + 1}"
    if name not in INSTRUCTIONS:
        err(where, f"unknown instruction {name}")
        continue
    if name == "FROM":
        parts = ins["value"].split()
        image = parts[0]
        alias = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
        known = [s["alias"] for s in stages]
        ref_name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        if image not in known:
            if "@sha256:" not in image and (not tag or tag == "latest"):
                err(where, f"FROM {image}: pin a tag (not latest, not none)")
        current = {"alias": alias, "image": image, "ins": []}
        stages.append(current)
    elif current is None:
        if name not in ("ARG", "COMMENT"):
            err(where, f"{name} before the first FROM")
    else:
        current["ins"].append(ins)
        if name == "COPY":
            m = re.search(r"--from=(\S+)", ins["value"])
            if m and m.group(1) not in [s["alias"] for s in stages[:-1]]:
                err(where, f"COPY --from={m.group(1)}: no earlier stage of that name")
if len(stages) < 2:
    err(dockerfile, "expected a multi-stage build (builder, runtime)")
else:
    build, runtime = stages[0], stages[-1]
    runs = " ".join(i["value"] for i in build["ins"] if i["instruction"] == "RUN")
    cargo = tomllib.loads(read("server/Cargo.toml"))
    pkg = cargo["package"]["name"]
    bins = [b["name"] for b in cargo.get("bin", [])]
    if not re.search(r"cargo build --release --locked -p " + re.escape(pkg) + r"\b", runs):
        err(dockerfile, f"the builder does not run `cargo build --release --locked -p {pkg}`")
    for b in re.findall(r"--bin (\S+)", runs):
        if b not in bins:
            err(dockerfile, f"--bin {b}: server/Cargo.toml's binaries are {bins}")

    def last(stage, name):
        found = [i for i in stage["ins"] if i["instruction"] == name]
        return found[-1] if found else None

    user = last(runtime, "USER")
    if user is None or user["value"].split(":")[0] in ("root", "0"):
        err(dockerfile, "the runtime stage must set USER to a non-root user")
    elif not user["value"].split(":")[0].isdigit():
        err(dockerfile, "USER should be numeric (Kubernetes runAsNonRoot checks a numeric uid)")
    hc = last(runtime, "HEALTHCHECK")
    if hc is None or hc["value"].strip().upper() == "NONE":
        err(dockerfile, "the runtime stage must have a HEALTHCHECK")
    else:
        m = re.search(r"\bCMD\s+(\[.*\])\s*$", hc["value"], re.S)
        try:
            cmd = json.loads(m.group(1)) if m else None
        except json.JSONDecodeError:
            cmd = None
        if not (isinstance(cmd, list) and cmd):
            err(dockerfile, "HEALTHCHECK CMD must be a JSON array (exec form)")
    for name in ("ENTRYPOINT", "CMD"):
        i = last(runtime, name)
        try:
            v = json.loads(i["value"]) if i else None
        except json.JSONDecodeError:
            v = None
        if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            err(dockerfile, f"{name} must be a JSON array of strings (exec form: signals reach the server)")
        elif name == "ENTRYPOINT" and v[0] not in bins:
            err(dockerfile, f"ENTRYPOINT runs {v[0]}, not the binary {bins}")
    if not any(i["instruction"] == "EXPOSE" and "8080" in i["value"].split() for i in runtime["ins"]):
        err(dockerfile, "the runtime stage must EXPOSE 8080")
    if not any(i["instruction"] == "VOLUME" and "/var/lib/taskforce" in i["value"] for i in runtime["ins"]):
        err(dockerfile, "the runtime stage must declare VOLUME /var/lib/taskforce")

# --- .dockerignore: leaves out the build outputs, keeps what the build reads ------------------
ignore = [l.strip() for l in read(".dockerignore").split("\n") if l.strip() and not l.startswith("#")]
for must in ("target/", "fuzz/target/", ".git/"):
    if must not in ignore and must.rstrip("/") not in ignore:
        err(".dockerignore", f"must leave out {must}")
workspace = tomllib.loads(read("Cargo.toml"))["workspace"]["members"]
needed = ["Cargo.toml", "Cargo.lock", "mobile-core/data/units.toml"] + [f"{m}/Cargo.toml" for m in workspace]
for path in needed:
    for pat in ignore:
        p = pat.rstrip("/")
        if not pat.startswith("!") and (fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*")
                                        or path.startswith(p + "/")):
            err(".dockerignore", f"{pat} leaves out {path}, which the build needs")

if errors:
    for e in errors:
        print("  " + e, file=sys.stderr)
    sys.exit(1)
print(f"ok   taskforce.example.toml: {len(present)} settings, each known, typed and explained; "
      f"pending (not in server/src yet): {sorted(pending) or 'none'}")
print("ok   the TOML of compose.yaml and k8s/configmap.yaml")
print(f"ok   TASKFORCE_* variables ({len(known_env)} known to the server)")
print("ok   shared proxy rules of the three nginx files")
print(f"ok   Dockerfile ({len(stages)} stages, {len(structure)} instructions) and .dockerignore")
PY
PENDING_KEYS="$PENDING_KEYS" PENDING_ENV="$PENDING_ENV" offline "$py" "$work/checks.py" \
  || fail "Dockerfile, TOML, variables or shared nginx rules (above)"

echo "validate-deploy: all deployment files valid ($(($(date +%s) - started)) s)"
