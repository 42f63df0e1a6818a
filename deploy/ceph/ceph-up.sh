#!/usr/bin/env bash
# ceph-up.sh DIR -- bring up a throw-away single-host Ceph (Pacific) cluster with
# one RGW, entirely under DIR, on loopback. See deploy/ceph/README.md.
#
# stdout: only the `export RGW_...=` lines (also written to DIR/env.sh): endpoint and
# keys, and with CEPH_TLS_DIR also RGW_TLS_ENDPOINT and RGW_CA_FILE.
# stderr: progress, errors, elapsed time.
set -euo pipefail

# ---------------------------------------------------------------- settings --
MON_PORT="${CEPH_MON_PORT:-3300}"            # msgr2 port of the monitor
MON_V1_PORT="${CEPH_MON_V1_PORT:-}"          # optional legacy msgr1 port (e.g. 6789); off by default
RGW_PORT="${RGW_PORT:-7480}"
RGW_BIND="${RGW_BIND:-127.0.0.1}"            # 0.0.0.0 inside a container
RGW_HOST="${RGW_HOST:-127.0.0.1}"            # host name used in RGW_ENDPOINT
RGW_DNS_NAME="${RGW_DNS_NAME:-localhost}"    # rgw_dns_name: Host `BUCKET.$RGW_DNS_NAME` is virtual-hosted
RGW_ACCESS_KEY="${RGW_ACCESS_KEY:-gatebench-access}"
RGW_SECRET_KEY="${RGW_SECRET_KEY:-gatebench-secret-key-for-local-use-only}"
RGW_UID="${RGW_UID:-gatebench}"
OSD_BACKEND="${CEPH_OSD_BACKEND:-memstore}"  # memstore | bluestore
MEMSTORE_BYTES="${CEPH_MEMSTORE_BYTES:-4294967296}"     # 4 GiB
BLUESTORE_BYTES="${CEPH_BLUESTORE_BYTES:-21474836480}"  # 20 GiB (sparse file)
RGW_WAIT_SECS="${CEPH_RGW_WAIT_SECS:-60}"
FOREGROUND="${CEPH_FOREGROUND:-0}"           # 1: stay attached to the daemons (containers)
TLS_DIR="${CEPH_TLS_DIR:-}"                  # set: RGW also serves https with DIR/cert.pem + key.pem
RGW_TLS_PORT="${RGW_TLS_PORT:-7443}"         # (generated with `gatebench certs`, else openssl, if missing)
GATEBENCH_BIN="${GATEBENCH_BIN:-gatebench}"  # the gatebench that generates the certificate
PACKAGES=(ceph-mon ceph-osd ceph-mgr radosgw ceph-common)
RGW_NAME="client.rgw.gatebench"

log() { printf '[ceph-up] %s\n' "$*" >&2; }
die() { printf '[ceph-up] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DIR   (see deploy/ceph/README.md)" >&2
    exit 2
fi
case "$OSD_BACKEND" in memstore|bluestore) ;; *) die "CEPH_OSD_BACKEND must be memstore or bluestore, got '$OSD_BACKEND'";; esac
for v in MON_PORT RGW_PORT RGW_TLS_PORT MEMSTORE_BYTES BLUESTORE_BYTES RGW_WAIT_SECS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
[[ -z "$MON_V1_PORT" || "$MON_V1_PORT" =~ ^[0-9]+$ ]] || die "CEPH_MON_V1_PORT must be a number"

START_NS=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 ))" | awk '{printf "%.1f s", $1/1000}'; }

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
CONF="$DIR/ceph.conf"
ENDPOINT="http://${RGW_HOST}:${RGW_PORT}"
DAEMONS=(mon mgr osd rgw)

exports() {
    printf 'export RGW_ENDPOINT=%s\nexport RGW_ACCESS_KEY=%s\nexport RGW_SECRET_KEY=%s\n' \
        "$ENDPOINT" "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY"
    printf 'export RGW_DNS_NAME=%s\n' "$RGW_DNS_NAME"
    if [[ -n "$TLS_DIR" ]]; then
        printf 'export RGW_TLS_ENDPOINT=https://%s:%s\n' "$RGW_HOST" "$RGW_TLS_PORT"
        [[ -f "$TLS_DIR/ca.pem" ]] && printf 'export RGW_CA_FILE=%s\n' "$TLS_DIR/ca.pem"
    fi
    return 0
}

# TLS_DIR/cert.pem + key.pem for beast's ssl_endpoint: kept if both are there, else a
# test CA (ca.pem) and a certificate for localhost, 127.0.0.1, ::1 and RGW_HOST,
# written by `gatebench certs` or, without gatebench, by openssl.
tls_certificate() {
    mkdir -p "$TLS_DIR"
    TLS_DIR="$(cd "$TLS_DIR" && pwd -P)"
    [[ -f "$TLS_DIR/cert.pem" && -f "$TLS_DIR/key.pem" ]] && { log "TLS: using $TLS_DIR/cert.pem"; return; }
    if command -v "$GATEBENCH_BIN" >/dev/null 2>&1; then
        log "TLS: generating a test CA and certificate with $GATEBENCH_BIN certs"
        "$GATEBENCH_BIN" certs "$TLS_DIR" --force --name "$RGW_HOST" >&2 || die "$GATEBENCH_BIN certs failed"
        return
    fi
    command -v openssl >/dev/null 2>&1 || die "CEPH_TLS_DIR: no $TLS_DIR/cert.pem, and neither gatebench (GATEBENCH_BIN) nor openssl to make one"
    log "TLS: generating a test CA and certificate with openssl"
    local san="DNS:localhost,IP:127.0.0.1,IP:::1"
    if [[ "$RGW_HOST" =~ ^[0-9.]+$ || "$RGW_HOST" == *:* ]]; then san="$san,IP:$RGW_HOST"; else san="$san,DNS:$RGW_HOST"; fi
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=gatebench local test CA" -keyout ca-key.pem -out ca.pem
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=gatebench local server" -keyout key.pem -out server.csr
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -days 3650 -extfile server.ext -out cert.pem
        rm -f ca-key.pem ca.srl server.csr server.ext   # nothing can mint more from here
    ) >>"$DIR/log/tls.out" 2>&1 || die "openssl failed; see $DIR/log/tls.out"
}

# pid_is_ours (a recorded pid counts as ours only while that process runs with our
# ceph.conf), start_daemon, check_alive.
# shellcheck source=deploy/ceph/daemons.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemons.sh"
daemon_alive() { local f="$DIR/$1.pid"; [[ -f "$f" ]] && pid_is_ours "$(cat "$f")"; }
# True once anything answers HTTP on the RGW port (curl if present, else bash /dev/tcp).
rgw_answers() {
    local port="${1:-$RGW_PORT}"
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/"
    else
        # shellcheck disable=SC2016  # $1 expands in the inner bash
        timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
            printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
            IFS= read -r line <&3 && [[ "$line" == HTTP/* ]]' _ "$port" 2>/dev/null
    fi
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Block until a daemon dies (or TERM/INT arrives); then stop everything.
stay_in_foreground() {
    log "CEPH_FOREGROUND=1: staying attached; stop with SIGTERM"
    trap 'log "signal received, stopping"; stop_started; exit 0' TERM INT
    while true; do
        for d in "${DAEMONS[@]}"; do
            if ! daemon_alive "$d"; then
                log "daemon $d exited; log tail:"
                tail -n 30 "$DIR/log/$d.log" >&2 2>/dev/null || true
                stop_started
                exit 1
            fi
        done
        sleep 2 & wait $! || true
    done
}

# ------------------------------------------------------------ idempotency --
if [[ -f "$CONF" ]]; then
    alive=0
    for d in "${DAEMONS[@]}"; do daemon_alive "$d" && alive=$((alive + 1)); done
    # the port that cluster was created with (env may differ now)
    old_port="$(sed -n 's/^rgw frontends = beast endpoint=[^ ]*:\([0-9][0-9]*\).*/\1/p' "$CONF")"
    if [[ $alive -eq ${#DAEMONS[@]} ]] && rgw_answers "${old_port:-$RGW_PORT}" && [[ -f "$DIR/env.sh" ]]; then
        log "cluster in $DIR is already running; nothing to do"
        # The keys are those the cluster was created with, not the current env.
        cat "$DIR/env.sh"
        if [[ "$FOREGROUND" == 1 ]]; then
            stop_started() { :; }   # not our children: leave them to ceph-down.sh
            stay_in_foreground
        fi
        exit 0
    fi
    if [[ $alive -gt 0 ]]; then
        die "$DIR holds a partially running cluster ($alive of ${#DAEMONS[@]} daemons alive, or RGW not answering); run deploy/ceph/ceph-down.sh $DIR first"
    fi
    log "$DIR holds a stopped cluster; wiping its state and starting fresh"
    rm -rf "$DIR"/{mon,mgr,osd,rgw,run,log,crash} "$DIR"/*.pid "$DIR"/*.keyring "$DIR"/monmap "$DIR"/env.sh "$CONF"
fi

# --------------------------------------------------------------- packages --
need_install=0
for b in ceph-mon ceph-osd ceph-mgr radosgw ceph ceph-authtool monmaptool radosgw-admin; do
    command -v "$b" >/dev/null 2>&1 || need_install=1
done
if [[ $need_install == 1 ]]; then
    command -v apt-get >/dev/null 2>&1 || die "Ceph binaries missing and no apt-get to install them (${PACKAGES[*]})"
    [[ $(id -u) == 0 ]] || die "Ceph packages missing; run as root (or install: ${PACKAGES[*]})"
    log "installing ${PACKAGES[*]}"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" >&2
    START_NS=$(date +%s%N)   # report cluster start time, not install time
fi

# ------------------------------------------------------------- port check --
port_taken() { rmdir "$DIR" 2>/dev/null || true; die "$@"; }   # drop DIR if we just made it
port_in_use "$MON_PORT" && port_taken "mon port 127.0.0.1:$MON_PORT is already in use (set CEPH_MON_PORT to another port)"
[[ -n "$MON_V1_PORT" ]] && port_in_use "$MON_V1_PORT" && port_taken "mon v1 port 127.0.0.1:$MON_V1_PORT is already in use (set CEPH_MON_V1_PORT)"
port_in_use "$RGW_PORT" && port_taken "RGW port 127.0.0.1:$RGW_PORT is already in use (set RGW_PORT to another port)"
[[ -n "$TLS_DIR" ]] && port_in_use "$RGW_TLS_PORT" && port_taken "RGW TLS port 127.0.0.1:$RGW_TLS_PORT is already in use (set RGW_TLS_PORT to another port)"

# -------------------------------------------------------------- teardown --
STARTED=()   # "name:pid", in start order
# Stop in reverse dependency order (rgw, then osd+mgr, then mon), each group with
# TERM, up to 10 s grace, then KILL.
stop_started() {
    local group entry pid i left pids
    for group in rgw "osd mgr" mon; do
        pids=()
        for entry in "${STARTED[@]}"; do
            [[ " $group " == *" ${entry%%:*} "* ]] && pids+=("${entry#*:}")
        done
        [[ ${#pids[@]} -gt 0 ]] || continue
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for i in $(seq 1 50); do
            left=0
            for pid in "${pids[@]}"; do pid_is_ours "$pid" && left=1; done
            [[ $left == 0 ]] && break
            sleep 0.2
        done
        for pid in "${pids[@]}"; do
            pid_is_ours "$pid" && { log "$group pid $pid ignored TERM for 10 s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
        done
    done
    STARTED=()
    rm -f "$DIR"/{mon,mgr,osd,rgw}.pid
}
fail() {
    local d="$1"; shift
    printf '[ceph-up] ERROR: %s\n' "$*" >&2
    for f in "$DIR/log/$d.log" "$DIR/log/$d.out"; do
        if [[ -s "$f" ]]; then
            printf '[ceph-up] ---- last 30 lines of %s ----\n' "$f" >&2
            tail -n 30 "$f" >&2
        fi
    done
    log "stopping the daemons started so far (logs stay in $DIR/log; remove with ceph-down.sh $DIR)"
    stop_started
    exit 1
}
# shellcheck disable=SC2154  # rc is assigned inside the trap string
trap 'rc=$?; if [[ $rc -ne 0 && ${#STARTED[@]} -gt 0 ]]; then log "failed (exit $rc); stopping started daemons"; stop_started; fi' EXIT


cephc() { timeout 45 ceph -c "$CONF" --connect-timeout 30 "$@"; }

# ------------------------------------------------------------- ceph.conf --
log "creating cluster in $DIR (osd backend: $OSD_BACKEND)"
mkdir -p "$DIR"/{mon,mgr/ceph-x,osd/ceph-0,rgw/ceph-gatebench,run,log,crash}
FRONTENDS="beast endpoint=${RGW_BIND}:${RGW_PORT}"
if [[ -n "$TLS_DIR" ]]; then
    tls_certificate
    FRONTENDS="$FRONTENDS ssl_endpoint=${RGW_BIND}:${RGW_TLS_PORT} ssl_certificate=$TLS_DIR/cert.pem ssl_private_key=$TLS_DIR/key.pem"
fi
FSID="$(cat /proc/sys/kernel/random/uuid)"
MON_ADDRS="v2:127.0.0.1:${MON_PORT}"
[[ -n "$MON_V1_PORT" ]] && MON_ADDRS="$MON_ADDRS,v1:127.0.0.1:${MON_V1_PORT}"

if [[ "$OSD_BACKEND" == memstore ]]; then
    OSD_STORE="osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES"
else
    OSD_STORE="osd objectstore = bluestore
bluestore block path = $DIR/osd/block-\$id.img
bluestore block create = true
bluestore block size = $BLUESTORE_BYTES
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
bluestore fsck on mount = false"
fi

cat >"$CONF" <<EOF
# generated by deploy/ceph/ceph-up.sh -- single-host throw-away cluster
[global]
fsid = $FSID
mon host = [$MON_ADDRS]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/admin.keyring
run dir = $DIR/run
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
# one mon: commit map changes after 0.1 s instead of 1 s (RGW's pool creation at
# startup is a chain of osdmap epochs; this cuts several seconds off startup)
paxos propose interval = 0.1

[mon]
mon data = $DIR/mon/ceph-\$id
keyring = $DIR/mon/ceph-\$id/keyring
log file = $DIR/log/mon.log

[mgr]
mgr data = $DIR/mgr/ceph-\$id
keyring = $DIR/mgr/ceph-\$id/keyring
log file = $DIR/log/mgr.log

[osd]
osd data = $DIR/osd/ceph-\$id
keyring = $DIR/osd/ceph-\$id/keyring
log file = $DIR/log/osd.log
osd journal = $DIR/osd/ceph-\$id/journal
$OSD_STORE

[$RGW_NAME]
keyring = $DIR/rgw/ceph-gatebench/keyring
rgw data = $DIR/rgw/ceph-gatebench
log file = $DIR/log/rgw.log
rgw frontends = $FRONTENDS tcp_nodelay=1
# virtual-hosted-style requests: Host BUCKET.$RGW_DNS_NAME[:port] names the bucket
rgw dns name = $RGW_DNS_NAME
EOF

# --------------------------------------------------------------- keyrings --
auth() { ceph-authtool "$@" >/dev/null; }
MONKR="$DIR/mon.keyring"   # mkfs input; mkfs copies it into the (must-be-empty) mon data dir
auth --create-keyring "$MONKR" --gen-key -n mon. --cap mon 'allow *'
auth --create-keyring "$DIR/admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
auth --create-keyring "$DIR/mgr/ceph-x/keyring" --gen-key -n mgr.x \
    --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
auth --create-keyring "$DIR/osd/ceph-0/keyring" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
auth --create-keyring "$DIR/rgw/ceph-gatebench/keyring" --gen-key -n "$RGW_NAME" \
    --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw'
# The mon's mkfs keyring seeds the auth database with every entity.
for kr in admin.keyring mgr/ceph-x/keyring osd/ceph-0/keyring rgw/ceph-gatebench/keyring; do
    auth "$MONKR" --import-keyring "$DIR/$kr"
done

# -------------------------------------------------------------------- mon --
monmaptool --create --fsid "$FSID" --addv a "[$MON_ADDRS]" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$MONKR" \
    >>"$DIR/log/mon.out" 2>&1 || fail mon "ceph-mon --mkfs failed"
[[ -d "$DIR/mon/ceph-a/store.db" ]] || fail mon "ceph-mon --mkfs did not create $DIR/mon/ceph-a/store.db"
start_daemon mon ceph-mon -f -c "$CONF" -i a
for i in $(seq 1 100); do
    check_alive mon
    port_in_use "$MON_PORT" && break
    [[ $i == 100 ]] && fail mon "mon did not listen on 127.0.0.1:$MON_PORT within 20 s"
    sleep 0.2
done

# -------------------------------------------------------------------- mgr --
start_daemon mgr ceph-mgr -f -c "$CONF" -i x

# -------------------------------------------------------------------- osd --
OSD_UUID="$(cat /proc/sys/kernel/random/uuid)"
OSD_ID="$(cephc osd new "$OSD_UUID" 0 2>>"$DIR/log/osd.out")" || fail mon "'ceph osd new' failed (mon not answering?)"
[[ "$OSD_ID" == 0 ]] || fail mon "'ceph osd new' returned id '$OSD_ID', expected 0"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$DIR/log/osd.out" 2>&1 \
    || fail osd "ceph-osd --mkfs failed"
start_daemon osd ceph-osd -f -c "$CONF" -i 0

# -------------------------------------------------------------------- rgw --
start_daemon rgw radosgw -f -c "$CONF" -n "$RGW_NAME"

log "waiting up to ${RGW_WAIT_SECS} s for RGW on 127.0.0.1:$RGW_PORT"
deadline=$(( $(date +%s) + RGW_WAIT_SECS ))
until rgw_answers; do
    for d in "${DAEMONS[@]}"; do check_alive "$d"; done
    [[ $(date +%s) -ge $deadline ]] && fail rgw "RGW did not answer on 127.0.0.1:$RGW_PORT within ${RGW_WAIT_SECS} s"
    sleep 0.25
done
log "RGW answers after $(elapsed)"
if [[ -n "$TLS_DIR" ]]; then
    for i in $(seq 1 20); do
        port_in_use "$RGW_TLS_PORT" && break
        [[ $i == 20 ]] && fail rgw "RGW serves http but not https on 127.0.0.1:$RGW_TLS_PORT (certificate or key unusable?)"
        sleep 0.25
    done
    log "RGW serves https on 127.0.0.1:$RGW_TLS_PORT (trust ${TLS_DIR}/ca.pem)"
fi

# ---------------------------------------------------------------- S3 user --
timeout 60 radosgw-admin -c "$CONF" user create --uid "$RGW_UID" --display-name "$RGW_UID" \
    --access-key "$RGW_ACCESS_KEY" --secret-key "$RGW_SECRET_KEY" \
    >>"$DIR/log/radosgw-admin.out" 2>&1 || fail radosgw-admin "radosgw-admin user create failed"

exports >"$DIR/env.sh"
exports
log "cluster up in $(elapsed); stop with: bash deploy/ceph/ceph-down.sh $DIR"

if [[ "$FOREGROUND" == 1 ]]; then
    stay_in_foreground
fi
trap - EXIT
