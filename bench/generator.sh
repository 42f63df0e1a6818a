#!/usr/bin/env bash
# Generator benchmark: gatebench's maximum rate for SigV4-signed 4 KiB GETs next to two
# reference generators sending the same GET unsigned, wrk and oha, all on the same pinned
# core, against nginx (one worker, on the other core). Closed loop, CONNECTIONS connections
# for every tool. Rounds run the three tools in turn, the order rotated every round
# (wrk→oha→gatebench, oha→gatebench→wrk, …), so no tool always comes first after the idle.
#
#   bash bench/generator.sh              # 3 rounds of 10 s per tool, 16 connections
#   DURATION=600 ROUNDS=1 bash bench/generator.sh # the 10-minute flat-memory run
#   CONNECTIONS=64 bash bench/generator.sh
#   PROFILE=/tmp/gen.perf bash bench/generator.sh  # also profile gatebench (perf), print top symbols
#   TLS=1 bash bench/generator.sh        # the same over keep-alive TLS (nginx with TLS, wrk and
#                                        # oha over https)
#   TLS=1 CONNECTION=per-request bash bench/generator.sh
#                                        # a new TCP+TLS connection per request: handshakes per
#                                        # second, next to wrk sending "Connection: close" and
#                                        # oha with --disable-keepalive
#   TOOLS="wrk gatebench" bash bench/generator.sh  # leave a reference out
#
# Prints, per round and as median (min–max) over the rounds: each tool's req/s, its CPU µs
# per request (user+sys from /usr/bin/time over its requests), how busy its core was, and
# the nginx worker's CPU utilisation in the steady middle of the run (from /proc/PID/stat;
# near 100 % means nginx, not the generator, set the rate). Then the ratios gatebench/wrk
# and gatebench/oha in req/s and in requests per CPU second, and the acceptance lines of
# issue #17 as PASS/FAIL: gatebench ≥ 1.0× wrk's req/s and above oha's, or its CPU per
# request ≤ 1.1× wrk's. Medians of ratios are taken over the per-round ratios (each round's
# tools ran back to back).
#
# oha runs with one tokio worker thread (--worker-threads 1: it has one core) and -w (the
# requests under way at the deadline are finished, not counted as errors).
# Needs nginx, wrk (Debian: apt-get install nginx-light wrk) and oha (cargo install oha
# --locked, version OHA_VERSION); installs them if missing. All traffic stays on 127.0.0.1.
# Needs 2 cores (GEN_CORE: load generators, SERVER_CORE: nginx). Run it under the CPU lock.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
TLS=${TLS:-0}
CONNECTION=${CONNECTION:-keep-alive}
PORT=${PORT:-18080}
GEN_CORE=${GEN_CORE:-0}
SERVER_CORE=${SERVER_CORE:-1}
TOOLS=${TOOLS:-wrk oha gatebench}
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/nginx.sh
source "$repo/bench/lib/nginx.sh"
work=$(mktemp -d /tmp/gatebench-bench.XXXXXX)
cleanup() { nginx_stop; rm -rf "$work"; }
trap cleanup EXIT

read -r -a tools <<< "$TOOLS"
bench_tools "${tools[@]}"
bin="$repo/target/release/gatebench"
(cd "$repo" && cargo build --release --quiet)
nginx_start "$work" "$PORT" "$SERVER_CORE" 1 4096 "$TLS"
url="$scheme://127.0.0.1:$PORT/bench/gatebench/s/00000000"

wrk_options=() oha_options=(--no-tui -w --worker-threads 1 --output-format json)
if [[ "$CONNECTION" == per-request ]]; then
  wrk_options=(-H "Connection: close")
  oha_options+=(--disable-keepalive)
fi
if [[ -n "$tls_ca" ]]; then
  oha_options+=(--cacert "$tls_ca")
fi
get_scenario "$DURATION" "$CONNECTIONS" "$CONNECTION" "$scheme://127.0.0.1:$PORT" "$tls_ca" > "$work/bench.toml"
profiler=()
if [[ -n "${PROFILE:-}" ]]; then
  profiler=(perf record -q -F 2000 -g -o "$PROFILE" --)
fi

# nginx's CPU is sampled over the steady middle of each run: after gatebench's start-up and
# warm-up, before any tool's end.
skip=$(( DURATION >= 6 ? 2 : 0 ))
window=$(( DURATION - skip - 1 > 1 ? DURATION - skip - 1 : 1 ))

# One tool's run: its output in $work/TOOL.ROUND, /usr/bin/time's "user sys elapsed" in
# $work/TOOL-time.ROUND, nginx's CPU over the window in $work/TOOL-nginx.ROUND.
run_tool() {
  local tool=$1 round=$2 command=()
  case "$tool" in
    wrk) command=(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${wrk_options[@]}" "$url") ;;
    oha) command=("$OHA" -z "${DURATION}s" -c "$CONNECTIONS" "${oha_options[@]}" "$url") ;;
    gatebench)
      command=("${profiler[@]}" "$bin" run "$work/bench.toml" --quiet --keep-data --out "$work/gatebench-run.$round")
      profiler=() ;;   # profile the first gatebench run only
    *) echo "unknown tool $tool (TOOLS takes wrk, oha, gatebench)" >&2; exit 2 ;;
  esac
  sample_cpu "$skip" "$window" "$work/$tool-nginx.$round" &
  local sampler=$!
  taskset -c "$GEN_CORE" /usr/bin/time -f "%U %S %e" -o "$work/$tool-time.$round" \
    "${command[@]}" > "$work/$tool.$round"
  wait "$sampler"
}

for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $(( ${#tools[@]} - 1 ))); do
    run_tool "${tools[$(( (i + round - 1) % ${#tools[@]} ))]}" "$round"
  done
done

python3 - "$work" "$ROUNDS" "$CONNECTIONS" "$DURATION" "$scheme" "$CONNECTION" "$CLK_TCK" "${tools[@]}" <<'PY'
import json, re, statistics, sys
work, rounds, conns, dur, scheme, reuse, clk_tck = sys.argv[1:8]
rounds, clk_tck = int(rounds), int(clk_tck)
tools = sys.argv[8:]

def wrk_run(r):
    out = open(f"{work}/wrk.{r}").read()
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"wrk round {r} got errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, int(re.search(r"(\d+) requests in", out).group(1)), ""

def oha_run(r):
    j = json.load(open(f"{work}/oha.{r}"))
    codes = j["statusCodeDistribution"]
    if j["errorDistribution"] or set(codes) != {"200"}:
        sys.exit(f"oha round {r} got errors: {codes} {j['errorDistribution']}")
    return j["summary"]["requestsPerSec"], codes["200"], ""

def gatebench_run(r):
    s = json.load(open(f"{work}/gatebench-run.{r}/summary.json"))
    p = json.load(open(f"{work}/gatebench-run.{r}/provenance.json"))
    get = next(o for o in s["targets"][0]["ops"] if o["op"] == "get")
    failed = get["requests"] - get["outcomes"].get("ok", 0)
    if failed:
        sys.exit(f"gatebench round {r}: {failed} requests failed: {get['status_codes']} {get['transport_errors']}")
    rps = get["ok_ops_per_sec"]
    lat = get["latency_us"]
    # CPU covers the one-second warm-up too: count the steady requests plus a second's worth.
    note = f"RSS {p['peak_rss_bytes'] / 2**20:.1f} MiB, p50/p99 {lat['p50']}/{lat['p99']} µs"
    return rps, get["requests"] + rps, note

parse = {"wrk": wrk_run, "oha": oha_run, "gatebench": gatebench_run}
runs = {t: [] for t in tools}   # per tool, per round: dict of figures
for r in range(1, rounds + 1):
    for t in tools:
        rps, requests, note = parse[t](r)
        user, sys_t, elapsed = map(float, open(f"{work}/{t}-time.{r}").read().split())
        ticks, seconds, _ = map(float, open(f"{work}/{t}-nginx.{r}").read().split())
        nginx_cpu = ticks / clk_tck
        runs[t].append({
            "rps": rps,
            "cpu_us": (user + sys_t) * 1e6 / requests,
            "core": (user + sys_t) / elapsed,
            "nginx": nginx_cpu / seconds,
            "nginx_us": nginx_cpu * 1e6 / (rps * seconds),
            "note": note,
        })

def spread(values, fmt):
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"

print(f"generator benchmark: 4 KiB GET over {scheme}, {reuse} connections, {conns} connections a tool, "
      f"{dur} s a run, {rounds} rounds, each generator on the same pinned core, nginx (1 worker) on the other")
print(f"  {'round':>5}  {'tool':<9}  {'req/s':>8}  {'CPU µs/req':>10}  {'its core':>8}  {'nginx core':>10}  {'nginx µs/req':>12}")
for r in range(rounds):
    for t in tools:
        x = runs[t][r]
        print(f"  {r + 1:>5}  {t:<9}  {x['rps']:>8.0f}  {x['cpu_us']:>10.2f}  {x['core']:>7.0%}  {x['nginx']:>10.0%}  {x['nginx_us']:>12.2f}  {x['note']}")
print(f"  median (min–max) over {rounds} rounds:")
for t in tools:
    x = runs[t]
    print(f"    {t:<9}  {spread([v['rps'] for v in x], '.0f'):>24} req/s   {spread([v['cpu_us'] for v in x], '.2f'):>20} CPU µs/req"
          f"   nginx core {spread([v['nginx'] * 100 for v in x], '.0f')} %")
if reuse == "per-request" and "gatebench" in tools:
    t = json.load(open(f"{work}/gatebench-run.{rounds}/summary.json"))["targets"][0]
    c = t["connections"]
    print(f"  per-request: every gatebench request opened its own connection ({c['opened']} opened, {c['tls_handshakes']} TLS handshakes "
          f"in {t['measured_seconds']:.1f} s over {c['tls'] or 'plain TCP'}); wrk sends 'Connection: close' and oha "
          f"--disable-keepalive, so their req/s are their connection rates")

ratios = {}
if "gatebench" in tools:
    g = runs["gatebench"]
    for ref in [t for t in tools if t != "gatebench"]:
        rate = [g[r]["rps"] / runs[ref][r]["rps"] for r in range(rounds)]
        per_cpu = [runs[ref][r]["cpu_us"] / g[r]["cpu_us"] for r in range(rounds)]
        ratios[ref] = (statistics.median(rate), statistics.median(per_cpu))
        print(f"  gatebench/{ref:<4} {spread(rate, '.2f')} in req/s, {spread(per_cpu, '.2f')} in requests per CPU second")
    busy = max(statistics.median([v["nginx"] for v in runs[t]]) for t in tools)
    if busy > 0.9:
        print(f"  nginx's core was {busy:.0%} busy in some tool's runs: there nginx, not the generator, may have set the rate;")
        print(f"  compare CPU per request, not req/s")
    print("acceptance (issue #17, medians of the per-round ratios):")
    def line(ok, text):
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    verdicts = []
    if "wrk" in ratios:
        ok = ratios["wrk"][0] >= 1.0
        verdicts.append(ok)
        line(ok, f"gatebench req/s ≥ 1.0× wrk's: {ratios['wrk'][0]:.2f}×")
    if "oha" in ratios:
        ok = ratios["oha"][0] > 1.0
        verdicts.append(ok)
        line(ok, f"gatebench req/s above oha's: {ratios['oha'][0]:.2f}×")
    if "wrk" in ratios:
        cpu = 1 / ratios["wrk"][1]
        cpu_ok = cpu <= 1.1
        line(cpu_ok, f"gatebench CPU per request ≤ 1.1× wrk's: {cpu:.2f}×")
        line(all(verdicts) or cpu_ok, "overall: the rate lines, or (a hard limit shown by a profile) the CPU line")
PY
if [[ -n "${PROFILE:-}" ]]; then
  echo "where gatebench's CPU goes in its first run (self time, top symbols):"
  perf report -q -i "$PROFILE" --no-children --sort dso,symbol -g none --percent-limit 0.7 2>/dev/null \
    | cut -c1-120 | head -40
fi
