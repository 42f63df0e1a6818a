#!/usr/bin/env bash
# ceph-down.sh DIR -- stop the cluster that deploy/ceph/ceph-up.sh started in DIR and
# remove DIR. Only the pids recorded in DIR/*.pid are signalled (never by name), and only
# while that pid still runs with DIR/ceph.conf on its command line (pid-reuse guard).
set -euo pipefail

log() { printf '[ceph-down] %s\n' "$*" >&2; }

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
if [[ ! -d "$1" ]]; then
    log "$1 does not exist; nothing to do"
    exit 0
fi
DIR="$(cd "$1" && pwd -P)"
CONF="$DIR/ceph.conf"
case "$DIR" in /|/root|/home|/tmp|/var|/usr|/etc) log "refusing to remove $DIR"; exit 1;; esac

# pid_is_ours.
# shellcheck source=deploy/ceph/daemons.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemons.sh"

# Stop in reverse dependency order, each phase with the daemons below it still up:
# rgw first (its shutdown unwatches objects on the OSD), then osd + mgr (an OSD whose
# mon is gone waits 5 s for a mark-down ack), then the mon.
shopt -s nullglob
P_RGW=(); P_MID=(); P_MON=()
for f in "$DIR"/*.pid; do
    name="$(basename "$f" .pid)"
    pid="$(cat "$f" 2>/dev/null || true)"
    if pid_is_ours "$pid"; then
        case "$name" in rgw) P_RGW+=("$pid");; mon) P_MON+=("$pid");; *) P_MID+=("$pid");; esac
        log "stopping $name (pid $pid)"
    else
        log "$name: pid '$pid' not running (or not ours); skipping"
    fi
done

# stop_pids WAIT_STEPS PID... : TERM, wait up to WAIT_STEPS*0.2 s, KILL, verify.
stop_pids() {
    local steps="$1"; shift
    [[ $# -gt 0 ]] || return 0
    local pids=("$@") p alive
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 "$steps"); do
        alive=(); for p in "${pids[@]}"; do pid_is_ours "$p" && alive+=("$p"); done
        [[ ${#alive[@]} -eq 0 ]] && return 0
        sleep 0.2
    done
    log "still running after $((steps / 5)) s, sending KILL to: ${alive[*]}"
    kill -KILL "${alive[@]}" 2>/dev/null || true
    for _ in $(seq 1 25); do
        alive=(); for p in "${pids[@]}"; do pid_is_ours "$p" && alive+=("$p"); done
        [[ ${#alive[@]} -eq 0 ]] && return 0
        sleep 0.2
    done
    log "ERROR: could not stop pids: ${alive[*]}; leaving $DIR in place"
    exit 1
}
stop_pids 50 "${P_RGW[@]}"
stop_pids 50 "${P_MID[@]}"
stop_pids 50 "${P_MON[@]}"
PIDS=("${P_RGW[@]}" "${P_MID[@]}" "${P_MON[@]}")

rm -rf "$DIR"
log "stopped ${#PIDS[@]} daemon(s) and removed $DIR"
