#!/usr/bin/env bash
# Generator scaling: gatebench's rate with 1, 2, … generator threads (`gatebench run
# --threads N`) against nginx on loopback, SigV4-signed 4 KiB GETs, closed loop. Reports per
# thread count the req/s, the generator's CPU, req/s per generator core and the evidence that
# the server was not the bottleneck.
#
#   bash bench/scaling.sh                 # 2 cores: THREADS="1 2", 3 rounds of 10 s
#   TOOL=wrk bash bench/scaling.sh        # the same method with wrk -tN (checks the setup)
#   QUOTA=0.4 bash bench/scaling.sh       # the generator's CPU quota per thread (cores)
#   # a bigger machine, server and generator on their own cores, no quota:
#   QUOTA=0 SERVER_CORES=8-15 SERVER_WORKERS=8 THREADS="1 2 4 8" \
#     GEN_CORES="0 0-1 0-3 0-7" CONNECTIONS=64 bash bench/scaling.sh
#
# On 2 cores the server has to share the generator's cores, and nginx spends about as much
# CPU per request as the generator (~10 µs against gatebench's ~13 and wrk's ~9 here), so an
# unrestricted generator on both cores would be limited by nginx and the machine, not by
# itself. So (QUOTA > 0) the generator runs in a cgroup-v1 CPU group
# (/sys/fs/cgroup/cpu/gatebench-scaling) with a quota of QUOTA cores per thread (10 ms
# periods), on GEN_CORES; nginx (SERVER_WORKERS workers, SO_REUSEPORT) may use all of
# SERVER_CORES. With N threads the generator gets N×QUOTA cores, and the rest of the machine
# stays idle in part. The script prints what shows the generator, not the server, set the
# rate: the generator was throttled (it wanted more CPU than its quota) in most periods,
# while the machine still had idle CPU and nginx used less than the cores left to it.
# "per generator core" is then the rate per core-second the generator actually used.
#
# Each round runs every thread count once, the order rotated every round. Prints per run and
# as median (min–max): req/s, generator cores used, req/s per generator core (1 / CPU per
# request), nginx's cores and µs per request, the machine's idle share and the generator's
# throttled periods; then the rate of each N relative to N=1, and #17's acceptance line
# (2 generator threads ≥ 1.8× the 1-thread rate, the server not the bottleneck) as PASS/FAIL.
# Needs nginx and wrk (installed if missing), root for the cgroup (QUOTA > 0), cgroup v1's cpu
# controller. Run it under the CPU lock.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
TOOL=${TOOL:-gatebench}
THREADS=${THREADS:-1 2}
GEN_CORES=${GEN_CORES:-0 0-1}          # one core list per entry of THREADS
SERVER_CORES=${SERVER_CORES:-0-1}
SERVER_WORKERS=${SERVER_WORKERS:-2}
QUOTA=${QUOTA:-0.35}
PORT=${PORT:-18081}
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/nginx.sh
source "$repo/bench/lib/nginx.sh"
work=$(mktemp -d /tmp/gatebench-scaling.XXXXXX)
cgroup=/sys/fs/cgroup/cpu/gatebench-scaling
cleanup() {
  nginx_stop
  if [[ -d "$cgroup" ]]; then rmdir "$cgroup" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

read -r -a thread_counts <<< "$THREADS"
read -r -a core_lists <<< "$GEN_CORES"
if (( ${#thread_counts[@]} != ${#core_lists[@]} )); then
  echo "THREADS ($THREADS) and GEN_CORES ($GEN_CORES) need one entry each" >&2; exit 2
fi
bench_tools wrk
bin="$repo/target/release/gatebench"
if [[ "$TOOL" == gatebench ]]; then
  (cd "$repo" && cargo build --release --quiet)
  if ! "$bin" run --help | grep -q -- --threads; then
    echo "this gatebench has no 'run --threads N' yet; TOOL=wrk bash bench/scaling.sh checks the method" >&2
    exit 1
  fi
fi
nginx_start "$work" "$PORT" "$SERVER_CORES" "$SERVER_WORKERS" 4096 0
url="$scheme://127.0.0.1:$PORT/bench/gatebench/s/00000000"
if [[ "$QUOTA" != 0 ]]; then
  mkdir -p "$cgroup"
  echo 10000 > "$cgroup/cpu.cfs_period_us"
fi

get_scenario "$DURATION" "$CONNECTIONS" keep-alive "$scheme://127.0.0.1:$PORT" > "$work/bench.toml"

skip=$(( DURATION >= 6 ? 2 : 0 ))
window=$(( DURATION - skip - 1 > 1 ? DURATION - skip - 1 : 1 ))

# One run with N threads on CORES: output in $work/run-N.ROUND, "user sys elapsed" in
# $work/time-N.ROUND, nginx's CPU in $work/nginx-N.ROUND, the cgroup's cpu.stat before and
# after in $work/throttle-N.ROUND.
run_threads() {
  local n=$1 cores=$2 round=$3 command=()
  case "$TOOL" in
    wrk) command=(wrk -t"$n" -c"$CONNECTIONS" -d"${DURATION}s" "$url") ;;
    gatebench) command=("$bin" run "$work/bench.toml" --threads "$n" --quiet --keep-data --out "$work/gatebench-$n.$round") ;;
    *) echo "TOOL is gatebench or wrk" >&2; exit 2 ;;
  esac
  if [[ "$QUOTA" != 0 ]]; then
    awk -v q="$QUOTA" -v n="$n" 'BEGIN { printf "%d\n", q * n * 10000 }' > "$cgroup/cpu.cfs_quota_us"
    cat "$cgroup/cpu.stat" > "$work/throttle-$n.$round"
  fi
  sample_cpu "$skip" "$window" "$work/nginx-$n.$round" &
  local sampler=$!
  (
    if [[ "$QUOTA" != 0 ]]; then echo "$BASHPID" > "$cgroup/cgroup.procs"; fi
    exec taskset -c "$cores" /usr/bin/time -f "%U %S %e" -o "$work/time-$n.$round" "${command[@]}"
  ) > "$work/run-$n.$round"
  wait "$sampler"
  if [[ "$QUOTA" != 0 ]]; then cat "$cgroup/cpu.stat" >> "$work/throttle-$n.$round"; fi
}

for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $(( ${#thread_counts[@]} - 1 ))); do
    j=$(( (i + round - 1) % ${#thread_counts[@]} ))
    run_threads "${thread_counts[$j]}" "${core_lists[$j]}" "$round"
  done
done

python3 - "$work" "$ROUNDS" "$CONNECTIONS" "$DURATION" "$TOOL" "$QUOTA" "$CLK_TCK" "$(nproc)" "$SERVER_CORES" "$SERVER_WORKERS" "$THREADS" "$GEN_CORES" <<'PY'
import json, re, statistics, sys
work, rounds, conns, dur, tool, quota, clk_tck, ncpu, server_cores, server_workers, threads, gen_cores = sys.argv[1:13]
rounds, quota, clk_tck, ncpu = int(rounds), float(quota), int(clk_tck), int(ncpu)
threads, gen_cores = [int(t) for t in threads.split()], gen_cores.split()

def tool_run(n, r):
    if tool == "wrk":
        out = open(f"{work}/run-{n}.{r}").read()
        if "Non-2xx" in out or "Socket errors" in out:
            sys.exit(f"wrk -t{n} round {r} got errors:\n{out}")
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return rps, int(re.search(r"(\d+) requests in", out).group(1))
    s = json.load(open(f"{work}/gatebench-{n}.{r}/summary.json"))
    get = next(o for o in s["targets"][0]["ops"] if o["op"] == "get")
    if get["requests"] != get["outcomes"].get("ok", 0):
        sys.exit(f"gatebench --threads {n} round {r}: failures {get['status_codes']} {get['transport_errors']}")
    rps = get["ok_ops_per_sec"]
    return rps, get["requests"] + rps   # CPU covers the one-second warm-up too

def throttled(n, r):
    if quota == 0:
        return None
    stat = open(f"{work}/throttle-{n}.{r}").read().split("\n")
    values = [dict(l.split() for l in half if l.strip()) for half in (stat[:len(stat) // 2], stat[len(stat) // 2:])]
    periods = int(values[1]["nr_periods"]) - int(values[0]["nr_periods"])
    return (int(values[1]["nr_throttled"]) - int(values[0]["nr_throttled"])) / max(periods, 1)

runs = {n: [] for n in threads}
for r in range(1, rounds + 1):
    for n in threads:
        rps, requests = tool_run(n, r)
        user, sys_t, elapsed = map(float, open(f"{work}/time-{n}.{r}").read().split())
        ticks, seconds, idle = map(float, open(f"{work}/nginx-{n}.{r}").read().split())
        cpu_us = (user + sys_t) * 1e6 / requests
        runs[n].append({
            "rps": rps, "gen_cores": (user + sys_t) / elapsed, "per_core": 1e6 / cpu_us,
            "nginx_cores": ticks / clk_tck / seconds, "nginx_us": ticks / clk_tck * 1e6 / (rps * seconds),
            "idle": idle / clk_tck / seconds / ncpu, "throttled": throttled(n, r),
        })

def spread(values, fmt):
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"

limit = f"a CPU quota of {quota} cores per thread (cgroup v1, 10 ms periods)" if quota else "no CPU quota"
print(f"generator scaling: {tool}, 4 KiB GET over http, {conns} connections, {dur} s a run, {rounds} rounds, "
      f"{limit}; nginx {server_workers} workers on cores {server_cores}, {ncpu} cores in all")
print(f"  {'round':>5}  {'threads':>7}  {'cores':>5}  {'req/s':>8}  {'gen cores':>9}  {'req/s per gen core':>18}  "
      f"{'nginx cores':>11}  {'nginx µs/req':>12}  {'idle':>5}  {'throttled':>9}")
for r in range(rounds):
    for n, cores in zip(threads, gen_cores):
        x = runs[n][r]
        t = "-" if x["throttled"] is None else f"{x['throttled']:.0%}"
        print(f"  {r + 1:>5}  {n:>7}  {cores:>5}  {x['rps']:>8.0f}  {x['gen_cores']:>9.2f}  {x['per_core']:>18.0f}  "
              f"{x['nginx_cores']:>11.2f}  {x['nginx_us']:>12.2f}  {x['idle']:>5.0%}  {t:>9}")
print(f"  median (min–max) over {rounds} rounds:")
base = runs[threads[0]]
for n in threads:
    x = runs[n]
    scale = [x[r]["rps"] / base[r]["rps"] for r in range(rounds)]
    print(f"    {n} threads: {spread([v['rps'] for v in x], '.0f')} req/s, "
          f"{spread([v['per_core'] for v in x], '.0f')} req/s per generator core, "
          f"{spread(scale, '.2f')}× the {threads[0]}-thread rate; "
          f"nginx {spread([v['nginx_cores'] for v in x], '.2f')} cores, machine idle {spread([v['idle'] * 100 for v in x], '.0f')} %")

def core_count(cores):
    """Cores in a taskset list such as 0-3,6."""
    ranges = [part.partition("-") for part in cores.split(",")]
    return sum(int(b or a) - int(a) + 1 for a, _, b in ranges)

# The server is not the bottleneck when, in every run, the generator was held back by its own
# limit (throttled in most periods under a quota, else its cores ≥ 90 % busy) while CPU was left
# over: the machine had idle time and nginx's workers used < 90 % of their cores.
def server_free(x, cores):
    if x["throttled"] is not None:
        own_limit = x["throttled"] >= 0.5
    else:
        own_limit = x["gen_cores"] >= 0.9 * core_count(cores)
    return own_limit and x["idle"] >= 0.05 and x["nginx_cores"] < 0.9 * core_count(server_cores)
print("evidence (every run: the generator throttled in ≥ 50 % of periods, or its cores ≥ 90 % busy without a quota; "
      "≥ 5 % of the machine idle; nginx below 90 % of its cores):")
free = all(server_free(x, c) for n, c in zip(threads, gen_cores) for x in runs[n])
for n, c in zip(threads, gen_cores):
    print(f"  {n} threads: " + ", ".join("server not the bottleneck" if server_free(x, c) else "NOT shown" for x in runs[n]))
if 1 in runs and 2 in runs:
    two = statistics.median([runs[2][r]["rps"] / runs[1][r]["rps"] for r in range(rounds)])
    ok = two >= 1.8 and free
    print("acceptance (issue #17):")
    print(f"  {'PASS' if ok else 'FAIL'}  2 generator threads ≥ 1.8× the 1-thread rate with the server not the bottleneck: "
          f"{two:.2f}×, server {'free' if free else 'not shown to be free'}")
PY
