#!/usr/bin/env bash
# gatebench vs wrk on a real RGW: 4 KiB GETs at the same connection count.
# Starts its own single-host Ceph (ports 27480/23300), uploads a public-read 4 KiB
# object for wrk (unsigned), runs wrk, gatebench (SigV4-signed, closed loop), wrk again,
# and prints the rates and gatebench / mean(wrk). Ceph, wrk and gatebench share the cores.
#
#   bash bench/rgw-vs-wrk.sh                 # 16 connections, 10 s each
#   CONNECTIONS=64 DURATION=20 bash bench/rgw-vs-wrk.sh
set -euo pipefail

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gatebench-rgw-bench.XXXXXX)
cleanup() { bash "$repo/deploy/ceph/ceph-down.sh" "$work/ceph" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
(cd "$repo" && cargo build --release --quiet)
eval "$(RGW_PORT=27480 CEPH_MON_PORT=23300 bash "$repo/deploy/ceph/ceph-up.sh" "$work/ceph")"

sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
head -c 4096 /dev/urandom > "$work/obj4k"
curl -sf "${sign[@]}" -X PUT "$RGW_ENDPOINT/bench-wrk" >/dev/null || true
curl -sf "${sign[@]}" -H "x-amz-acl: public-read" -T "$work/obj4k" "$RGW_ENDPOINT/bench-wrk/obj4k" >/dev/null
curl -sf -o /dev/null "$RGW_ENDPOINT/bench-wrk/obj4k" || { echo "public-read GET failed"; exit 1; }

wrk_rate() {
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$RGW_ENDPOINT/bench-wrk/obj4k")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "wrk saw errors:" >&2; echo "$out" >&2; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}

cat > "$work/get.toml" <<TOML
name = "rgw-vs-wrk"
[run]
duration = "${DURATION}s"
warmup = "2s"
[load]
executor = "closed-loop"
concurrency = $CONNECTIONS
[data]
buckets = ["bench-gatebench"]
objects = 1
size = "4KiB"
[mix]
get = 1
[targets.rgw]
kind = "s3"
endpoint = "\${RGW_ENDPOINT}"
access_key = "\${RGW_ACCESS_KEY}"
secret_key = "\${RGW_SECRET_KEY}"
TOML

wrk1=$(wrk_rate)
"$repo/target/release/gatebench" run "$work/get.toml" --quiet --out "$work/run" >/dev/null
wrk2=$(wrk_rate)
python3 - "$work/run/summary.json" "$wrk1" "$wrk2" "$CONNECTIONS" "$DURATION" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
w1, w2, conns, dur = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
get = next(o for o in s["targets"][0]["ops"] if o["op"] == "get")
bad = {k: v for k, v in get["outcomes"].items() if k != "ok"}
rate = get["ok_ops_per_sec"]
wrk = (w1 + w2) / 2
print(f"RGW 4 KiB GET, {conns} connections, {dur} s each (Ceph, wrk and gatebench share the cores)")
print(f"  wrk (unsigned, public-read)  {w1:>8.0f} and {w2:.0f} req/s (mean {wrk:.0f})")
print(f"  gatebench (SigV4)            {rate:>8.0f} req/s   p50 {get['latency_us']['p50']} µs, p99 {get['latency_us']['p99']} µs, failures {bad or 'none'}")
print(f"  ratio gatebench / wrk        {rate / wrk:>8.2f}")
PY
