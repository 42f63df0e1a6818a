# daemons.sh -- the daemon helpers of ceph-up.sh and ceph-down.sh (sourced, not run).
# Expects DIR (the cluster's folder), CONF (DIR/ceph.conf), and for start_daemon and
# check_alive also STARTED (an array), log and fail (NAME MESSAGE) of the caller.

# pid_is_ours PID: the process runs with CONF on its command line (a pid-reuse guard:
# only our daemons are ever signalled).
pid_is_ours() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}

# start_daemon NAME CMD... : run CMD in the foreground mode of the daemon, detached
# into its own session, output to DIR/log/NAME.out, pid in DIR/NAME.pid. Returns once
# the daemon runs (its command line has CONF) or has already ended, so that
# check_alive does not take a child that has not exec'd yet for a dead daemon.
start_daemon() {
    local name="$1"; shift
    # Not a process-group leader here (no job control), so setsid execs in place and
    # $! is the daemon's own pid.
    setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
    local pid=$! state
    STARTED+=("$name:$pid")
    echo "$pid" >"$DIR/$name.pid"
    for _ in $(seq 1 100); do
        pid_is_ours "$pid" && break
        # The state after the command name's closing parenthesis: Z once it has ended.
        state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" || state=""
        [[ -n "$state" && "$state" != Z ]] || break
        sleep 0.05
    done
    log "started $name (pid $pid)"
}

# check_alive NAME: fails the bootstrap when daemon NAME has exited.
check_alive() {
    pid_is_ours "$(cat "$DIR/$1.pid")" || fail "$1" "$1 exited during startup"
}
