#!/usr/bin/env bash
# Gateway overhead on loopback: one workload against the embedded S3 server directly and
# through the embedded gateway (gatebench's APIM stand-in + dev idp, in-process), in
# alternating turns, and the added p50/p99 and throughput ratio per operation.
# HEAD and PUT are never cached, so they show the gateway's own cost; GET shows the
# cache (hot set). Everything runs on this machine: the numbers are relative.
#
#   bash bench/gateway-overhead.sh              # 20 s per target, 8 workers
#   DURATION=60s CONCURRENCY=16 bash bench/gateway-overhead.sh
set -euo pipefail

DURATION=${DURATION:-20s}
CONCURRENCY=${CONCURRENCY:-8}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gatebench-gw-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$repo" && cargo build --release --quiet)

cat > "$work/overhead.toml" <<TOML
name = "gateway-overhead"
[run]
duration = "$DURATION"
warmup = "2s"
compare = "alternate"
window = "2s"
[load]
executor = "closed-loop"
concurrency = $CONCURRENCY
[data]
buckets = ["gatebench-overhead"]
objects = 500
size = "4KiB"
keys = { hot_set = { requests = 0.9, keys = 0.1 } }
[mix]
head = 45
get = 45
put = 10
[targets.direct]
kind = "embedded"
[targets.gateway]
kind = "embedded-gateway"
policy = "deploy/apim/policy.local.xml"
setup_via = "direct"
TOML
(cd "$repo" && ./target/release/gatebench run "$work/overhead.toml" --quiet --out "$work/run" >/dev/null)
python3 - "$work/run/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = {x["name"]: {o["op"]: o for o in x["ops"]} for x in s["targets"]}
print("gateway overhead on loopback (embedded S3; gateway in-process; same machine, relative figures)")
print(f"{'op':6} {'direct p50':>11} {'gw p50':>9} {'+p50':>8} {'direct p99':>11} {'gw p99':>9} {'+p99':>8} {'ops/s ratio':>12} {'hit ratio':>10}")
for c in s["comparisons"][0]["ops"]:
    d, g = t["direct"][c["op"]], t["gateway"][c["op"]]
    hr = g.get("cache_hit_ratio")
    print(f"{c['op']:6} {d['latency_us']['p50']:>9}µs {g['latency_us']['p50']:>7}µs {c['p50_us']:>+6}µs "
          f"{d['latency_us']['p99']:>9}µs {g['latency_us']['p99']:>7}µs {c['p99_us']:>+6}µs "
          f"{c['throughput_ratio']:>12} {'' if hr is None else f'{hr:.1%}':>10}")
PY
