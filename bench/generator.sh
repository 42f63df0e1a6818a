#!/usr/bin/env bash
# Generator benchmark: gatebench's maximum rate for SigV4-signed 4 KiB GETs next to wrk's
# (unsigned) on the same pinned core, against nginx (one worker, on the other core).
# Prints both rates, their ratio, gatebench's CPU µs per request and peak RSS.
#
#   bash bench/generator.sh              # 3 rounds of 10 s per tool, 16 connections
#   DURATION=600 ROUNDS=1 bash bench/generator.sh # the 10-minute flat-memory run
#   CONNECTIONS=64 bash bench/generator.sh
#   PROFILE=/tmp/gen.perf bash bench/generator.sh  # also profile gatebench (perf), print top symbols
#   TLS=1 bash bench/generator.sh        # the same over keep-alive TLS (nginx with TLS, wrk https)
#   TLS=1 CONNECTION=per-request bash bench/generator.sh
#                                        # a new TCP+TLS connection per request: handshakes per
#                                        # second, next to wrk sending "Connection: close"
#
# Needs nginx and wrk (Debian: apt-get install nginx-light wrk); installs them if missing.
# All traffic stays on 127.0.0.1. Needs 2 cores (core 0: load generator, core 1: nginx).
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
TLS=${TLS:-0}
CONNECTION=${CONNECTION:-keep-alive}
PORT=${PORT:-18080}
GEN_CORE=${GEN_CORE:-0}
SERVER_CORE=${SERVER_CORE:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gatebench-bench.XXXXXX)
nginx_pid=""
cleanup() {
  if [[ -n "$nginx_pid" ]] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bin="$repo/target/release/gatebench"
(cd "$repo" && cargo build --release --quiet)

scheme=http listen="127.0.0.1:$PORT" tls_conf="" tls_target="" curl_ca=()
if [[ "$TLS" == 1 ]]; then
  # A CA and a leaf for 127.0.0.1 (the same kind of chain a real gateway presents).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/leaf.csr" 2>/dev/null
  openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -days 2 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE') -out "$work/cert.pem" 2>/dev/null
  chmod 644 "$work"/*.pem
  scheme=https listen="127.0.0.1:$PORT ssl"
  tls_conf="ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.3;"
  tls_target="tls = { ca_file = \"$work/ca.pem\" }"
  curl_ca=(--cacert "$work/ca.pem")
fi
wrk_headers=()
if [[ "$CONNECTION" == per-request ]]; then
  wrk_headers=(-H "Connection: close")
fi

# nginx as a fast static "S3": every GET/HEAD answers the same 4 KiB object, PUT 200.
mkdir -p "$work/www" "$work/logs"
chmod 755 "$work"   # nginx workers run as www-data
head -c 4096 /dev/urandom > "$work/www/obj4k"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  # Keep the object's file open: without this nginx opens, stats and closes it on every
  # request and its one core, not the generator, sets the ceiling.
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  server {
    listen $listen;
    $tls_conf
    root $work/www;
    location / {
      if (\$request_method = PUT) { return 200; }
      try_files /obj4k =404;
    }
  }
}
CONF
taskset -c "$SERVER_CORE" "$NGINX" -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 50); do
  curl -sf "${curl_ca[@]}" -o /dev/null "$scheme://127.0.0.1:$PORT/bench/obj" && break
  sleep 0.1
done

cat > "$work/bench.toml" <<TOML
name = "generator-bench"
[run]
duration = "${DURATION}s"
warmup = "1s"
connection = "$CONNECTION"
[load]
executor = "closed-loop"
concurrency = $CONNECTIONS
[data]
buckets = ["bench"]
objects = 1
size = "4KiB"
[mix]
get = 1
[targets.nginx]
kind = "s3"
endpoint = "$scheme://127.0.0.1:$PORT"
access_key = "bench"
secret_key = "bench-secret"
$tls_target
TOML
profiler=()
if [[ -n "${PROFILE:-}" ]]; then
  profiler=(perf record -q -F 2000 -g -o "$PROFILE" --)
fi

# Rounds alternate wrk and gatebench so drift on a shared machine hits both alike.
for round in $(seq "$ROUNDS"); do
  # wrk: same core, same connection count, same object.
  taskset -c "$GEN_CORE" /usr/bin/time -f "%U %S %M" -o "$work/wrk-time.$round" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
    "${wrk_headers[@]}" "$scheme://127.0.0.1:$PORT/bench/gatebench/s/00000000" > "$work/wrk.$round"
  if grep -q "Non-2xx" "$work/wrk.$round"; then echo "wrk got errors:"; cat "$work/wrk.$round"; exit 1; fi
  taskset -c "$GEN_CORE" /usr/bin/time -f "%U %S %M" -o "$work/time.$round" \
    "${profiler[@]}" "$bin" run "$work/bench.toml" --quiet --keep-data --out "$work/run.$round" >/dev/null
  profiler=()   # profile the first round only
done

python3 - "$work" "$ROUNDS" "$CONNECTIONS" "$DURATION" "$scheme" "$CONNECTION" <<'PY'
import json, re, statistics, sys
work, rounds, conns, dur, scheme, reuse = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
print(f"generator benchmark: 4 KiB GET over {scheme}, {reuse} connections, {conns} workers, {dur} s a run, {rounds} rounds, generator on one pinned core")
print(f"  {'round':>5}  {'wrk req/s':>10}  {'gatebench req/s':>15}  {'ratio':>5}  {'CPU µs/req wrk':>14}  {'gatebench':>9}  {'gatebench peak RSS':>18}  {'p50/p99 µs':>11}")
ratios, cpu_ratios = [], []
for r in range(1, rounds + 1):
    wrk_out = open(f"{work}/wrk.{r}").read()
    wrk = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk_out).group(1))
    wrk_requests = int(re.search(r"(\d+) requests in", wrk_out).group(1))
    wrk_user, wrk_sys, _ = open(f"{work}/wrk-time.{r}").read().split()
    wrk_cpu_us = (float(wrk_user) + float(wrk_sys)) * 1e6 / wrk_requests
    s = json.load(open(f"{work}/run.{r}/summary.json"))
    p = json.load(open(f"{work}/run.{r}/provenance.json"))
    user, sys_t, _ = open(f"{work}/time.{r}").read().split()
    get = next(o for o in s["targets"][0]["ops"] if o["op"] == "get")
    failed = get["requests"] - get["outcomes"].get("ok", 0)
    if failed:
        print(f"gatebench round {r}: {failed} requests failed: {get['status_codes']} {get['transport_errors']}")
        sys.exit(1)
    rps = get["ok_ops_per_sec"]
    # CPU covers the one-second warm-up too: divide by the steady requests plus a second's worth.
    cpu_us = (float(user) + float(sys_t)) * 1e6 / (get["requests"] + rps)
    ratios.append(rps / wrk)
    lat = get["latency_us"]
    cpu_ratios.append(wrk_cpu_us / cpu_us)
    print(f"  {r:>5}  {wrk:>10.0f}  {rps:>15.0f}  {rps / wrk:>5.2f}  {wrk_cpu_us:>14.1f}  {cpu_us:>9.1f}  {p['peak_rss_bytes'] / 2**20:>14.1f} MiB  {lat['p50']:>5}/{lat['p99']:<5}")
if reuse == "per-request":
    s = json.load(open(f"{work}/run.{rounds}/summary.json"))
    t = s["targets"][0]
    c = t["connections"]
    print(f"  per-request: every request opened its own connection ({c['opened']} opened, {c['tls_handshakes']} TLS handshakes "
          f"in {t['measured_seconds']:.1f} s: {c['tls_handshakes'] / max(t['measured_seconds'], 1e-9):.0f} handshakes/s over {c['tls'] or 'plain TCP'}); "
          f"wrk sends 'Connection: close', so its req/s is its handshake rate")
print(f"  ratio gatebench/wrk (median of {rounds}): {statistics.median(ratios):.2f} in req/s, "
      f"{statistics.median(cpu_ratios):.2f} in requests per CPU second")
print("  (if both rates sit at the same ceiling, nginx's one core is the limit, and the CPU cost")
print("   per request says which generator is cheaper)")
PY
if [[ -n "${PROFILE:-}" ]]; then
  echo "where gatebench's CPU goes in round 1 (self time, top symbols):"
  perf report -q -i "$PROFILE" --no-children --sort dso,symbol -g none --percent-limit 0.7 2>/dev/null \
    | cut -c1-120 | head -40
fi
