#!/usr/bin/env bash
# How often does `gatebench compare` cry wolf on this machine? Runs an unchanged scenario
# N times (`--repeat 3` each), compares every pair at the given compare options and prints
# the false alarms: with nothing changed, every flagged metric is one.
#
#   bash bench/compare-false-alarms.sh scenarios/quickstart.toml            # N=4, 6 pairs
#   N=6 DURATION=5s bash bench/compare-false-alarms.sh scenarios/quickstart.toml
#   bash bench/compare-false-alarms.sh scenarios/quickstart.toml --noise-factor 1
#
# Extra arguments go to `gatebench compare`. Needs python3. Uses the scenario's targets
# as they are (embedded ones need nothing else running).
set -euo pipefail

scenario=${1:?usage: compare-false-alarms.sh SCENARIO [compare options...]}
shift
N=${N:-4}
DURATION=${DURATION:-2s}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gatebench-false-alarms.XXXXXX)
trap 'rm -rf "$work"' EXIT
bin="$repo/target/release/gatebench"
(cd "$repo" && cargo build --release --quiet)

for i in $(seq "$N"); do
  echo "run $i of $N: $scenario --duration $DURATION --repeat 3" >&2
  "$bin" run "$scenario" --duration "$DURATION" --repeat 3 --quiet --out "$work/run-$i" >/dev/null
done
for i in $(seq "$N"); do
  for j in $(seq "$N"); do
    if (( i < j )); then
      "$bin" compare "$work/run-$i" "$work/run-$j" --format json "$@" > "$work/compare-$i-$j.json"
    fi
  done
done

python3 - "$work" <<'PY'
import glob, json, sys
pairs = sorted(glob.glob(f"{sys.argv[1]}/compare-*.json"))
flagged_pairs, flagged, metrics = 0, 0, 0
for path in pairs:
    report = json.load(open(path))
    pair = path.rsplit("compare-", 1)[1].removesuffix(".json").replace("-", " vs ")
    bad = [r for r in report["rows"] if r["verdict"] in ("regression", "improvement")]
    metrics += len(report["rows"])
    flagged += len(bad)
    flagged_pairs += bool(bad)
    for r in bad:
        print(f"  runs {pair}: {r['target']}/{r['op']} {r['metric']} {r['verdict']}: "
              f"{r['change_us']:+.0f} µs ({(r['change_ratio'] or 0) * 100:+.0f}%), noise {r['noise_us'] or 0:.0f} µs")
print(f"false alarms: {flagged_pairs} of {len(pairs)} pairs, {flagged} of {metrics} metrics")
PY
