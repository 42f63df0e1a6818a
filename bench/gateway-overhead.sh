#!/usr/bin/env bash
# What the APIM stand-in adds: each case runs one workload against the backend directly and
# through the embedded gateway (gatebench's stand-in + dev idp, in-process, in front of the
# same backend), alternating 2 s turns, and prints per operation the direct and gateway p50,
# the added p50/p99 and the ops/s ratio, then the acceptance lines of issue #17 with
# PASS/FAIL.
#
# Backends (BACKEND):
#   embedded  the embedded S3 server (s3s-fs on a temporary folder), in-process: nothing to
#             install. Its every file operation is a hop to tokio's blocking pool.
#   rgw       a real RGW: starts its own single-host Ceph from Debian's packages
#             (deploy/ceph/ceph-up.sh, ports 27580/23400) and stops it at the end. Adds a
#             third target as the reference a reader can weigh the stand-in against: nginx
#             as a plain reverse proxy (keep-alive upstream, no buffering) in front of the
#             same RGW, its added p50 computed the same way (p50 through it - p50 direct).
#
# Cases (4 KiB objects, closed loop):
#   miss, 1 and 8 workers: HEAD 45 / GET 45 / PUT 10 with deploy/apim/policy.capacity.local.xml
#                          (policy.local.xml without cache-lookup/cache-store: every request
#                          is validated, re-signed and forwarded)
#   hit,  1 and 8 workers: GET 100 over 50 objects with deploy/apim/policy.local.xml (after
#                          the first GET of each object, answers come from the cache)
# Every target writes objects of its own (w/<target>-<n>), so a PUT is a create on each.
# Acceptance: added p50 <= 50 us on a miss at 1 worker and <= 100 us at 8 (every operation),
# ops/s >= 0.9x direct at 8 workers on a miss (all operations together).
# Everything (generator, gateway, S3 server or Ceph, nginx) shares this machine's cores: the
# figures are relative. At 8 workers the machine is saturated, so "cpu/req" (cores x 1e6 /
# ops/s) is the machine time one request costs on each path; their difference is the
# stand-in's. With ROUNDS > 1 every figure is the median of the rounds, with [min..max].
#
#   flock /tmp/gatebench-cpu.lock bash bench/gateway-overhead.sh      # 15 s per target and case, ~2.5 min
#   BACKEND=rgw ROUNDS=3 bash bench/gateway-overhead.sh                # real RGW + nginx reference, ~15 min
#   DURATION=30s ROUNDS=3 bash bench/gateway-overhead.sh
#   CASES="miss-8" bash bench/gateway-overhead.sh                      # a subset
#   GATEBENCH=/tmp/gatebench-old bash bench/gateway-overhead.sh        # another build, not rebuilt
set -euo pipefail

DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-1}
CASES=${CASES:-miss-1 miss-8 hit-1 hit-8}
BACKEND=${BACKEND:-embedded}
NGINX_PORT=27581
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gatebench-gw-bench.XXXXXX)
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
  if [ "$BACKEND" = rgw ]; then bash "$repo/deploy/ceph/ceph-down.sh" "$work/ceph" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
case "$BACKEND" in
  embedded|rgw) ;;
  *) echo "BACKEND must be embedded or rgw, not $BACKEND" >&2; exit 2 ;;
esac
if [ -z "${GATEBENCH:-}" ]; then
  (cd "$repo" && cargo build --release --quiet --bin gatebench)
  GATEBENCH=$repo/target/release/gatebench
fi

if [ "$BACKEND" = rgw ]; then
  eval "$(RGW_PORT=27580 CEPH_MON_PORT=23400 bash "$repo/deploy/ceph/ceph-up.sh" "$work/ceph")"
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
  "$(command -v nginx || echo /usr/sbin/nginx)" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break
    sleep 0.1
  done
fi

# scenario NAME WORKERS: the case's scenario file.
scenario() {
  local kind=$1 workers=$2 policy data mix
  if [ "$kind" = miss ]; then
    policy=deploy/apim/policy.capacity.local.xml
    data='objects = 500
keys = { hot_set = { requests = 0.9, keys = 0.1 } }'
    mix='head = 45
get = 45
put = 10'
  else
    policy=deploy/apim/policy.local.xml
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

# With RGW: the same RGW through nginx.
reference_target() {
  if [ "$BACKEND" = rgw ]; then
    printf '[targets.nginx]\nkind = "s3"\nendpoint = "http://127.0.0.1:%s"\naccess_key = "%s"\nsecret_key = "${RGW_SECRET_KEY}"\n' \
      "$NGINX_PORT" "$RGW_ACCESS_KEY"
  fi
}

for round in $(seq 1 "$ROUNDS"); do
  for case in $CASES; do
    scenario "${case%-*}" "${case#*-}" > "$work/$case.toml"
    (cd "$repo" && "$GATEBENCH" run "$work/$case.toml" --quiet \
      --out "$work/$case.$round" >/dev/null)
  done
done

BACKEND=$BACKEND python3 - "$work" "$ROUNDS" "$(nproc)" $CASES <<'PY'
import json, os, statistics, sys
work, rounds, cores, cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]

def figures(case, r):
    s = json.load(open(f"{work}/{case}.{r}/summary.json"))
    t = {x["name"]: {o["op"]: o for o in x["ops"]} for x in s["targets"]}
    out = {}
    for c in s["comparisons"][0]["ops"]:
        d, g = t["direct"][c["op"]], t["gateway"][c["op"]]
        out[c["op"]] = {"direct p50": d["latency_us"]["p50"], "gw p50": g["latency_us"]["p50"],
                        "+p50": c["p50_us"], "+p99": c["p99_us"],
                        "ops/s ratio": c["throughput_ratio"], "hit ratio": g.get("cache_hit_ratio")}
        if "nginx" in t:
            # The same difference of ok latency percentiles the comparison makes.
            n = t["nginx"][c["op"]]
            out[c["op"]].update({"nginx +p50": n["latency_us"]["p50"] - d["latency_us"]["p50"],
                                 "nginx +p99": n["latency_us"]["p99"] - d["latency_us"]["p99"],
                                 "nginx ratio": n["ops_per_sec"] / d["ops_per_sec"]})
    rate = {n: sum(o["ops_per_sec"] for o in ops.values()) for n, ops in t.items()}
    out["all"] = {"direct ops/s": rate["direct"], "gw ops/s": rate["gateway"],
                  "ops/s ratio": rate["gateway"] / rate["direct"],
                  "direct cpu/req": cores * 1e6 / rate["direct"],
                  "gw cpu/req": cores * 1e6 / rate["gateway"]}
    if "nginx" in rate:
        out["all"]["nginx ops/s ratio"] = rate["nginx"] / rate["direct"]
    return out

def med(values):
    """The median of the rounds, with their spread when there are several."""
    values = [v for v in values if v is not None]
    if not values:
        return None, ""
    m = statistics.median(values)
    fmt = (lambda v: f"{v:.2f}") if isinstance(m, float) and abs(m) < 10 else (lambda v: f"{v:.0f}")
    return m, fmt(m) + (f" [{fmt(min(values))}..{fmt(max(values))}]" if len(values) > 1 else "")

print(f"gateway overhead on loopback, backend {os.environ['BACKEND']} ({rounds} round(s), {cores} "
      "cores shared by generator, gateway and backend; relative figures; latencies in µs)")
results = {}
for case in cases:
    runs = [figures(case, r) for r in range(1, rounds + 1)]
    results[case] = {op: {k: med([run[op][k] for run in runs]) for k in runs[0][op]}
                     for op in runs[0]}
    print(f"\n{case}")
    cols = ["direct p50", "gw p50", "+p50", "+p99", "ops/s ratio", "hit ratio"]
    if "nginx +p50" in next(f for op, f in results[case].items() if op != "all"):
        cols += ["nginx +p50", "nginx +p99", "nginx ratio"]
    print(f"  {'op':5}" + "".join(f"{c:>16}" for c in cols))
    for op, f in results[case].items():
        if op == "all":
            continue
        cells = [f[c][1] if c != "hit ratio" or f[c][0] is None else f"{f[c][0]:.1%}" for c in cols]
        print(f"  {op:5}" + "".join(f"{c:>16}" for c in cells))
    a = results[case]["all"]
    print(f"  all   direct {a['direct ops/s'][1]} ops/s, gateway {a['gw ops/s'][1]} ops/s, "
          f"ratio {a['ops/s ratio'][1]}; cpu/req direct {a['direct cpu/req'][1]} µs, "
          f"gateway {a['gw cpu/req'][1]} µs")
    if "nginx ops/s ratio" in a:
        print(f"        nginx (reverse proxy) ops/s ratio {a['nginx ops/s ratio'][1]}")

print("\nacceptance (issue #17)")
def line(text, ok):
    print(f"  {'PASS' if ok else 'FAIL'}  {text}")
for case, limit in (("miss-1", 50), ("miss-8", 100)):
    if case in results:
        added = {op: f["+p50"][0] for op, f in results[case].items() if op != "all"}
        worst = max(added, key=added.get)
        line(f"{case}: added p50 <= {limit} µs for every op (worst {worst} +{added[worst]:.0f} µs)",
             added[worst] <= limit)
if "miss-8" in results:
    ratio = results["miss-8"]["all"]["ops/s ratio"][0]
    line(f"miss-8: ops/s >= 0.9x direct (all ops: {ratio:.2f}x)", ratio >= 0.9)
PY
