#!/usr/bin/env bash
# What the APIM stand-in adds: each case runs one workload against the backend directly and
# through the embedded gateway (gatebench's stand-in + dev idp, in-process, in front of the
# same backend), alternating 2 s turns, and prints per operation and path the p50, the added
# p50/p99 and the ops/s ratio against the direct path, then the acceptance lines of issue
# #17 with PASS/FAIL.
#
# Backends (BACKEND):
#   embedded  the embedded S3 server (s3s-fs on a temporary folder), in-process: nothing to
#             install. Its every file operation is a hop to tokio's blocking pool.
#   rgw       a real RGW: starts its own single-host Ceph from Debian's packages
#             (deploy/ceph/ceph-up.sh, ports 27580/23400) and stops it at the end. Adds two
#             paths through separate processes in front of the same RGW, computed the same
#             way: "standin", `gatebench gateway` and `gatebench idp` as docker compose runs
#             them (ports 27583/27582), and "nginx", a plain reverse proxy (keep-alive
#             upstream, no buffering; port 27581) as the reference a reader can weigh the
#             stand-in against.
#
# Cores (PIN, rgw only): PIN=1 (the default with rgw) puts the client and the proxies
# (gatebench with its in-process stand-in, the stand-in process, nginx) on core 0 and Ceph
# on the others, as a gateway runs on machines of its own: the added time is then the
# proxy's own work. PIN=0 lets everything float over all cores: each hop between processes
# then also pays a wake-up on another core (tens of µs on a VM), nginx included, and at 8
# workers the cores are saturated. With BACKEND=embedded everything is one process.
#
# Cases (4 KiB objects, closed loop):
#   miss, 1 and 8 workers: HEAD 45 / GET 45 / PUT 10 with deploy/apim/policy.capacity.local.xml
#                          (policy.local.xml without cache-lookup/cache-store: every request
#                          is validated, re-signed and forwarded)
#   hit,  1 and 8 workers: GET 100 over 50 objects with deploy/apim/policy.local.xml (after
#                          the first GET of each object, answers come from the cache)
# Every target writes objects of its own (w/<target>-<n>), so a PUT is a create on each.
# Acceptance (the in-process stand-in): added p50 <= 50 us on a miss at 1 worker and <= 100
# us at 8 (every operation), ops/s >= 0.9x direct at 8 workers on a miss (all operations).
# "cpu/req" (cores x 1e6 / ops/s) is the machine time one request costs on each path when
# the cores are saturated (PIN=0, 8 workers). With ROUNDS > 1 every figure is the median
# of the rounds, with [min..max].
#
#   flock /tmp/gatebench-cpu.lock bash bench/gateway-overhead.sh      # 15 s per target and case, ~2.5 min
#   BACKEND=rgw ROUNDS=3 bash bench/gateway-overhead.sh                # real RGW, stand-in process, nginx, ~25 min
#   BACKEND=rgw PIN=0 ROUNDS=3 CASES="miss-1 miss-8" bash bench/gateway-overhead.sh
#   DURATION=30s ROUNDS=3 bash bench/gateway-overhead.sh
#   CASES="miss-8" bash bench/gateway-overhead.sh                      # a subset
#   GATEBENCH=/tmp/gatebench-old bash bench/gateway-overhead.sh        # another build, not rebuilt
set -euo pipefail

DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-1}
CASES=${CASES:-miss-1 miss-8 hit-1 hit-8}
BACKEND=${BACKEND:-embedded}
PIN=${PIN:-$([ "$BACKEND" = rgw ] && echo 1 || echo 0)}
NGINX_PORT=27581 IDP_PORT=27582 STANDIN_PORT=27583
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gatebench-gw-bench.XXXXXX)
nginx_pid="" idp_pid="" standin_pid=""
cleanup() {
  for pid in $nginx_pid $idp_pid $standin_pid; do kill "$pid" 2>/dev/null || true; done
  if [ "$BACKEND" = rgw ]; then bash "$repo/deploy/ceph/ceph-down.sh" "$work/ceph" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
case "$BACKEND" in
  embedded|rgw) ;;
  *) echo "BACKEND must be embedded or rgw, not $BACKEND" >&2; exit 2 ;;
esac
if [ "$PIN" = 1 ] && [ "$BACKEND" != rgw ]; then
  echo "PIN=1 needs BACKEND=rgw: the embedded backend runs in gatebench's process" >&2; exit 2
fi
if [ "$PIN" = 1 ] && [ "$(nproc)" -lt 2 ]; then
  echo "PIN=1 needs 2 cores or more (one for the client and proxies, the rest for Ceph); PIN=0 runs on $(nproc)" >&2; exit 2
fi
if [ -z "${GATEBENCH:-}" ]; then
  (cd "$repo" && cargo build --release --quiet --bin gatebench)
  GATEBENCH=$repo/target/release/gatebench
fi

backend_cores="" proxy_cores=""
if [ "$PIN" = 1 ]; then
  backend_cores="taskset -c 1-$(($(nproc) - 1))" proxy_cores="taskset -c 0"
fi
# answers URL: waits up to 5 s for URL to answer HTTP.
answers() {
  for _ in $(seq 50); do
    curl -s -o /dev/null "$1" && return
    sleep 0.1
  done
  echo "nothing answers at $1" >&2; exit 1
}
if [ "$BACKEND" = rgw ]; then
  eval "$(RGW_PORT=27580 CEPH_MON_PORT=23400 $backend_cores bash "$repo/deploy/ceph/ceph-up.sh" "$work/ceph")"
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; }
  # A plain reverse proxy: the client's Host passed on (SigV4 signs it), keep-alive to RGW,
  # bodies streamed both ways.
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  upstream rgw { server ${RGW_ENDPOINT#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    client_max_body_size 0;
    location / {
      proxy_pass http://rgw;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
NGINX
  $proxy_cores "$(command -v nginx || echo /usr/sbin/nginx)" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!
  answers "http://127.0.0.1:$NGINX_PORT/"
  # The stand-in as a process of its own, with the development idp (docker-compose.yml's
  # flags); the gateway is started per case, with the case's policy.
  STANDIN_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  STANDIN_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export STANDIN_SECRET STANDIN_KEY
  GATEBENCH_IDP_CLIENTS="bench:$STANDIN_SECRET:storage.read,storage.write" $proxy_cores \
    "$GATEBENCH" idp --listen "127.0.0.1:$IDP_PORT" --issuer http://127.0.0.1:8081 \
    > "$work/idp.log" 2>&1 &
  idp_pid=$!
  answers "http://127.0.0.1:$IDP_PORT/.well-known/openid-configuration"
fi

# standin POLICY: (re)starts the stand-in process with POLICY.
standin() {
  if [ -n "$standin_pid" ]; then kill "$standin_pid"; wait "$standin_pid" 2>/dev/null || true; fi
  (cd "$repo" && GATEBENCH_BACKEND_ACCESS_KEY=$RGW_ACCESS_KEY GATEBENCH_BACKEND_SECRET_KEY=$RGW_SECRET_KEY \
    GATEBENCH_SUBSCRIPTION_KEYS="bench=$STANDIN_KEY" exec $proxy_cores "$GATEBENCH" gateway \
    --listen "127.0.0.1:$STANDIN_PORT" --policy "$1" --backend-endpoint "$RGW_ENDPOINT" \
    --openid-config-url "http://127.0.0.1:$IDP_PORT/.well-known/openid-configuration" \
    >> "$work/standin.log" 2>&1) &
  standin_pid=$!
  answers "http://127.0.0.1:$STANDIN_PORT/"
}

# policy KIND: the stand-in's policy for a miss or a hit case.
policy() {
  if [ "$1" = miss ]; then echo deploy/apim/policy.capacity.local.xml; else echo deploy/apim/policy.local.xml; fi
}

# scenario KIND WORKERS: the case's scenario file.
scenario() {
  local kind=$1 workers=$2 policy data mix
  policy=$(policy "$kind")
  if [ "$kind" = miss ]; then
    data='objects = 500
keys = { hot_set = { requests = 0.9, keys = 0.1 } }'
    mix='head = 45
get = 45
put = 10'
  else
    data='objects = 50
keys = "uniform"'
    mix='get = 100'
  fi
  cat <<TOML
name = "gateway-overhead-$kind-$workers"
[run]
duration = "$DURATION"
warmup = "2s"
compare = "alternate"
window = "2s"
[load]
executor = "closed-loop"
concurrency = $workers
[data]
buckets = ["gatebench-overhead"]
size = "4KiB"
$data
[mix]
$mix
$(direct_target)
[targets.gateway]
kind = "embedded-gateway"
policy = "$policy"
setup_via = "direct"
$(reference_target)
TOML
}

# The direct target: the embedded S3 server or the RGW.
direct_target() {
  if [ "$BACKEND" = rgw ]; then
    printf '[targets.direct]\nkind = "s3"\nendpoint = "%s"\naccess_key = "%s"\nsecret_key = "${RGW_SECRET_KEY}"\n' \
      "$RGW_ENDPOINT" "$RGW_ACCESS_KEY"
  else
    printf '[targets.direct]\nkind = "embedded"\n'
  fi
}

# With RGW: the same RGW through nginx and through the stand-in process.
reference_target() {
  if [ "$BACKEND" = rgw ]; then
    printf '[targets.nginx]\nkind = "s3"\nendpoint = "http://127.0.0.1:%s"\naccess_key = "%s"\nsecret_key = "${RGW_SECRET_KEY}"\n' \
      "$NGINX_PORT" "$RGW_ACCESS_KEY"
    printf '[targets.standin]\nkind = "gateway"\nbase_url = "http://127.0.0.1:%s/storage"\nsubscription_key = "${STANDIN_KEY}"\n' \
      "$STANDIN_PORT"
    printf 'oauth2 = { token_url = "http://127.0.0.1:%s/token", client_id = "bench", client_secret = "${STANDIN_SECRET}" }\nsetup_via = "direct"\n' \
      "$IDP_PORT"
  fi
}

for round in $(seq 1 "$ROUNDS"); do
  for case in $CASES; do
    scenario "${case%-*}" "${case#*-}" > "$work/$case.toml"
    if [ "$BACKEND" = rgw ]; then standin "$(policy "${case%-*}")"; fi
    (cd "$repo" && $proxy_cores "$GATEBENCH" run "$work/$case.toml" --quiet \
      --out "$work/$case.$round" >/dev/null)
  done
done

BACKEND=$BACKEND PIN=$PIN python3 - "$work" "$ROUNDS" "$(nproc)" $CASES <<'PY'
import json, os, statistics, sys
work, rounds, cores, cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
# The paths compared with the direct one, as the scenario names them: the in-process
# stand-in (what the acceptance judges), the stand-in process, nginx.
PATHS = ["gateway", "standin", "nginx"]

def figures(case, r):
    """Per path and op (and "all"), the figures of round r: the difference of ok latency
    percentiles to the direct path, as the report's comparison makes it."""
    s = json.load(open(f"{work}/{case}.{r}/summary.json"))
    t = {x["name"]: {o["op"]: o for o in x["ops"]} for x in s["targets"]}
    direct = t["direct"]
    rate = {n: sum(o["ops_per_sec"] for o in ops.values()) for n, ops in t.items()}
    out = {}
    for path in (p for p in PATHS if p in t):
        for op, d in direct.items():
            g = t[path][op]
            out[(path, op)] = {"p50": g["latency_us"]["p50"],
                               "+p50": g["latency_us"]["p50"] - d["latency_us"]["p50"],
                               "+p99": g["latency_us"]["p99"] - d["latency_us"]["p99"],
                               "ops/s ratio": g["ops_per_sec"] / d["ops_per_sec"],
                               "hit ratio": g.get("cache_hit_ratio")}
        out[(path, "all")] = {"ops/s": rate[path], "ops/s ratio": rate[path] / rate["direct"],
                              "cpu/req": cores * 1e6 / rate[path]}
    for op, d in direct.items():
        out[("direct", op)] = {"p50": d["latency_us"]["p50"]}
    out[("direct", "all")] = {"ops/s": rate["direct"], "cpu/req": cores * 1e6 / rate["direct"]}
    return out

def med(values):
    """The median of the rounds, with their spread when there are several."""
    values = [v for v in values if v is not None]
    if not values:
        return None, ""
    m = statistics.median(values)
    fmt = (lambda v: f"{v:.2f}") if isinstance(m, float) and abs(m) < 10 else (lambda v: f"{v:.0f}")
    return m, fmt(m) + (f" [{fmt(min(values))}..{fmt(max(values))}]" if len(values) > 1 else "")

pinned = "client and proxies on core 0, Ceph on the others" if os.environ["PIN"] == "1" else "unpinned"
print(f"gateway overhead on loopback, backend {os.environ['BACKEND']}, {pinned} ({rounds} round(s), "
      f"{cores} cores; latencies in µs)")
results = {}
for case in cases:
    runs = [figures(case, r) for r in range(1, rounds + 1)]
    results[case] = {key: {k: med([run[key][k] for run in runs]) for k in runs[0][key]}
                     for key in runs[0]}
    print(f"\n{case}")
    cols = ["p50", "+p50", "+p99", "ops/s ratio", "hit ratio"]
    print(f"  {'op':5}{'path':9}" + "".join(f"{c:>18}" for c in cols))
    ops = [op for (path, op) in results[case] if path == "direct" and op != "all"]
    for op in ops:
        for path in ["direct"] + PATHS:
            f = results[case].get((path, op))
            if f is None:
                continue
            cells = [("" if f.get(c, (None,))[0] is None else f"{f[c][0]:.1%}") if c == "hit ratio"
                     else f.get(c, (None, ""))[1] for c in cols]
            print(f"  {op:5}{path:9}" + "".join(f"{c:>18}" for c in cells))
    for path in ["direct"] + PATHS:
        a = results[case].get((path, "all"))
        if a is not None:
            ratio = f", ratio {a['ops/s ratio'][1]}" if "ops/s ratio" in a else ""
            print(f"  all  {path:9} {a['ops/s'][1]} ops/s{ratio}; cpu/req {a['cpu/req'][1]} µs")

print("\nacceptance (issue #17), the in-process stand-in (gateway)")
if os.environ["BACKEND"] == "embedded":
    print("  (embedded backend: the stand-in, its backend and the client share every core, so these\n"
          "   lines weigh its CPU against the backend's; BACKEND=rgw pins a proxy's own work apart)")
def line(text, ok):
    print(f"  {'PASS' if ok else 'FAIL'}  {text}")
for case, limit in (("miss-1", 50), ("miss-8", 100)):
    if case in results:
        for path in (p for p in PATHS if (p, "all") in results[case]):
            added = {op: f["+p50"][0] for (p, op), f in results[case].items() if p == path and op != "all"}
            worst = max(added, key=added.get)
            text = f"{case}: added p50 <= {limit} µs for every op (worst {worst} {added[worst]:+.0f} µs)"
            if path == "gateway":
                line(text, added[worst] <= limit)
            else:
                print(f"        {path}: worst {worst} {added[worst]:+.0f} µs")
if "miss-8" in results:
    ratio = results["miss-8"][("gateway", "all")]["ops/s ratio"][0]
    line(f"miss-8: ops/s >= 0.9x direct (all ops: {ratio:.2f}x)", ratio >= 0.9)
    for path in (p for p in PATHS[1:] if (p, "all") in results["miss-8"]):
        print(f"        {path}: {results['miss-8'][(path, 'all')]['ops/s ratio'][0]:.2f}x")
PY
